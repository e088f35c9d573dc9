"""A network for the partial radial distribution n_B(r) around the absorber, per kind of neighbour B, with
a calibrated band.

Training data: the disordered ensembles of exelfs.simulate.ensembles (crystals, strong disorder,
anharmonic, small particles, mixed occupancy), chi(k) with the shell networks' artefacts (noise,
background residue, k range; exelfs.nn.data.add_artefacts) and nuisances S0^2 and E0, read through the
same input transform (exelfs.nn.data.features). Targets: n_B(r) (atoms per A, its integral over a shell
is the shell's coordination) on R_GRID, broadened by ``broadening``. The network is the deep ensemble of
Gaussian heads (exelfs.nn.models 'ensemble_mlp', one output per kind and r bin); per kind, its sigma is
scaled so that over held-out bins with signal 68.3 % of the truth lie within 1 sigma, and the band
(lo, hi) is mean -+ the multiple of that sigma that holds 95.4 % (the errors' tails are heavier than a
Gaussian's, so that multiple is above 2).
The unseen-spectrum flag (``flag_statistics``, ``ood_reason``): the members disagree beyond what held-out
synthetic spectra showed ('spread': rms over the bins with signal of the spread of the member means over
the members' own sigma), or the predicted n_B(r) does not explain the data ('recon': chi(k) rebuilt from
n_B(r) with each kind's FEFF amplitude and phase of its nearest shell, best S0^2 within the prior and E0
on a grid over the prior (a network that claims atoms the data do not show fails it too), the
windowed, Fourier-filtered residual over the filtered noise plus exelfs.nn.check.THEORY_FLOOR of the signal,
as the shell networks' posterior-predictive check); thresholds at exelfs.nn.train.OOD_QUANTILE of
synthetic spectra of the training prior simulated at the spectrum's own k range and noise
(``simulate_at``, ``local_thresholds``; the training's quantiles over all conditions are kept in the meta).
Also flagged: empty data and a k range outside the trained one. Per crystal shell, the peak's position and
area carry errors made from the same simulated spectra (``peak_errors``: the truths nearest the spectrum's
prediction, regression-adjusted to it).
Trained on demand and cached (exelfs.cache kind 'rdf'). Units: r A, n_B(r) 1/A, k 1/A, E0 eV.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..simulate.ensembles import FAMILIES, draw_ensembles, ensemble_chi, ensemble_rdf, kinds_of
from ..theory.shells import group_shells
from .config import Artefacts
from .check import THEORY_FLOOR, filtered_noise_var
from .data import K_FINE, K_INPUT, add_artefacts, features, noise_level, on_fine_grid, unusable_input
from .predict import META, WEIGHTS, read_network, sha256

FEFF_RMAX = 6.5      # A: FEFF paths the RDF network is trained on (shells past the grid's end included)
SIGNAL_FRAC = 0.05   # bins where the truth exceeds this fraction of its maximum count as 'with signal'
FORMAT = "exelfs-rdf-3"  # of the saved files; part of the cache name, so a new format never meets an old entry
BAND_LEVEL = 0.954   # lo/hi: the calibrated central band holding this fraction of held-out truths
E0_STEP = 2.0        # eV: grid of E0 over the prior on which the reconstruction check takes its best E0
LOCAL_DRAWS = 2000   # synthetic spectra at a spectrum's own k range and noise: its peaks' errors, its flag's thresholds
PEAK_KEEP = 0.15     # fraction of them, nearest in predicted peak, taken as the peak's posterior
LOCAL_SEED = 13


@dataclass
class RDFConfig:
    """One RDF training run: target (structure, edge, kind, l2_shift_ev as exelfs.nn.config.TrainConfig),
    ensemble families, r grid (A) and broadening (A), nuisance priors s02, e0 (eV), lattice (relative),
    artefacts, network options (arch) and training (samples, epochs, batch, lr, calibration_samples, seed)."""

    structure: str = ""
    edge: str = ""
    kind: str = "eels"
    l2_shift_ev: float | None = None
    families: tuple = tuple(FAMILIES)
    r_min: float = 1.0
    r_max: float = 6.0
    r_step: float = 0.025
    broadening: float = 0.03
    s02: tuple = (0.7, 1.0)
    e0: tuple = (-8.0, 8.0)
    lattice: tuple = (-0.08, 0.08)
    mixed_fraction: float = 0.2
    arch: dict = field(default_factory=lambda: {"members": 5, "hidden": 256, "layers": 2})
    samples: int = 36000
    epochs: int = 16
    batch: int = 512
    lr: float = 3e-3
    calibration_samples: int = 3000
    seed: int = 0
    artefacts: Artefacts = field(default_factory=Artefacts)

    def __post_init__(self):
        if isinstance(self.artefacts, dict):
            self.artefacts = Artefacts(**{k: tuple(v) for k, v in self.artefacts.items()})
        self.families = tuple(self.families)
        if not self.families or set(self.families) - set(FAMILIES):
            raise InputError(f"RDF families must be among {', '.join(FAMILIES)}")
        if self.samples < 200 or self.calibration_samples < 100 or self.epochs < 1:
            raise InputError("the RDF network needs at least 200 samples, 100 calibration samples and 1 epoch")
        if not 0 < self.r_min < self.r_max or self.r_step <= 0 or self.broadening < self.r_step / 2:
            raise InputError("the RDF grid needs 0 < r_min < r_max, r_step > 0 and broadening >= r_step / 2 (A)")

    @property
    def r(self) -> np.ndarray:
        return np.arange(self.r_min, self.r_max + self.r_step / 2, self.r_step)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    def key(self, extra: str = "") -> str:
        d = self.to_dict()
        d.pop("structure")
        return hashlib.sha256((json.dumps(d, sort_keys=True) + extra).encode()).hexdigest()[:16]


def _nuisances(cfg: RDFConfig, n: int, rng) -> dict:
    """S0^2, E0 (eV) and the artefacts of exelfs.nn.data.add_artefacts, drawn from the config's priors."""
    a = cfg.artefacts
    u = lambda rg: rng.uniform(rg[0], rg[1], size=n)  # noqa: E731
    kmin = u(a.kmin)
    return {"s02": u(cfg.s02), "e0": u(cfg.e0), "noise": np.exp(u(np.log(a.noise))), "noise_p": u(a.noise_k_power),
            "bkg": u(a.background), "kmin": kmin, "kmax": np.minimum(np.maximum(u(a.kmax), kmin + 2.5), 14.0),
            "l2w": u(a.l2_weight)}


def r_window(shells) -> tuple:
    """R window (A, not phase corrected) of the input filter: from the first shell to past the grid."""
    return max(0.7, 0.6 * shells[0]["reff"]), 6.35


def make_rdf_set(paths, cfg: RDFConfig, n: int, rng, families=None, conditions=None) -> dict:
    """n samples: inputs 'x' (n, len(K_INPUT) + 2), windowed k^2 chi 'xw' (n, len(K_INPUT)), its noise
    estimate 'noise' (n,), chi(k) 'chi' (n, len(K_FINE)), targets 'g' (n, K, len(r)), the ensembles 'ens'
    and nuisances 'p';
    ``families`` overrides the config's (e.g. one family for a benchmark); ``conditions`` {"kmin", "kmax"
    (1/A), "noise" (rms of k^2 chi per point, white, as exelfs.nn.data.noise_level measures it)} fixes
    those of one spectrum instead of drawing them, and its optional "e0_spread" (eV) widens the E0 prior
    to +-that (the same draws, stretched)."""
    shells = group_shells(paths)
    ens = draw_ensembles(shells, n, rng, families=families or cfg.families, lattice=cfg.lattice,
                         mixed_fraction=cfg.mixed_fraction)
    p = _nuisances(cfg, n, rng)
    if conditions:
        p.update(kmin=np.full(n, float(conditions["kmin"])), kmax=np.full(n, float(conditions["kmax"])),
                 noise=np.zeros(n), white=np.full(n, float(conditions["noise"])))
        if conditions.get("e0_spread"):
            p["e0"] = p["e0"] * float(conditions["e0_spread"]) / max(abs(v) for v in cfg.e0)
    chi = ensemble_chi(paths, shells, ens, K_FINE, p["s02"], p["e0"], cfg.l2_shift_ev, p["l2w"])
    chi = add_artefacts(chi, p, rng)
    x, xw = features(chi, p["kmin"], p["kmax"], r_window(shells), "windowed")
    return {"x": x, "xw": xw, "noise": noise_level(chi, p["kmin"], p["kmax"]), "chi": chi,
            "g": ensemble_rdf(ens, cfg.r, cfg.broadening), "ens": ens, "p": p}


def signal_mask(g: np.ndarray) -> np.ndarray:
    """Bins of g (n, K, R) above SIGNAL_FRAC of each sample's and kind's maximum."""
    return g > SIGNAL_FRAC * np.max(g, axis=-1, keepdims=True).clip(1e-9)


@dataclass
class RDFModel:
    """The trained RDF network: kinds (neighbour symbols), r grid (A), input/output scaling, the
    calibrated sigma factor per kind (scale), the band's half-width in calibrated sigmas per kind
    (band), R window of the input, and meta (scores, provenance)."""

    net: object
    cfg: RDFConfig
    kinds: list
    x_scale: float
    y_mean: np.ndarray
    y_std: np.ndarray
    scale: np.ndarray
    band: np.ndarray
    rwin: tuple
    meta: dict = field(default_factory=dict)
    _kept: dict = field(default_factory=dict, repr=False, compare=False)  # the reconstruction basis, once made

    @property
    def r(self) -> np.ndarray:
        return self.cfg.r

    def moments(self, x, out=None, spread: bool = False) -> tuple:
        """(mean, calibrated sigma), each (B, K, R) in atoms per A, for raw inputs x; with ``spread`` also the
        members' disagreement (B, K, R): the spread of the member means over the members' own sigma."""
        from .train import ensemble_moments, run_net, torch_threads

        if out is None:
            xn = np.concatenate([x[:, :-2] / self.x_scale, x[:, -2:]], axis=1).astype(np.float32)
            with torch_threads(1):
                out = run_net(self.net, xn)
        mean, base, sd = ensemble_moments(out, True)
        shape = (len(x), len(self.kinds), self.r.size)
        mean = (mean * self.y_std + self.y_mean).reshape(shape)
        sigma = (np.sqrt(base) * self.y_std).reshape(shape) * self.scale[None, :, None]
        if not spread:
            return mean, sigma
        return mean, sigma, (sd / np.sqrt(np.maximum(base - sd ** 2, 1e-12))).reshape(shape)

    def k_range_used(self, k_range) -> tuple:
        a = self.cfg.artefacts
        return max(float(k_range[0]), a.kmin[0]), min(float(k_range[1]), a.kmax[1])

    def basis(self, paths) -> tuple[np.ndarray, np.ndarray]:
        """(E0 grid (E,) eV, chi per unit n_B(r) (E, K * len(r), len(K_FINE))): each r bin of each kind as
        the FEFF path of that kind's nearest shell moved to r, degeneracy r_step, the grid's broadening
        taken back out (sigma2 = -broadening^2); EELS L3 edges with the L2 copy at the prior's mean weight.
        Computed once per model and kept."""
        from ..simulate.exafs import chi_from_paths

        if "basis" in self._kept:
            return self._kept["basis"]
        cfg, r, shells = self.cfg, self.r, group_shells(paths)
        e0 = np.arange(cfg.e0[0], cfg.e0[1] + E0_STEP / 2, E0_STEP)
        w = float(np.mean(cfg.artefacts.l2_weight))
        out = np.zeros((e0.size, len(self.kinds) * r.size, K_FINE.size), np.float32)
        for j, kind in enumerate(self.kinds):
            own = [sh for sh in shells if sh["scatterer"] == kind]
            near = np.argmin(np.abs(r[:, None] - np.array([sh["reff"] for sh in own])[None, :]), axis=1)
            for i in np.unique(near):
                rows = np.flatnonzero(near == i)
                base = own[i]["paths"][0]
                ee = np.repeat(e0, rows.size)
                pp = {"deltar": np.tile(r[rows] - base.reff, e0.size)[:, None], "sigma2": -cfg.broadening ** 2,
                      "degen": cfg.r_step, "e0": ee}
                chi = chi_from_paths([base], K_FINE, pp)
                if cfg.l2_shift_ev:
                    chi = (chi + w * chi_from_paths([base], K_FINE, {**pp, "e0": ee + cfg.l2_shift_ev})) / (1 + w)
                out[:, j * r.size + rows] = chi.reshape(e0.size, rows.size, -1)
        self._kept["basis"] = (e0, out)
        return e0, out

    def flag_statistics(self, paths, x, xw, noise, kmin, kmax, out=None) -> dict:
        """Per spectrum: 'spread' (rms over the bins with signal of the prediction of the members'
        disagreement, see moments), 'recon' (the reconstruction's residual sum of squares over the filtered
        noise's plus THEORY_FLOOR of the signal's: chi(k) rebuilt from the predicted n_B(r) by ``basis``,
        best S0^2 within the prior and best E0 of the grid, windowed and filtered as the input) and 'recon_misfit' (its
        R-factor)."""
        mean, _, dis = self.moments(x, out=out, spread=True)
        g = np.clip(mean, 0, None)
        m = signal_mask(g)
        m[~m.any(axis=(1, 2))] = True
        stats = {"spread": np.sqrt(np.sum(np.where(m, dis ** 2, 0), axis=(1, 2)) / m.sum(axis=(1, 2)))}
        b = len(x)
        kmin, kmax = np.broadcast_to(kmin, (b,)).astype(float), np.broadcast_to(kmax, (b,)).astype(float)
        inside = (K_INPUT[None, :] >= kmin[:, None]) & (K_INPUT[None, :] <= kmax[:, None])
        data = np.where(inside, np.asarray(xw, float), 0.0)
        ssq = np.maximum(np.sum(data ** 2, axis=1), 1e-12)
        vn = np.sum(np.where(inside, filtered_noise_var(noise, kmin, kmax, self.rwin), 0.0), axis=1)
        _, basis = self.basis(paths)
        r2 = np.full(b, np.inf)
        for a in basis:
            y = np.where(inside, features(g.reshape(b, -1).astype(np.float32) @ a, kmin, kmax, self.rwin,
                                          "windowed")[1], 0.0)
            s02 = np.clip(np.sum(y * data, axis=1) / np.maximum(np.sum(y ** 2, axis=1), 1e-12), *self.cfg.s02)
            r2 = np.minimum(r2, np.sum((data - s02[:, None] * y) ** 2, axis=1))
        stats["recon"] = r2 / (vn + THEORY_FLOOR * ssq)
        stats["recon_misfit"] = r2 / ssq
        return stats

    def ood_reason(self, stats: dict, i: int, thresholds: dict | None = None, where: str = "") -> str | None:
        """None, or the sentence saying why spectrum i is unlike those the network was trained on (its
        statistics beyond ``thresholds``, by default the training's over all held-out synthetic spectra;
        ``where`` says which spectra set them when others are given)."""
        t = thresholds or self.meta["thresholds"]
        if stats["recon"][i] > t["recon"]:
            return (f"the predicted RDF does not explain the data: chi(k) rebuilt from it misses them by "
                    f"{stats['recon'][i]:.1f} x what noise and theory allow (R-factor {stats['recon_misfit'][i]:.3f}; "
                    f"held-out synthetic spectra{where} stay below {t['recon']:.1f})")
        if stats["spread"][i] > t["spread"]:
            return (f"the ensemble members disagree on the RDF ({stats['spread'][i]:.2f} x their own sigma; "
                    f"held-out synthetic spectra{where} stay below {t['spread']:.2f})")
        return None

    def e0_spread(self, e0_err: float | None) -> float:
        """E0 half-range (eV) of the simulations at one spectrum: the training's (the offset between FEFF's
        E0 and the data's) and the spectrum's own E0 uncertainty (eV, its estimators' spread), in quadrature."""
        return float(np.hypot(max(abs(v) for v in self.cfg.e0), e0_err or 0.0))

    def simulate_at(self, paths, k_range, noise: float, n: int = LOCAL_DRAWS, seed: int = LOCAL_SEED,
                    e0_err: float | None = None) -> dict:
        """make_rdf_set of n ensembles of the training prior at one spectrum's k range (1/A, as used), noise
        level (rms of k^2 chi per point) and E0 uncertainty (eV; e0_spread), with the network's mean
        prediction 'mean' (n, K, R) and the E0 spread 'e0_spread' (eV) added."""
        spread = self.e0_spread(e0_err)
        sim = make_rdf_set(paths, self.cfg, n, np.random.default_rng(seed),
                           conditions={"kmin": k_range[0], "kmax": k_range[1], "noise": noise, "e0_spread": spread})
        sim["e0_spread"] = spread
        sim["mean"] = self.moments(sim["x"])[0]
        return sim

    def local_thresholds(self, paths, sim: dict, k_range) -> dict:
        """The flag's thresholds (exelfs.nn.train.OOD_QUANTILE of each statistic) over the spectra ``sim``
        of simulate_at: the null distribution at this spectrum's k range and noise, not over all of them."""
        from .train import OOD_QUANTILE

        stats = self.flag_statistics(paths, sim["x"], sim["xw"], sim["noise"], *k_range)
        return {name: float(np.quantile(stats[name], OOD_QUANTILE)) for name in self.meta["thresholds"]}

    def peak_errors(self, windows: dict, predicted: dict, sim: dict) -> dict:
        """Per kind, per window ({kind: shell_windows}), the error of the predicted peak (``predicted``:
        {kind: (W, 2) position A, area atoms}) at this spectrum's conditions: over the spectra ``sim`` of
        simulate_at, per peak, the truths of the PEAK_KEEP fraction whose predicted (position, area) lie
        nearest the spectrum's (scaled by their spread), regression-adjusted to it, give the posterior:
        position error (_half_width) and area error (sd), the network's bias there (prediction - posterior
        mean) and the prior's width, measured alike (all truths). {kind: [dict per window]}."""
        mean, n = sim["mean"], len(sim["x"])
        keep = max(int(PEAK_KEEP * n), 20)
        out = {}
        for j, kind in enumerate(self.kinds):
            truth = peak_table(self.r, sim["g"][:, j], windows[kind])
            pred = peak_table(self.r, mean[:, j], windows[kind])
            rows = []
            for w in range(len(windows[kind])):
                obs = np.asarray(predicted[kind][w], float)
                ok = np.all(np.isfinite(pred[:, w]), axis=1) & np.all(np.isfinite(truth[:, w]), axis=1)
                if not np.all(np.isfinite(obs)) or ok.sum() < 2 * keep:
                    rows.append(None)
                    continue
                p, t = pred[ok, w], truth[ok, w]
                d = np.sum(((p - obs) / np.maximum(p.std(axis=0), 1e-9)) ** 2, axis=1)
                near = np.argsort(d)[:keep]
                # regression adjustment (Beaumont et al. 2002): the truths moved along their local linear
                # trend to the spectrum's own prediction, so the acceptance radius does not widen the error
                design = np.column_stack([np.ones(keep), p[near] - obs])
                coef, *_ = np.linalg.lstsq(design, t[near], rcond=None)
                post = t[near] - (p[near] - obs) @ coef[1:]
                rows.append({"r_err": _half_width(post[:, 0]), "n_err": float(post[:, 1].std()),
                             "r_bias": float(obs[0] - post[:, 0].mean()), "n_bias": float(obs[1] - post[:, 1].mean()),
                             "r_prior_width": _half_width(t[:, 0]), "n_prior_sd": float(t[:, 1].std())})
            out[kind] = rows
        return out

    def predict(self, paths, k, chi, k_range, e0_err: float | None = None) -> dict:
        """The contract's rdf dict for one chi(k) (unweighted, 1/A grid k) and the model's FEFF ``paths``
        (``e0_err``: the uncertainty of the data's E0, eV, which widens the simulations' E0 spread):
        "r" (A), "g", "lo", "hi" ({kind: list}, atoms per A; lo/hi the calibrated central 95.4 % band), plus
        "band", "units", "k_range", "shells" (per kind its peaks in the crystal's shell windows, shells closer
        than the data's resolution merged: position r
        (A), area n (atoms; _peak_entry), their errors, bias and prior sd from ``peak_errors``), "peak_errors_from" and the
        unseen-spectrum flag: "unseen" (bool), "unseen_reason" (sentence or None), "checks" ({statistic name:
        {"statistic", "threshold" (local_thresholds), "threshold_all_conditions" (the training's)}}) and
        "checks_from"."""
        from .train import OOD_QUANTILE

        kmin, kmax = self.k_range_used(k_range)
        fine = on_fine_grid(k, chi)
        x, xw = features(fine, kmin, kmax, self.rwin, "windowed")
        mean, sigma = self.moments(x)
        noise = noise_level(fine, kmin, kmax)
        stats = self.flag_statistics(paths, x, xw, noise, kmin, kmax)
        sim = self.simulate_at(paths, (kmin, kmax), float(noise[0]), e0_err=e0_err)
        thresholds = self.local_thresholds(paths, sim, (kmin, kmax))
        reason = unusable_input(fine[0], k_range, self.cfg.artefacts) or self.ood_reason(
            stats, 0, thresholds, " at this k range and noise")
        out = {"r": np.round(self.r, 4).tolist(), "g": {}, "lo": {}, "hi": {}}
        for j, kind in enumerate(self.kinds):
            out["g"][kind] = np.round(np.clip(mean[0, j], 0, None), 4).tolist()
            out["lo"][kind] = np.round(np.clip(mean[0, j] - self.band[j] * sigma[0, j], 0, None), 4).tolist()
            out["hi"][kind] = np.round(mean[0, j] + self.band[j] * sigma[0, j], 4).tolist()
        out["band"] = (f"central {100 * BAND_LEVEL:.1f} % band, calibrated on held-out synthetic ensembles "
                       f"(mean -+ {', '.join(f'{b:.2f}' for b in self.band)} sigma)")
        out["units"] = "r in angstrom; g = atoms of that kind per angstrom (integral over a shell = N)"
        out["k_range"] = [kmin, kmax]
        out["unseen"] = reason is not None
        out["unseen_reason"] = reason
        out["checks"] = {n: {"statistic": round(float(stats[n][0]), 4), "threshold": round(thresholds[n], 4),
                             "threshold_all_conditions": round(self.meta["thresholds"][n], 4)} for n in thresholds}
        spread = sim["e0_spread"]
        at = f"at this spectrum's k range, noise and E0 uncertainty (E0 spread +-{spread:.1f} eV)"
        out["e0_spread_ev"] = round(spread, 2)
        out["checks_from"] = (f"thresholds: the {100 * OOD_QUANTILE:.1f} % quantile over {LOCAL_DRAWS} synthetic "
                              f"spectra of the training prior {at}")
        windows = {kind: shell_windows(paths, kind, merge=resolution(kmax)) for kind in self.kinds}
        found = {kind: peaks(self.r, out["g"][kind], windows[kind]) for kind in self.kinds}
        errors = self.peak_errors(windows, {kind: [(q["r"], q["n"]) for q in found[kind]] for kind in self.kinds}, sim)
        out["shells"] = [{"scatterer": kind, "peaks": [_peak_entry(q, e) for q, e in zip(found[kind], errors[kind])]}
                         for kind in self.kinds]
        out["peak_errors_from"] = (f"{LOCAL_DRAWS} ensembles of the training prior simulated {at}, read by the "
                                   f"network; per peak the truths of the "
                                   f"{100 * PEAK_KEEP:.0f} % whose predicted peak lies nearest this one, "
                                   "regression-adjusted to it "
                                   "(chi-level spectra: for EELS the extraction's own errors are not in it)")
        return out

    def save(self, folder) -> Path:
        """weights.pt (float16 state dict) and meta.json (recipe, scaling, scores, sha256 of the weights)."""
        import torch

        from .. import __version__

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.half() for k, v in self.net.state_dict().items()}, folder / WEIGHTS)
        meta = {**self.meta, "format": FORMAT, "exelfs_version": __version__, "recipe": self.cfg.to_dict(),
                "kinds": self.kinds, "x_scale": self.x_scale, "y_mean": self.y_mean.tolist(),
                "y_std": self.y_std.tolist(), "scale": self.scale.tolist(), "band": self.band.tolist(),
                "rwin": list(self.rwin), "n_inputs": int(K_INPUT.size + 2), "sha256": sha256(folder / WEIGHTS)}
        (folder / META).write_text(json.dumps(meta, indent=1))
        return folder


def _half_width(samples) -> float:
    """Half the central 68.3 % range of samples: the position's error (its tails are heavy, and the sd
    quoted errors twice the median error on held-out EELS spectra; the area keeps the sd, as its prior's
    spike at the crystal's N collapses that range)."""
    lo, hi = np.quantile(samples, [0.1585, 0.8415])
    return float(0.5 * (hi - lo))


def _peak_entry(found: dict, error: dict | None) -> dict:
    """One peak of the contract: r_ref, n_ref, r (centroid of g, A), n_g (area of g) and, with its error
    (peak_errors), n = n_g - n_bias (the area's posterior mean: on held-out spectra the area of g runs low,
    a third to a half of its error goes with the bias; the centroid's bias is not subtracted, which did not
    help there)."""
    out = {**found, "n_g": found["n"], **(error or {})}
    if error:
        out["n"] = found["n"] - error["n_bias"]
    return {key: round(v, 4) for key, v in out.items()}


def load_rdf_model(folder) -> RDFModel:
    """A saved RDF model; ModelFileError (an InputError) when files are missing, damaged or tampered with."""
    from .models import ARCHITECTURES

    def build(meta):
        cfg = RDFConfig(**meta["recipe"])
        return ARCHITECTURES["ensemble_mlp"]["build"](meta["n_inputs"], len(meta["kinds"]) * cfg.r.size, **cfg.arch)

    meta, net = read_network(folder, FORMAT, "exelfs RDF network", "delete the folder and it is trained again",
                             build)
    cfg = RDFConfig(**meta["recipe"])
    keep = ("scores", "seconds", "paths_signature", "held_out", "thresholds", "flagged_fraction")
    return RDFModel(net=net, cfg=cfg, kinds=meta["kinds"], x_scale=meta["x_scale"],
                    y_mean=np.array(meta["y_mean"], np.float32), y_std=np.array(meta["y_std"], np.float32),
                    scale=np.array(meta["scale"]), band=np.array(meta["band"]), rwin=tuple(meta["rwin"]),
                    meta={k: meta[k] for k in keep if k in meta})


def coverage_scores(g, mean, sigma, band) -> dict:
    """Over bins with signal (signal_mask of the truth g (B, K, R)): the fractions within 1 sigma, within
    the band (``band`` (K,) sigmas) and within 2 sigma."""
    m = signal_mask(g)
    z = np.abs(mean - g) / np.maximum(sigma, 1e-9)
    inside = z <= np.asarray(band)[None, :, None]
    return {"coverage_1sigma": float((z[m] <= 1).mean()), "coverage_band": float(inside[m].mean()),
            "coverage_2sigma": float((z[m] <= 2).mean())}


def train_rdf(paths, cfg: RDFConfig, progress: bool = False) -> RDFModel:
    """A calibrated RDFModel for the FEFF ``paths`` (to about FEFF_RMAX) under ``cfg``."""
    from .models import ARCHITECTURES
    from .train import OOD_QUANTILE, _fit, _half_precision, run_net, torch_threads

    import torch

    t0 = time.perf_counter()
    ss = np.random.SeedSequence(int(cfg.seed))
    rng_train, rng_cal, rng_fit = (np.random.default_rng(s) for s in ss.spawn(3))
    torch.manual_seed(int(cfg.seed))
    shells = group_shells(paths)
    kinds = kinds_of(shells)
    tr = make_rdf_set(paths, cfg, cfg.samples, rng_train)
    cal = make_rdf_set(paths, cfg, cfg.calibration_samples, rng_cal)
    t_data = time.perf_counter() - t0
    y = tr["g"].reshape(len(tr["g"]), -1)
    x_scale = float(np.std(tr["x"][:, :-2]))
    y_mean = y.mean(axis=0)
    y_std = y.std(axis=0)
    y_std = np.maximum(y_std, 0.05 * y_std.max()) + 1e-6
    norm_x = lambda x: np.concatenate([x[:, :-2] / x_scale, x[:, -2:]], axis=1).astype(np.float32)  # noqa: E731
    spec = ARCHITECTURES["ensemble_mlp"]
    with torch_threads(1):
        net = spec["build"](tr["x"].shape[1], y.shape[1], **cfg.arch)
        losses = _fit(net, spec, norm_x(tr["x"]), ((y - y_mean) / y_std).astype(np.float32), cfg, rng_fit, progress)
        _half_precision(net)
        net.eval()
        out = run_net(net, norm_x(cal["x"]))
    model = RDFModel(net=net, cfg=cfg, kinds=kinds, x_scale=x_scale, y_mean=y_mean.astype(np.float32),
                     y_std=y_std.astype(np.float32), scale=np.ones(len(kinds)), band=np.full(len(kinds), 2.0),
                     rwin=r_window(shells), meta={})
    mean, sigma = model.moments(cal["x"], out=out)
    half = len(mean) // 2
    m = signal_mask(cal["g"][:half])
    z = np.abs(mean[:half] - cal["g"][:half]) / np.maximum(sigma[:half], 1e-9)
    scale, band = np.ones(len(kinds)), np.full(len(kinds), 2.0)
    for j in range(len(kinds)):
        zj = z[:, j][m[:, j]]
        if zj.size:
            scale[j] = max(float(np.quantile(zj, 0.683)), 1e-3)
            band[j] = float(np.quantile(zj, BAND_LEVEL)) / scale[j]
    model.scale, model.band = scale, band
    sigma = sigma * scale[None, :, None]
    stats = model.flag_statistics(paths, cal["x"], cal["xw"], cal["noise"], cal["p"]["kmin"], cal["p"]["kmax"],
                                  out=out)
    model.meta["thresholds"] = {n: float(np.quantile(stats[n][:half], OOD_QUANTILE)) for n in ("spread", "recon")}
    flagged = np.mean([model.ood_reason(stats, i) is not None for i in range(half, len(mean))])
    g2 = cal["g"][half:]
    iae = np.abs(mean[half:] - g2).sum(axis=-1) * cfg.r_step
    model.meta.update(scores={**coverage_scores(g2, mean[half:], sigma[half:], band),
                              "integrated_abs_error_median": float(np.median(iae)),
                              "mean_sigma_signal": float(sigma[half:][signal_mask(g2)].mean())},
                      held_out=int(len(g2)), flagged_fraction=float(flagged), losses=[round(v, 4) for v in losses],
                      seconds={"data": round(t_data, 1), "total": round(time.perf_counter() - t0, 1)})
    return model


def default_rdf_config(structure: str, edge: str, kind: str, **overrides) -> RDFConfig:
    """The recipe used for on-demand RDF training (EELS L3 edges: with the L2 copy)."""
    from .store import l2_spacing

    kind = "xas" if kind == "chi" else kind
    return RDFConfig(structure=str(structure), edge=edge, kind=kind, l2_shift_ev=l2_spacing(edge, kind), **overrides)


def rdf_model_name(cfg: RDFConfig, paths) -> str:
    from .store import paths_signature

    return f"{cfg.edge}-{cfg.kind}-rdf-{cfg.key(paths_signature(paths) + FORMAT)}"


def get_rdf_model(paths, cfg: RDFConfig, progress: bool = False):
    """(RDFModel, notes): cached under exelfs.cache kind 'rdf', else trained now (about a minute) and cached."""
    from ..cache import cached
    from .store import paths_signature

    name = rdf_model_name(cfg, paths)
    built = {}

    def build(folder: Path) -> None:
        t0 = time.perf_counter()
        model = train_rdf(paths, cfg, progress=progress)
        model.meta["paths_signature"] = paths_signature(paths)
        model.save(folder)
        built["seconds"] = time.perf_counter() - t0

    entry = cached("rdf", name, build, load_rdf_model, what="RDF network")
    notes = list(entry.notes)
    if built:
        notes.append(f"no RDF network existed for {cfg.edge} in {cfg.structure} ({cfg.kind}): trained one on demand "
                     f"in {built['seconds']:.0f} s and cached it in {entry.path}")
    return entry.value, notes


def resolution(kmax: float) -> float:
    """pi / (2 kmax) (A): shells of one kind closer than this beat rather than resolve in data to kmax (1/A)."""
    return float(np.pi / (2.0 * kmax))


def shell_windows(paths, kind: str, r_max: float = 6.0, merge: float = 0.3) -> list[tuple]:
    """(r_lo, r_ref, r_hi, n_ref) per crystal shell of ``kind`` up to r_max (A): shells closer than
    ``merge`` are one peak; windows end midway to the neighbouring peaks (the first starts 0.45 A below)."""
    ref = []
    for s in group_shells(paths):
        if s["scatterer"] != kind or s["reff"] > r_max:
            continue
        if ref and s["reff"] - ref[-1][0] < merge:
            r0, n0 = ref[-1]
            ref[-1] = ((r0 * n0 + s["reff"] * s["n"]) / (n0 + s["n"]), n0 + s["n"])
        else:
            ref.append((s["reff"], s["n"]))
    out = []
    for i, (r0, n0) in enumerate(ref):
        lo = r0 - 0.45 if i == 0 else 0.5 * (ref[i - 1][0] + r0)
        hi = 0.5 * (r0 + ref[i + 1][0]) if i + 1 < len(ref) else min(r0 + 0.45, r_max)
        out.append((lo, r0, hi, n0))
    return out


def peak_table(r, g, windows) -> np.ndarray:
    """(B, W, 2): per row of g (B, R) and window (r_lo, r_ref, r_hi, n_ref) the peak's position (centroid,
    A; NaN without atoms) and area (atoms) of g clipped at 0."""
    r, g = np.asarray(r, float), np.clip(np.atleast_2d(np.asarray(g, float)), 0, None)
    out = np.full((len(g), len(windows), 2), np.nan)
    for i, (lo, _, hi, _) in enumerate(windows):
        sel = (r >= lo) & (r < hi)
        if sel.sum() < 2:
            out[:, i, 1] = 0.0
            continue
        area = np.trapezoid(g[:, sel], r[sel], axis=1)
        out[:, i, 1] = area
        moment = np.trapezoid(g[:, sel] * r[sel], r[sel], axis=1)
        out[:, i, 0] = np.where(area > 0, moment / np.where(area > 0, area, 1.0), np.nan)
    return out


def peaks(r, g, windows) -> list[dict]:
    """Per window (r_lo, r_ref, r_hi, n_ref): the peak's position (centroid, A) and area (atoms) of g (R,)."""
    t = peak_table(r, g, windows)[0]
    return [{"r_ref": float(w[1]), "n_ref": float(w[3]), "r": float(t[i, 0]), "n": float(t[i, 1])}
            for i, w in enumerate(windows)]
