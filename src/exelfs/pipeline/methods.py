"""The registry of analysis methods: one signature, ``method(plan, data) -> MethodOutput``.

``fit`` (Larch feffit shell fit) and ``nn`` (the calibrated neural-network ensemble of exelfs.nn, with a
batched twin ``nn_method.batch`` for spectrum images) are registered here.
Units: k in 1/angstrom, R in angstrom, sigma2 in angstrom^2, energies in eV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError
from ..theory.feff import FEFF_AMP_SIGMA2, FEFF_PHASE_R
from .neighbours import mark_prior_echo, neighbour_groups

METHODS: dict[str, Callable] = {}
PLANNED: dict[str, str] = {}
POSTERIOR_SAMPLES = 2000  # the network's posterior samples of one spectrum (corner plot, correlations)


@dataclass
class ChiInput:
    """What a method analyses: chi(k) (k in 1/A, any grid), the k range chosen for it, the k weight, the
    R window the user set (None: automatic), the data kind, E0 and its uncertainty (eV) and, for L3 edges of EELS, the L2-L3
    spacing (eV) when the L2 fine structure overlaps the range. EELS: the energy axis (eV) and the edge
    signal with only the pre-edge power law removed (counts), for methods that read the spectrum itself."""

    k: np.ndarray
    chi: np.ndarray
    k_range: tuple
    kweight: int
    kind: str
    r_range: tuple | None = None
    e0: float | None = None
    e0_err: float | None = None
    l2_shift_ev: float | None = None
    energy: np.ndarray | None = None
    edge_signal: np.ndarray | None = None


@dataclass
class MethodOutput:
    """What a method returns: shells (contract keys plus ``error_budget`` and honesty ``flags``), warnings,
    the fit statistics (``n_independent``, ``n_parameters``, ``r_factor``, ``k_range``, ``r_range``, ...),
    model curves on the method's own grids (``k``, ``chi``, ``chi_model``, ``kwin``, ``r``, ``chir``,
    ``chir_model``, ``rwin``; the network adds ``filtered_k``, ``filtered_chi``, ``filtered_chi_model``,
    ``posterior_samples`` (n, T) and ``posterior_names``) and the model as data (for reports and scripts
    that redo it)."""

    shells: list
    warnings: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)


def register(name: str):
    """Decorator: register ``func(plan, data: ChiInput) -> MethodOutput`` as method ``name``."""
    def deco(func):
        METHODS[name] = func
        return func
    return deco


def get_method(name: str) -> Callable:
    """The registered method ``name``; InputError for a planned or unknown one."""
    name = (name or "fit").lower()
    if name in METHODS:
        return METHODS[name]
    if name in PLANNED:
        raise InputError(PLANNED[name])
    raise InputError(f"unknown method '{name}': use one of {', '.join(sorted(METHODS))}")


@register("fit")
def fit_method(plan, data: ChiInput) -> MethodOutput:
    """Least-squares shell fit (Larch feffit in R space) with the plan's FEFF paths."""
    from ..fit import fit_shells

    s = plan.settings
    out = fit_shells(data.k, data.chi, plan.paths, data.k_range, r_range=data.r_range, kweight=data.kweight,
                     l2_shift_ev=data.l2_shift_ev, max_shells=s.shells, s02=s.s02)
    stats = {k: out[k] for k in ("n_independent", "n_parameters", "e0_shift", "e0_shift_err", "r_factor",
                                 "chi2_reduced", "n_from", "k_range", "r_range", "kweight", "bounds_hit")}
    stats["fit_mode"] = out["mode"]
    return MethodOutput(shells=out["shells"], warnings=out["warnings"], stats=stats, curves=out["curves"],
                        model={**out["model"], "kweight": out["kweight"], "dk": out["dk"], "window": out["window"],
                               "k_range": out["k_range"], "r_range": out["r_range"]})


def _nn_model(plan):
    """The plan's network (shipped, cached or trained on demand), loaded once per plan."""
    if "_nn_model" not in plan.__dict__:
        from ..nn import default_config, get_model

        cfg = default_config(plan.structure, plan.edge, plan.kind)
        model, notes = get_model(plan.paths, cfg)
        plan.__dict__["_nn_model"], plan.__dict__["_nn_notes"] = model, notes
    return plan.__dict__["_nn_model"]


def nn_batch(plan, k, chi, k_range, kweight=2, l2_shift_ev=None, samples: int = 0, energy=None, edge_signal=None,
             e0=None) -> dict:
    """The network on many spectra at once: k (1/A, uniform), chi (n_spectra, len(k)) unweighted, one
    k_range (1/A) for all. Returns float arrays "r{i}", "r{i}_err", "n{i}", "n{i}_err", "sigma2_{i}",
    "sigma2_{i}_err" (A, -, A^2, 1 sigma), "e0_shift", "e0_shift_err" (eV), "s02", "s02_err", "ood" (bool:
    unseen by the model) with "ood_reason", and "shells" [{"scatterer", "r_ref", "n_ref"}]. The network
    reads k^2 chi whatever ``kweight`` the analysis uses; a direct-mode network reads ``edge_signal``
    ((n_spectra or 1, len(energy)) power-law-subtracted counts on ``energy``, eV) from E0 ``e0`` (eV).
    ``samples`` > 0 adds "posterior_samples" and "correlation" (see exelfs.nn.NNModel.batch)."""
    model = _nn_model(plan)
    if edge_signal is not None:
        edge_signal = np.atleast_2d(np.asarray(edge_signal, float))
    return model.batch(plan.paths, k, np.atleast_2d(np.asarray(chi, float)), k_range, l2_shift_ev=l2_shift_ev,
                       samples=samples, energy=energy, signal=edge_signal, e0=e0)


def _nn_shells(out: dict) -> list:
    shells = []
    for i, ref in enumerate(out["shells"], start=1):
        if f"r{i}" not in out:
            break
        get = lambda key: float(out[key][0]) if key in out else None  # noqa: E731
        r_net, s2_net = get(f"r{i}_err"), get(f"sigma2_{i}_err")
        s = {"scatterer": ref["scatterer"], "r": round(get(f"r{i}"), 4),
             "r_err": round(float(np.hypot(r_net, FEFF_PHASE_R)), 4),
             "n": None if get(f"n{i}") is None else round(get(f"n{i}"), 2),
             "n_err": None if get(f"n{i}_err") is None else round(get(f"n{i}_err"), 2),
             "sigma2": None if get(f"sigma2_{i}") is None else round(get(f"sigma2_{i}"), 5),
             "sigma2_err": None if s2_net is None else round(float(np.hypot(s2_net, FEFF_AMP_SIGMA2)), 5),
             "r_crystal": ref["r_ref"], "n_crystal": ref["n_ref"],
             "error_budget": {"r": {"network_calibrated": round(r_net, 4), "feff_phase": FEFF_PHASE_R},
                              "n": {"network_calibrated": get(f"n{i}_err"),
                                    "note": "includes the S0^2 prior 0.6-1.05 the network was trained over"},
                              "sigma2": {"network_calibrated": s2_net, "feff_amplitude": FEFF_AMP_SIGMA2}}}
        s["flags"] = {"sigma2_negative_beyond_error": s["sigma2"] is not None and s["sigma2"] + s["sigma2_err"] < 0}
        shells.append(s)
    return shells


def _posterior_summary(out: dict, names: list, architecture: str) -> dict:
    """The posterior of one spectrum for reports: the output names, their correlation matrix, its source."""
    from ..nn import ARCHITECTURES

    source = ("conditional normalizing flow (neural posterior estimation)" if ARCHITECTURES[architecture]["density"]
              else "the ensemble's calibrated Gaussian mixture (no correlations between outputs within a member)")
    return {"names": list(names), "correlation": np.round(out["correlation"][0], 3).tolist(), "source": source,
            "samples": int(out["posterior_samples"].shape[0])}


def _ppc_stats(model, out: dict) -> dict:
    """The posterior-predictive check of one spectrum (exelfs.nn.check): residual of the refined forward model
    over the noise, its R-factor, the statistic against its threshold, and the verdict."""
    from ..nn.check import THEORY_FLOOR
    from ..nn.train import OOD_QUANTILE

    if "flag_ppc" not in out:
        return {}
    value, limit = float(out["flag_ppc"][0]), model.meta.get("thresholds", {}).get("ppc")
    return {"ppc": {"residual_over_noise": float(out["flag_residual_noise"][0]),
                    "refined_r_factor": float(out["flag_refined_misfit"][0]), "statistic": value,
                    "threshold": limit, "passed": None if limit is None else bool(value <= limit),
                    "criterion": f"residual sum of squares of the refined forward model over that of the filtered "
                                 f"noise plus {THEORY_FLOOR:.0%} of the signal's, at most its {OOD_QUANTILE:.1%} "
                                 "quantile on held-out synthetic spectra"}}


@register("nn")
def nn_method(plan, data: ChiInput) -> MethodOutput:
    """The calibrated network (exelfs.nn) on one spectrum: the batch call with one row, its posterior
    samples, and the forward model at its answer beside the data (the curves)."""
    out = nn_batch(plan, data.k, data.chi, data.k_range, data.kweight, data.l2_shift_ev, samples=POSTERIOR_SAMPLES,
                   energy=data.energy, edge_signal=data.edge_signal, e0=data.e0)
    model = plan.__dict__["_nn_model"]
    glob = {k: float(out[k][0]) if k in out else None for k in ("e0_shift", "e0_shift_err", "s02", "s02_err")}
    stats = {"k_range": list(model.k_range_used(data.k_range)), **glob, "ood_reason": out["ood_reason"][0],
             "n_from": "the network (N from the amplitude, S0^2 estimated alongside)",
             "reconstruction_r_factor": float(out["flag_misfit"][0]) if "flag_misfit" in out else None,
             **_ppc_stats(model, out),
             "network": {"architecture": model.cfg.architecture, "input_mode": model.cfg.input_mode,
                         "scores": model.meta.get("scores"), "thresholds": model.meta.get("thresholds")}}
    warnings = list(plan.__dict__.get("_nn_notes", []))
    if out["ood"][0]:
        warnings.append(f"the network has not seen spectra like this one: {out['ood_reason'][0]}")
    stats["posterior"] = _posterior_summary(out, model.names, model.cfg.architecture)
    shells = _nn_shells(out)
    mark_prior_echo(shells, model.cfg.ranges)
    warnings += [f"N of the {s['scatterer']} shell at {s['r']:.2f} A is the training prior's, not the data's "
                 f"({s['flags']['n_prior_echoed'][len('the data do not determine it: '):]})"
                 for s in shells if s["flags"].get("n_prior_echoed")]
    stats["neighbours"] = neighbour_groups(shells, model.cfg.ranges, list(model.names), stats["posterior"]["correlation"],
                                           "posterior samples of one spectrum: " + stats["posterior"]["source"])
    answer = np.array([[out[n][0] for n in model.names]])
    curves = {**model.curves(plan.paths, data.k, data.chi, data.k_range, answer, data.kweight),
              "posterior_samples": out["posterior_samples"][:, 0], "posterior_names": list(model.names)}
    return MethodOutput(shells=shells, warnings=warnings, stats=stats, curves=curves,
                        model={"paths": [], "network": model.meta.get("scores")})


nn_method.batch = nn_batch
