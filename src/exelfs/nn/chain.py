"""Training data through the EELS chain: synthetic chi(k) made into recorded EELS spectra by the batched
forward model (``exelfs.simulate.batch.eels_batch`` under its training nuisances), then read back the way
the pipeline reads a real spectrum.

Two input modes:

- chi modes ('windowed', 'raw'): the batched extraction of the spectrum-image maps
  (``exelfs.extract.batch``): pre-edge power law, E0 from the edge position (the pipeline's estimator),
  Larch-autobk-like spline to the end of the range, chi = (mu - mu0) / mu0 on the 0.05 1/A grid, then
  :func:`exelfs.nn.data.features`. No Fourier-ratio deconvolution (the batch forward model makes no
  low-loss): plural scattering stays in, as in a spectrum analysed without a low-loss.
- 'direct': only the pre-edge power law removed; the edge signal J(E) past E0 averaged onto K_INPUT
  (k = sqrt(ETOK (E - E0))), divided by the edge step (median J over E0 + 10 to 60 eV), weighted by k
  and tapered over [kmin, kmax] (:func:`direct_input`, which the pipeline applies to a real spectrum).
  The network itself has to see through the post-edge background, plural scattering and L2 / L3 overlap.

Targets are those of :func:`exelfs.nn.data.targets`, except delta E0, which is referred to the E0 the
extraction found (as a fit of the extracted chi(k) would report it). Units: eV, 1/A, A.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..edges.tables import edge_entry, parse_edge
from ..errors import InputError
from ..extract import batch
from ..extract.chi import AUTOBK_KMIN, _estimate_e0
from ..simulate.batch import eels_batch, training_config
from ..theory.shells import group_shells
from ..units import ETOK
from .config import TrainConfig
from .data import K_FINE, K_INPUT, KSTEP, _kwindow, clean_chi, draw, features, model_shells, noise_level, r_window, targets

CHUNK = 2048                 # spectra per forward-model call (one channel width each)
CHANNEL_WIDTH = (0.25, 2.0)  # eV, log-uniform per chunk (the real shared spectra: 0.25-2 eV/channel)
E_BEFORE = 100.0             # eV of pre-edge recorded
PRE_EDGE = 80.0              # eV: power-law window starts this far below the onset
E_AFTER = K_FINE[-1] ** 2 / ETOK + 30.0  # eV past the onset: chi to k = 14.5 1/A whatever E0 and offset
DIRECT_KWEIGHT = 1
MIN_K_SPAN = 2.5             # 1/A: shorter usable ranges are drawn again
MAX_CHI = 5.0                # |chi| beyond this: the extraction failed (the row is drawn again)
STEP_WINDOW = (10.0, 60.0)   # eV past E0: the edge step (exelfs.extract.batch.edge_snr's window)


def rbkg_for(shells) -> float:
    """The pipeline's automatic rbkg (A; exelfs.pipeline.plan): half the first-shell distance, 0.6-1.0 A."""
    return float(min(1.0, max(0.6, 0.5 * shells[0]["reff"])))


def eels_config(cfg: TrainConfig, width: float):
    """The forward model's recipe for one chunk: training nuisances, the config's L2 weight."""
    return training_config(edge=cfg.edge, e_before=E_BEFORE, e_after=E_AFTER, channel_width=float(width),
                           l2_weight=tuple(cfg.artefacts.l2_weight), lowloss=False)


def onset_of(edge: str) -> float:
    element, shell = parse_edge(edge)
    entry = edge_entry(element, shell)
    return float(entry.eels_onset if entry.eels_onset is not None else entry.energy)


def estimate_e0(energy, mu, edge: str) -> np.ndarray:
    """(n,) E0 (eV) of each row of mu (power-law-subtracted counts) by the pipeline's own estimator."""
    element, shell = parse_edge(edge)
    entry = edge_entry(element, shell)
    onset = onset_of(edge)
    de = float(np.median(np.diff(energy)))
    sel = (energy >= onset - 45.0) & (energy <= onset + 75.0)
    e, m = energy[sel], np.asarray(mu)[:, sel]
    return np.array([_estimate_e0(e, row, onset, entry.shape, entry.threshold, de)[0] for row in m])


def align(energy, rows, shift) -> np.ndarray:
    """rows (n, channels) on the uniform ``energy`` axis resampled at energy + shift (n,) eV (linear; the
    end values beyond the axis)."""
    width = float(energy[1] - energy[0])
    pos = np.arange(energy.size)[None, :] + (np.asarray(shift, float) / width)[:, None]
    pos = np.clip(pos, 0, energy.size - 1)
    j = np.minimum(np.floor(pos).astype(np.intp), energy.size - 2)
    f = (pos - j).astype(rows.dtype)
    a = np.take_along_axis(rows, j, axis=1)
    b = np.take_along_axis(rows, j + 1, axis=1)
    return a + f * (b - a)


@lru_cache(maxsize=64)
def _spline(n_k: int, rbkg: float) -> np.ndarray:
    k = KSTEP * np.arange(n_k)
    return batch.spline_operator(k, AUTOBK_KMIN, float(k[-1]), rbkg, 2)


def extract(energy, mu, e0, kend, rbkg: float, kmin=AUTOBK_KMIN) -> tuple[np.ndarray, np.ndarray]:
    """((n, len(K_FINE)) chi(k), (n,) usable) of power-law-subtracted rows ``mu`` with per-row E0 (eV) and
    end of range kend (1/A; the spline runs to it, chi is 0 beyond), by the maps' batched extraction.
    usable: the maps' test (chi finite, mu0 > 0 over kmin to kend, 1/A) and no |chi| above MAX_CHI (mu0 on
    its floor: a power law extrapolated far below the data, which no analysis would take)."""
    ref = float(np.median(e0))
    aligned = align(energy, mu, np.asarray(e0) - ref)
    op = batch.k_operator(energy, ref, K_FINE)
    mu_k = np.asarray(aligned @ op.T.tocsr())
    out = np.zeros((mu.shape[0], K_FINE.size), np.float32)
    usable = np.zeros(mu.shape[0], bool)
    n_k = np.minimum(np.rint(np.asarray(kend) / KSTEP).astype(int) + 1, K_FINE.size)
    kmin = np.broadcast_to(np.asarray(kmin, float), (mu.shape[0],))
    for nk in np.unique(n_k):
        rows = np.nonzero(n_k == nk)[0]
        chi, mu0 = batch.chi_batch(mu_k[rows, :nk], _spline(int(nk), float(rbkg)), K_FINE[:nk])
        sel = K_FINE[None, :nk] >= kmin[rows, None]
        usable[rows] = (np.where(sel, np.isfinite(chi) & (mu0 > 0) & (np.abs(chi) <= MAX_CHI), True)).all(axis=1)
        out[rows, :nk] = np.where(np.isfinite(chi), chi, 0.0)
    return out, usable


def direct_input(energy, mu, e0, kmin, kmax) -> np.ndarray:
    """(n, len(K_INPUT) + 2) direct-mode network inputs from power-law-subtracted rows ``mu`` (n,
    channels) on the uniform ``energy`` axis (eV), per-row E0 (eV) and usable k range (1/A): the edge
    signal averaged onto K_INPUT, over the edge step, times k, under a Hanning taper (width DK) over
    [kmin, kmax]; then kmin, kmax scaled as in :func:`exelfs.nn.data.features`."""
    energy = np.asarray(energy, float)
    mu = np.atleast_2d(np.asarray(mu, float))
    n = mu.shape[0]
    e0 = np.broadcast_to(np.asarray(e0, float), (n,))
    kmin = np.broadcast_to(np.asarray(kmin, float), (n,))
    kmax = np.broadcast_to(np.asarray(kmax, float), (n,))
    dk = float(K_INPUT[1] - K_INPUT[0])
    if energy[-1] < e0.max() + 3.0 / ETOK or energy[0] > e0.min() - 5.0:
        raise InputError("the energy-loss window does not reach past E0: the direct input needs the edge")
    ref = float(np.median(e0))
    aligned = align(energy, mu, e0 - ref)
    grid = K_INPUT
    j = np.asarray(aligned @ batch.k_operator(energy, ref, grid).T.tocsr())
    post = (energy - ref >= STEP_WINDOW[0]) & (energy - ref <= STEP_WINDOW[1])
    step = np.median(aligned[:, post], axis=1) if post.any() else np.ones(n)
    step = np.where(step > 0, step, np.maximum(np.abs(j).max(axis=1), 1e-30))
    k = K_INPUT[None, :]
    # beyond the recorded data (or an edge that ends the range) the taper is 0 anyway
    reach = np.sqrt(ETOK * np.clip(energy[-1] - e0, 0, None))[:, None]
    win = _kwindow(kmin, kmax, K_INPUT) * (k <= reach)
    x = np.empty((n, K_INPUT.size + 2), np.float32)
    x[:, :-2] = j / step[:, None] * k ** DIRECT_KWEIGHT * win
    x[:, -2] = (kmin - 1.5) / 2.0
    x[:, -1] = (kmax - 6.0) / 8.0
    return x


def make_chain_set(paths, cfg: TrainConfig, n: int, rng, l2_shift_ev=None, mode=None) -> dict:
    """n training spectra through the EELS chain; the same dict as :func:`exelfs.nn.data.make_set`
    ('x', 'xw', 'y', 'names', 'p', 'noise'). The L2 copy of L3 edges comes from the forward model's own
    L2 edge (weight cfg.artefacts.l2_weight), so ``l2_shift_ev`` is not used here."""
    if cfg.kind != "eels":
        raise InputError("training through the EELS chain needs kind = 'eels'")
    mode = mode or cfg.input_mode
    out = _chain_set(paths, cfg, n, rng, mode)
    bad = ~out.pop("usable")
    if bad.any():  # spectra the extraction cannot read (as the pipeline would refuse them): drawn again
        redo = make_chain_set(paths, cfg, int(bad.sum()), rng, mode=mode)
        for key in ("x", "xw", "y", "noise"):
            out[key][bad] = redo[key]
        for key, v in out["p"].items():
            v[bad] = redo["p"][key]
    return out


def _chain_set(paths, cfg: TrainConfig, n: int, rng, mode: str) -> dict:
    """make_chain_set's spectra, with 'usable' (n,) saying which of them the extraction could read."""
    shells_all = group_shells(paths)
    shells = model_shells(paths)
    nmod = len(shells)
    p = draw(cfg, shells_all, nmod, n, rng)
    p["kmax"] = p["kmax"].copy()
    rbkg = rbkg_for(shells)
    onset = onset_of(cfg.edge)
    element, shell = parse_edge(cfg.edge)
    chi_edge = float(edge_entry(element, shell).energy)  # where the forward model puts k = 0
    chi_clean = clean_chi(paths, shells_all, p)
    chi = np.zeros((n, K_FINE.size), np.float32)
    x_direct = np.zeros((n, K_INPUT.size + 2), np.float32) if mode == "direct" else None
    e0_found = np.zeros(n)
    offset = np.zeros(n)
    usable = np.zeros(n, bool)
    for s in range(0, n, CHUNK):
        sl = slice(s, min(s + CHUNK, n))
        width = float(np.exp(rng.uniform(*np.log(CHANNEL_WIDTH))))
        energy, counts, truth = eels_batch(K_FINE, chi_clean[sl], eels_config(cfg, width),
                                           seed=int(rng.integers(2**63 - 1)))
        window = (onset - PRE_EDGE, onset - max(6.0, 3 * width))
        log_a, r = batch.power_law_fit(energy, counts, window)
        mu = counts - batch.power_law(energy, log_a, r, dtype=np.float32)
        e0 = estimate_e0(energy, mu, cfg.edge)
        e0_found[sl], offset[sl] = e0, truth["calibration_offset"] + truth["edge_shift"]
        kfade = np.sqrt(ETOK * np.clip(batch.fade_energy(energy, mu, counts - mu, e0, energy[-1]) - e0, 0.0, None))
        p["kmax"][sl] = np.minimum(p["kmax"][sl], kfade)
        kend = np.minimum(p["kmax"][sl] + 0.3, np.sqrt(ETOK * (energy[-1] - e0)) - 0.1)
        chi[sl], usable[sl] = extract(energy, mu, e0, kend, rbkg, p["kmin"][sl])
        usable[sl] &= p["kmax"][sl] - p["kmin"][sl] >= MIN_K_SPAN
        if x_direct is not None:
            x_direct[sl] = direct_input(energy, mu, e0, p["kmin"][sl], p["kmax"][sl])
    x, xw = features(chi, p["kmin"], p["kmax"], r_window(shells), "windowed" if mode == "direct" else mode)
    if x_direct is not None:
        x = x_direct
    p = {**p, "e0": p["e0"] + chi_edge + offset - e0_found}  # delta E0 from the E0 the extraction found
    y, names = targets(p, shells_all, nmod)
    usable &= np.isfinite(x).all(axis=1) & np.isfinite(xw).all(axis=1)
    return {"x": x, "xw": xw, "y": y, "names": names, "p": p, "noise": noise_level(chi, p["kmin"], p["kmax"]),
            "usable": usable}
