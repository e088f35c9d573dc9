"""Several spectra of one material at several temperatures, analysed together: one plan, one common k
range, then sigma2(T) of the first shell with an Einstein or correlated-Debye model: by the fit, one Larch
feffit of all spectra at once (exelfs.fit.series.fit_series_joint); by the network, its per-spectrum
posteriors combined through their joint error (exelfs.nn.series). Temperatures in K, sigma2 in A^2, k in 1/A."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..errors import InputError
from ..fit.series import fit_series_joint, fit_sigma2_series
from ..theory.shells import group_shells
from ..theory.thermal import MODELS, sigma2_thermal
from .plan import make_plan
from .run import l2_shift, run
from .settings import Settings


def parse_series(text: str) -> tuple[str, list[float]]:
    """'temperature=10,50,150' -> ('temperature', [10.0, 50.0, 150.0])."""
    name, _, values = str(text).partition("=")
    if name.strip().lower() != "temperature" or not values.strip():
        raise InputError(f"--series '{text}': write it as temperature=T1,T2,... (kelvin, one per file)")
    try:
        temps = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--series '{text}': the temperatures must be numbers in kelvin") from None
    if any(not math.isfinite(t) or t <= 0 for t in temps):
        raise InputError(f"--series '{text}': temperatures must be positive numbers in kelvin")
    return "temperature", temps


def _series_sigma2(result) -> tuple[float, float] | None:
    """First-shell sigma2 and its error for the series fit: the error without its FEFF-amplitude part,
    which is the same at every temperature and so goes into sigma2_static instead."""
    if not result.shells:
        return None
    shell = result.shells[0]
    if shell.get("sigma2") is None or shell.get("sigma2_err") is None:
        return None
    common = shell.get("error_budget", {}).get("sigma2", {}).get("feff_amplitude", 0.0)
    err = math.sqrt(max(shell["sigma2_err"] ** 2 - common ** 2, (0.1 * shell["sigma2_err"]) ** 2))
    return float(shell["sigma2"]), err


def _nn_joint_error(plan, results) -> dict:
    """The network's joint error over the series (exelfs.nn.series), from each spectrum's posterior samples."""
    from ..nn.series import series_error

    model = plan.__dict__["_nn_model"]
    if model.cfg.input_mode == "direct":
        raise InputError("a temperature series with a direct-mode network (one that reads the EELS spectrum, "
                         "not chi(k)) has no joint-error model yet: use a chi-reading network or --method fit")
    a = results[0].arrays
    return series_error(model, plan.paths, a["k"], [r.arrays["chi"] for r in results],
                        results[0].k_range, [r.arrays["posterior_samples"] for r in results])


def analyze_series(spectra, temperatures, edge=None, structure=None, lowloss=None, method: str = "fit",
                   model: str = "einstein", **controls):
    """Analyse ``spectra`` (one per temperature, K) under one plan and fit sigma2(T) of the first shell.

    Unless kmin/kmax are given, every spectrum is analysed over the k range common to all (the overlap of
    their automatic ranges), so that sigma2 is compared like with like. Returns (results, series dict with
    model, theta_k, theta_err, sigma2_static, ... and ``files``: each spectrum's source)."""
    spectra = list(spectra)
    temperatures = [float(t) for t in temperatures]
    if len(spectra) != len(temperatures):
        raise InputError(f"--series gives {len(temperatures)} temperatures for {len(spectra)} spectra: give one "
                         "temperature per spectrum (an Athena project counts one per group)")
    if model not in MODELS:
        raise InputError(f"unknown sigma2(T) model '{model}': use one of {', '.join(MODELS)}")
    plan = make_plan(spectra[0], edge=edge, structure=structure, settings=Settings.from_kwargs(**controls))
    results = [run(plan, s, lowloss=lowloss, method=method) for s in spectra]
    s = plan.settings
    if s.kmin is None or s.kmax is None:
        kmin = max(r.k_range[0] for r in results) if s.kmin is None else s.kmin
        kmax = min(r.k_range[1] for r in results) if s.kmax is None else s.kmax
        common = replace(plan, settings=replace(s, kmin=kmin, kmax=kmax), choices=plan.choices.copy())
        for name, value in (("kmin", kmin), ("kmax", kmax)):
            if getattr(s, name) is None:
                common.choices.auto(name, round(float(value), 3), "the k range common to every spectrum of the series")
        results = [run(common, sp, lowloss=lowloss, method=method) for sp in spectra]
    path = group_shells(plan.paths)[0]["paths"][0]
    if method == "both":
        series = _fit_series(plan, [r.parts["fit"] for r in results], temperatures, model, path)
        series["nn"] = _nn_series(plan, [r.parts["nn"] for r in results], temperatures, model, path)
    else:
        series = (_nn_series if method == "nn" else _fit_series)(plan, results, temperatures, model, path)
    return results, series


def _points(results) -> list:
    """Each spectrum's first-shell (sigma2, error); an input error names the spectra that have none."""
    points = [_series_sigma2(r) for r in results]
    missing = [r.source or f"spectrum {i + 1}" for i, (r, p) in enumerate(zip(results, points)) if p is None]
    if missing:
        raise InputError(f"no first-shell sigma2 for {', '.join(map(str, missing))} (undetermined): the "
                         "series cannot be fitted")
    return points


def _nn_series(plan, results, temperatures, model, path) -> dict:
    """The network's answer: its posteriors combined by generalised least squares with their joint error."""
    points = _points(results)
    joint = _nn_joint_error(plan, results)
    series = fit_sigma2_series(temperatures, [p[0] for p in points], [p[1] for p in points], path, model=model,
                               covariance=joint["covariance"])
    series.update(method="nn", shell=results[0].shells[0]["scatterer"], sigma2_err_from=joint["from"],
                  error_correlation=np.round(joint["correlation"], 3).tolist(),
                  network_bias=np.round(joint["bias"], 6).tolist(),
                  sigma2_err=np.round(np.sqrt(np.diag(joint["covariance"])), 6).tolist(),
                  sigma2_posterior_sd=[p[1] for p in points], files=[str(r.source) for r in results])
    return {**series, "curve": _curve(series, path)}


def _fit_series(plan, results, temperatures, model, path) -> dict:
    """The fit's answer: one Larch feffit of all spectra; the two-step answer beside it."""
    points = _points(results)
    two = fit_sigma2_series(temperatures, [p[0] for p in points], [p[1] for p in points], path, model=model)
    two_step = {name: two[name] for name in ("theta_k", "theta_err", "sigma2_static", "sigma2_static_err",
                                             "chi2_reduced", "err_from")}
    two_step["how"] = "each spectrum fitted alone, then sigma2(T) fitted to their first-shell sigma2"
    series = {**_joint_fit(plan, results, temperatures, model), "sigma2": two["sigma2"],
              "sigma2_err": two["sigma2_err"], "two_step": two_step, "method": "fit",
              "shell": results[0].shells[0]["scatterer"],
              "sigma2_err_from": ("each spectrum's first-shell sigma2 error without its FEFF-amplitude part, "
                                  "common to all temperatures and absorbed by sigma2_static"),
              "files": [str(r.source) for r in results]}
    return {**series, "curve": _curve(series, path)}


def _curve(series: dict, path, points: int = 60) -> dict:
    """The fitted sigma2(T) (A^2) of the first shell on a grid from 0 to 1.2 times the highest temperature (K),
    for figures."""
    t = np.linspace(1.0, 1.2 * max(series["temperatures"]), points)
    s2 = series["sigma2_static"] + sigma2_thermal(series["model"], t, series["theta_k"], path)
    return {"t": np.round(t, 2).tolist(), "sigma2": np.round(s2, 6).tolist()}


def _joint_fit(plan, results, temperatures, model) -> dict:
    """The fit's answer for the series: one Larch feffit of every spectrum (their data on the fit's grid,
    the first spectrum's k range, R window and k weight, which the series shares)."""
    first = results[0]
    out = fit_series_joint([(r.arrays["fit_k"], r.arrays["fit_chi"]) for r in results], temperatures, plan.paths,
                           first.k_range, r_range=first.r_range, kweight=first.kweight, model=model,
                           l2_shift_ev=l2_shift(plan, first.k_range[1]))
    out["how"] = ("one Larch feffit of all spectra: shared amplitude, delta E0 and expansion, each path's sigma2 "
                  f"= sigma2_static + the {model} sigma2 at the spectrum's temperature")
    return out
