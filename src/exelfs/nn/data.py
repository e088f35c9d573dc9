"""Training data for the networks and the one input transform they read.

``draw`` samples structural parameters and artefacts from a :class:`TrainConfig`'s priors, ``synthesize``
turns them into chi(k) with the vectorised EXAFS equation (FEFF paths of the structure, multiple
scattering included, outer shells following a random lattice factor), and ``features`` turns any chi(k)
(synthetic or extracted from a real spectrum) into the network input on a fixed k grid.

Input modes: 'raw' is k^2 chi(k) under a Hanning window over the usable k range; 'windowed' is the same
Fourier-filtered to the R window of the modelled shells. The Fourier filter is a batched numpy FFT on
Larch's grids (kstep 0.05 1/A, nfft 2048) rather than Larch's xftf/xftr, which take one spectrum a call.
Units: k 1/A, R A, sigma2 A^2, E0 eV.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..simulate.exafs import chi_from_paths, shell_to_path_params
from ..theory.shells import group_shells
from .config import MAX_SHELLS, R_MODEL_MAX, TrainConfig

KSTEP, NFFT = 0.05, 2048                 # Larch's FFT grid
K_FINE = KSTEP * np.arange(int(14.5 / KSTEP) + 1)  # 0-14.5 1/A: where chi is simulated and filtered
K_INPUT = np.arange(1.5, 14.0001, 0.125)  # the network's k grid
KWEIGHT = 2
DK = 1.0                                  # 1/A: Hanning taper width at either end of the k range
NOISE_R = (15.0, 25.0)                    # A: R range holding only noise (Larch's estimate_noise)


def model_shells(paths) -> list[dict]:
    """The shells the network reads (reff <= R_MODEL_MAX, at most MAX_SHELLS, always the first)."""
    shells = group_shells(paths)
    if not shells:
        raise InputError("the FEFF calculation gave no single-scattering shell: the structure has no neighbours")
    chosen = [s for s in shells if s["reff"] <= R_MODEL_MAX][:MAX_SHELLS]
    return chosen or shells[:1]


def r_window(shells: list[dict]) -> tuple[float, float]:
    """R window (A, not phase-corrected) holding the modelled shells' peaks in |chi(R)|."""
    r1, rl = shells[0]["reff"], shells[-1]["reff"]
    return max(0.7, 0.6 * r1), rl + 0.35


def _kwindow(kmin, kmax, k=K_FINE) -> np.ndarray:
    """(B, len(k)) Hanning windows (Larch's 'hanning', dk = DK) over per-row [kmin, kmax] (1/A), on the
    grid k (1/A; default K_FINE)."""
    k = np.asarray(k, float)[None, :]
    lo, hi = np.asarray(kmin, float)[:, None], np.asarray(kmax, float)[:, None]
    up = np.clip((k - lo + DK / 2) / DK, 0, 1)
    down = np.clip((hi + DK / 2 - k) / DK, 0, 1)
    return (np.sin(np.pi / 2 * up) ** 2 * np.sin(np.pi / 2 * down) ** 2).astype(np.float32)


def _rmask(rwin) -> np.ndarray:
    r = np.pi / (KSTEP * NFFT) * np.arange(NFFT // 2 + 1)
    lo, hi = rwin
    m = np.clip((r - lo + 0.1) / 0.2, 0, 1) * np.clip((hi + 0.1 - r) / 0.2, 0, 1)
    return (np.sin(np.pi / 2 * m) ** 2).astype(np.float32)


def features(chi_fine, kmin, kmax, rwin, mode: str, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(network inputs (B, len(K_INPUT) + 2), windowed k^2 chi on K_INPUT (B, len(K_INPUT))).

    chi_fine: (B, len(K_FINE)) unweighted chi on K_FINE; kmin, kmax: (B,) usable range (1/A); rwin: R
    window (A). The inputs end with kmin and kmax scaled to about [0, 1]. The second array (always
    Fourier-filtered) is what the reconstruction check compares."""
    chi_fine = np.asarray(chi_fine, np.float32)
    kmin = np.broadcast_to(np.asarray(kmin, float), chi_fine.shape[:1])
    kmax = np.broadcast_to(np.asarray(kmax, float), chi_fine.shape[:1])
    idx = np.rint(K_INPUT / KSTEP).astype(int)
    mask = _rmask(rwin)
    xin = np.empty((chi_fine.shape[0], idx.size + 2), np.float32)
    xw = np.empty((chi_fine.shape[0], idx.size), np.float32)
    for s in range(0, chi_fine.shape[0], chunk):
        e = min(s + chunk, chi_fine.shape[0])
        y = chi_fine[s:e] * (K_FINE ** KWEIGHT).astype(np.float32) * _kwindow(kmin[s:e], kmax[s:e])
        filt = np.fft.irfft(np.fft.rfft(y, NFFT, axis=1) * mask, NFFT, axis=1)[:, : K_FINE.size]
        xw[s:e] = filt[:, idx]
        xin[s:e, : idx.size] = xw[s:e] if mode == "windowed" else y[:, idx]
    xin[:, -2] = (kmin - 1.5) / 2.0
    xin[:, -1] = (kmax - 6.0) / 8.0
    return xin, xw


def noise_level(chi_fine, kmin, kmax) -> np.ndarray:
    """(B,) rms noise of k^2 chi per k point (Larch's estimate_noise idea: |chi(R)| at 15-25 A is noise),
    from the median of |chi(R)|^2 there (robust to a glitch or a leaking peak: for noise it is ln 2 x the mean)."""
    chi_fine = np.asarray(chi_fine, np.float32)
    n = chi_fine.shape[0]
    win = _kwindow(np.broadcast_to(kmin, (n,)), np.broadcast_to(kmax, (n,)))
    y = chi_fine * (K_FINE ** KWEIGHT).astype(np.float32) * win
    r = np.pi / (KSTEP * NFFT) * np.arange(NFFT // 2 + 1)
    sel = (r >= NOISE_R[0]) & (r <= NOISE_R[1])
    ft = np.fft.rfft(y, NFFT, axis=1)[:, sel]
    # white noise of rms s under a window w gives <|FT|^2> = s^2 sum(w^2), exponentially distributed
    return np.sqrt(np.median(np.abs(ft) ** 2, axis=1) / np.log(2.0) / np.maximum(np.sum(win ** 2, axis=1), 1.0))


def unusable_input(chi_fine, k_range, artefacts) -> str | None:
    """Why one chi(k) row (on K_FINE) cannot be read by a network trained with ``artefacts``: empty or not
    finite data, or a k range (1/A) outside the trained one; None when it can."""
    kmin, kmax = float(k_range[0]), float(k_range[1])
    if not np.all(np.isfinite(chi_fine)) or np.abs(chi_fine).max() == 0:
        return "the chi(k) data are empty or not finite"
    a = artefacts
    if kmax < a.kmax[0] - 0.5 or kmin > a.kmin[1] + 0.5:
        return (f"the k range {kmin:.1f}-{kmax:.1f} 1/A lies outside the trained ranges "
                f"(kmin {a.kmin[0]:g}-{a.kmin[1]:g}, kmax {a.kmax[0]:g}-{a.kmax[1]:g} 1/A)")
    return None


def on_fine_grid(k, chi) -> np.ndarray:
    """chi given on any k grid ((K,) or (B, K)), interpolated onto K_FINE (zero beyond the data)."""
    k = np.asarray(k, float)
    chi = np.atleast_2d(np.asarray(chi, float))
    if k.ndim != 1 or chi.shape[1] != k.size or k.size < 10:
        raise InputError("chi must be a (n_spectra, len(k)) array on a 1-D k grid of at least 10 points")
    good = np.isfinite(chi)
    chi = np.where(good, chi, 0.0)
    out = np.empty((chi.shape[0], K_FINE.size), np.float32)
    for i, row in enumerate(chi):
        out[i] = np.interp(K_FINE, k, row, left=0.0, right=0.0)
    return out


def draw(cfg: TrainConfig, shells_all: list[dict], nmod: int, n: int, rng) -> dict:
    """Structural parameters (n, S) for every shell and artefacts (n,) drawn from the config's priors."""
    r, a = cfg.ranges, cfg.artefacts
    ns = len(shells_all)
    reff = np.array([s["reff"] for s in shells_all])
    u = lambda rg, shape=(n,): rng.uniform(rg[0], rg[1], size=shape)  # noqa: E731
    alpha = u(r.lattice)
    outer = alpha + u(r.outer_lattice)
    deltar = np.where(np.arange(ns) < nmod, alpha[:, None] * reff + u(r.r_shell, (n, ns)), outer[:, None] * reff)
    nscale = np.where(np.arange(ns) < nmod, u(r.n_scale, (n, ns)), u((0.6, 1.4), (n, ns)))
    sigma2 = np.where(np.arange(ns) < nmod, u(r.sigma2, (n, ns)), u((max(r.sigma2[0], 0.002), r.sigma2[1]), (n, ns)))
    kmin = u(a.kmin)
    kmax = np.maximum(u(a.kmax), kmin + 2.5)
    return {"deltar": deltar, "nscale": nscale, "sigma2": sigma2, "s02": u(r.s02), "e0": u(r.e0),
            "noise": np.exp(u(np.log(a.noise))), "noise_p": u(a.noise_k_power), "bkg": u(a.background),
            "kmin": kmin, "kmax": np.minimum(kmax, 14.0), "l2w": u(a.l2_weight)}


def clean_chi(paths, shells_all, p: dict, l2_shift_ev=None, rows=None) -> np.ndarray:
    """(B, len(K_FINE)) chi(k) for parameter sets ``p`` (draw's keys deltar, nscale, sigma2, s02, e0);
    with ``l2_shift_ev`` the L2 copy (E0 higher by the spacing, weight p['l2w'], normalised by 1 + w)."""
    sel = slice(None) if rows is None else rows
    shell_p = {"deltar": p["deltar"][sel], "sigma2": p["sigma2"][sel], "nscale": p["nscale"][sel],
               "s02": p["s02"][sel], "e0": p["e0"][sel]}
    pp = shell_to_path_params(paths, shell_p, shells_all)
    chi = chi_from_paths(paths, K_FINE, pp, dtype=np.float32)
    if l2_shift_ev:
        w = np.asarray(p.get("l2w", 0.5), float)
        w = w[sel][:, None] if w.ndim else w
        chi2 = chi_from_paths(paths, K_FINE, {**pp, "e0": pp["e0"] + l2_shift_ev}, dtype=np.float32)
        chi = ((chi + w * chi2) / (1 + w)).astype(np.float32)
    return chi


def add_artefacts(chi, p: dict, rng) -> np.ndarray:
    """Noise growing with k, a smooth background residue (R < 0.9 A), with p["white"] (when given) white
    noise of that rms in k^2 chi per point (a measured spectrum's, as noise_level gives it), and nothing
    past kmax."""
    n = chi.shape[0]
    k = K_FINE[None, :].astype(np.float32)
    kk = np.maximum(k, 0.5)
    noise = (p["noise"][:, None] * (kk / 5.0) ** p["noise_p"][:, None]).astype(np.float32)
    out = chi + noise * rng.standard_normal(chi.shape, dtype=np.float32)
    inside = (k >= 1.0) & (k <= 9.0)
    amp = np.sqrt(np.mean((chi * k ** 2)[:, inside[0]] ** 2, axis=1)) * p["bkg"]
    bkg = np.zeros_like(chi)
    for _ in range(3):
        rr = rng.uniform(0.05, 0.9, size=(n, 1))
        ph = rng.uniform(0, 2 * np.pi, size=(n, 1))
        bkg += (rng.standard_normal((n, 1)) * np.cos(2 * rr * k + ph)).astype(np.float32)
    out += (amp[:, None] / np.sqrt(3) * bkg / kk ** 2).astype(np.float32)
    if "white" in p:
        out += (p["white"][:, None] * rng.standard_normal(chi.shape).astype(np.float32) / kk ** 2).astype(np.float32)
    out[k.repeat(n, 0) > (p["kmax"][:, None] + 0.6)] = 0.0
    return out


def targets(p: dict, shells_all, nmod: int) -> tuple[np.ndarray, list[str]]:
    """(n, T) true values and their names: r_i (A), n_i, sigma2_i (A^2) per modelled shell, e0_shift, s02."""
    reff = np.array([s["reff"] for s in shells_all[:nmod]])
    nref = np.array([s["n"] for s in shells_all[:nmod]])
    cols, names = [], []
    for i in range(nmod):
        cols += [reff[i] + p["deltar"][:, i], nref[i] * p["nscale"][:, i], p["sigma2"][:, i]]
        names += [f"r{i + 1}", f"n{i + 1}", f"sigma2_{i + 1}"]
    cols += [p["e0"], p["s02"]]
    names += ["e0_shift", "s02"]
    return np.stack(cols, axis=1).astype(np.float32), names


def make_set(paths, cfg: TrainConfig, n: int, rng, l2_shift_ev=None, mode=None) -> dict:
    """n training spectra: inputs 'x', windowed 'xw', targets 'y' (names 'names'), drawn params 'p'
    (source 'eels': through the EELS forward model and the extraction, exelfs.nn.chain)."""
    if cfg.source == "eels":
        from .chain import make_chain_set

        return make_chain_set(paths, cfg, n, rng, l2_shift_ev, mode)
    shells_all = group_shells(paths)
    shells = model_shells(paths)
    nmod = len(shells)
    p = draw(cfg, shells_all, nmod, n, rng)
    chi = add_artefacts(clean_chi(paths, shells_all, p, l2_shift_ev), p, rng)
    x, xw = features(chi, p["kmin"], p["kmax"], r_window(shells), mode or cfg.input_mode)
    y, names = targets(p, shells_all, nmod)
    return {"x": x, "xw": xw, "y": y, "names": names, "p": p, "noise": noise_level(chi, p["kmin"], p["kmax"])}
