"""sigma2(T) of one shell over a temperature series, fitted with an Einstein or correlated-Debye model:
sigma2(T) = sigma2_static + sigma2_thermal(T; theta). Temperatures in K, sigma2 in A^2."""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from ..errors import InputError
from ..theory.thermal import MODELS, sigma2_expression, sigma2_thermal

THETA_BOUNDS = (20.0, 3000.0)   # K


def fit_sigma2_series(temperatures, sigma2, sigma2_err, path, model: str = "einstein", covariance=None) -> dict:
    """Weighted least squares of sigma2(T) for the FEFF ``path`` of the shell: the characteristic
    temperature ``theta_k`` (K) and ``sigma2_static`` (A^2), each with a 1-sigma error from the covariance,
    scaled by sqrt(reduced chi^2) when the points scatter more than their errors say. With two points
    only theta is fitted (static disorder taken as zero, and said so). ``covariance`` (M, M; A^4), when
    the points' errors are correlated, makes it generalised least squares (``sigma2_err`` then unused
    except for the record)."""
    t = np.asarray(temperatures, float)
    s2 = np.asarray(sigma2, float)
    err = np.asarray(sigma2_err, float)
    if not (t.size == s2.size == err.size) or t.size < 2:
        raise InputError("a temperature series needs at least two spectra, one temperature each")
    if np.any(t <= 0) or len(set(t.tolist())) < 2:
        raise InputError("series temperatures must be positive (kelvin) and not all the same")
    if not np.all(np.isfinite(s2)) or np.any(~np.isfinite(err) | (err <= 0)):
        raise InputError("every spectrum of the series needs a first-shell sigma2 with an error bar")
    with_static = t.size >= 3
    if covariance is None:
        whiten = np.diag(1.0 / err)
    else:
        covariance = np.asarray(covariance, float)
        if covariance.shape != (t.size, t.size) or not np.all(np.isfinite(covariance)):
            raise InputError("the series' error covariance must be a finite M x M matrix, M the number of spectra")
        try:
            whiten = np.linalg.inv(np.linalg.cholesky(covariance))
        except np.linalg.LinAlgError:
            raise InputError("the series' error covariance is not positive definite") from None

    def model_s2(p):
        return (p[1] if with_static else 0.0) + sigma2_thermal(model, t, p[0], path)

    p0 = [300.0, 0.0] if with_static else [300.0]
    lo = [THETA_BOUNDS[0], -0.01] if with_static else [THETA_BOUNDS[0]]
    hi = [THETA_BOUNDS[1], 0.03] if with_static else [THETA_BOUNDS[1]]
    fit = least_squares(lambda p: whiten @ (model_s2(p) - s2), p0, bounds=(lo, hi), x_scale=[100.0, 0.001][:len(p0)])
    dof = t.size - len(p0)
    chi2 = float(np.sum(fit.fun ** 2))
    red = chi2 / dof if dof > 0 else float("nan")
    try:
        cov = np.linalg.inv(fit.jac.T @ fit.jac)
    except np.linalg.LinAlgError:
        raise InputError("the series does not constrain the characteristic temperature: the sigma2 values "
                         "are too uncertain or the temperatures too close") from None
    scale = max(1.0, red) if np.isfinite(red) else 1.0
    perr = np.sqrt(np.diag(cov) * scale)
    out = {"model": model, "theta_k": round(float(fit.x[0]), 1), "theta_err": round(float(perr[0]), 1),
           "sigma2_static": round(float(fit.x[1]), 5) if with_static else 0.0,
           "sigma2_static_err": round(float(perr[1]), 5) if with_static else None,
           "chi2_reduced": None if not np.isfinite(red) else round(red, 3),
           "temperatures": t.tolist(), "sigma2": s2.tolist(), "sigma2_err": err.tolist(),
           "sigma2_model": [round(float(v), 6) for v in model_s2(fit.x)],
           "err_from": ("covariance of the " + ("weighted" if covariance is None else "generalised (correlated errors)")
                        + " fit" + (", scaled by sqrt(reduced chi^2)" if scale > 1 else "")),
           "on_bound": bool(np.any(np.isclose(fit.x[:1], THETA_BOUNDS, rtol=1e-3)))}
    if not with_static:
        out["note"] = "two temperatures: sigma2_static fixed at 0"
    return out


ALPHA_T_BOUNDS = (-2e-4, 2e-4)    # 1/K: linear thermal expansion (metals 0.5-3e-5 /K)
S2_STATIC_BOUNDS = (-0.01, 0.03)  # A^2


def _joint_params(n_window: int, model: str):
    """Parameters of the joint series fit: one amplitude, delta E0, expansion and thermal expansion for all
    spectra; theta and static sigma2 of the first shell; for further shells in the window their own
    amplitude, static sigma2 and (Einstein) theta."""
    from larch.fitting import param, param_group

    from .shells import BOUNDS, S02_ASSUMED

    def par(value, bounds):
        return param(value, vary=True, min=bounds[0], max=bounds[1])

    pars = {"amp": par(S02_ASSUMED, BOUNDS["amp"]), "del_e0": par(0.0, BOUNDS["del_e0"]),
            "expand": par(0.0, BOUNDS["alpha"]), "alpha_t": par(0.0, ALPHA_T_BOUNDS),
            "theta": par(300.0, THETA_BOUNDS), "s2_static": par(0.0, S2_STATIC_BOUNDS)}
    if n_window > 1:
        pars.update(amp_o=par(S02_ASSUMED, BOUNDS["amp"]), s2_static_o=par(0.0, S2_STATIC_BOUNDS))
        if model == "einstein":
            pars["theta_o"] = par(300.0, THETA_BOUNDS)
    return param_group(**pars)


def _joint_spec(fit_model: dict, temperature: float, model: str) -> list:
    """(path, amplitude, delta R, sigma2) expressions of one spectrum of the series at ``temperature`` (K):
    delta R = reff (expand + alpha_t T); sigma2 = static + the Einstein / correlated-Debye sigma2(T, theta)
    of each path's own geometry (exelfs.theory.thermal.sigma2_expression); paths leaking into the window
    from outside take the last window shell's parameters."""
    from .shells import OUTER_S2_FACTOR

    t = float(temperature)
    spec = []
    for i, sh in enumerate(fit_model["shells"]):
        static, theta = ("s2_static", "theta") if i == 0 else \
            ("s2_static_o", "theta_o" if model == "einstein" else "theta")
        spec += [(p, "amp" if i == 0 else "amp_o", f"{p.reff:.5f}*(expand + alpha_t*{t:g})",
                  f"{static} + {sigma2_expression(model, t, p, theta)}") for p in sh["paths"]]
    amp_out = "amp_o" if len(fit_model["shells"]) > 1 else "amp"
    # Einstein: one frequency per shell, so outer paths are taken as more disordered by OUTER_S2_FACTOR;
    # the correlated Debye model already gives each path the disorder of its own length
    factor = OUTER_S2_FACTOR if model == "einstein" else 1.0
    spec += [(p, amp_out, f"{p.reff:.5f}*(expand + alpha_t*{t:g})",
              f"{factor:g}*({static} + {sigma2_expression(model, t, p, theta)})") for p in fit_model["outer"]]
    return spec


def _joint_fit(grids, temperatures, fit_model, model, settings, start=None):
    """One Larch feffit over every spectrum; ``start``: parameter values to begin from."""
    from .shells import larch_path_set, run_feffit

    pg = _joint_params(len(fit_model["shells"]), model)
    for name, value in (start or {}).items():
        getattr(pg, name).value = value
    datasets, described = [], []
    for j, ((k, chi), t) in enumerate(zip(grids, temperatures)):
        paths, desc = larch_path_set(_joint_spec(fit_model, t, model), settings["l2_shift_ev"], settings["l2_weight"],
                                     prefix=f"t{j}p")
        datasets.append((k, chi, paths))
        described.append(desc)
    out = run_feffit(pg, datasets, settings["k_range"], settings["r_range"], settings["kweight"], settings["dk"],
                     settings["window"])
    out.described = described
    return out


def fit_series_joint(data, temperatures, paths, k_range, r_range=None, kweight=2, dk=1.0, window="hanning",
                     model: str = "einstein", l2_shift_ev=None, l2_weight=0.5, e0_starts=(-5.0, 0.0, 5.0)) -> dict:
    """sigma2(T) from one Larch feffit of every spectrum of the series at once (Larch's multiple-data-set
    fit, as its doc_feffit3 example): the spectra share the amplitude, delta E0 and the expansion (delta R
    = reff (expand + alpha_t T)); each path's sigma2 = sigma2_static + Larch's Einstein / correlated-Debye
    sigma2 at the spectrum's temperature. Compared with fitting each spectrum and then sigma2(T), the
    amplitude-sigma2 correlation is broken by the temperatures sharing one amplitude.

    data: [(k (1/A), chi)] one per temperature (K); k_range (1/A), r_range (A, automatic as for one
    spectrum when None). theta_err: Larch's (scaled to the misfit) and the spread over the other k
    weightings and the k range cut by 1 1/A at either end, in quadrature (``theta_err_budget``). The fitted
    model as data: ``model_params`` and ``model_paths`` (per spectrum, each path's Larch expressions)."""
    from .shells import _bounds, _uniform, _value, choice_variants, choose_model

    t = [float(v) for v in temperatures]
    if len(data) != len(t) or len(t) < 2 or len(set(t)) < 2:
        raise InputError("a joint series fit needs at least two spectra at different temperatures, one each")
    if model not in MODELS:
        raise InputError(f"unknown sigma2(T) model '{model}': use one of {', '.join(MODELS)}")
    grids = [_uniform(k, chi) for k, chi in data]
    if any(np.array_equal(a[1], b[1]) for i, a in enumerate(grids) for b in grids[i + 1:]):
        # Larch names each dataset's path parameters from a hash of its data: two equal spectra would share them
        raise InputError("the series holds the same chi(k) twice: give one distinct spectrum per temperature")
    kmax = min(float(g[0].max()) for g in grids)
    k_range = (float(k_range[0]), min(float(k_range[1]), kmax))
    fit_model, r_range, _, nidp = choose_model(paths, k_range, r_range)
    settings = {"k_range": k_range, "r_range": r_range, "kweight": kweight, "dk": dk, "window": window,
                "l2_shift_ev": l2_shift_ev, "l2_weight": l2_weight}
    fits = []
    for e0 in e0_starts:
        try:
            fits.append(_joint_fit(grids, t, fit_model, model, settings, {"del_e0": e0}))
        except Exception:  # noqa: BLE001 - a failed start is not fatal while another converges
            continue
    if not fits:
        raise InputError("the joint series fit failed from every start: the chi(k) data may be empty or flat")
    best = min(fits, key=lambda o: o.chi_square)
    theta, theta_stat = _value(best, "theta")
    start = {name: q.value for name, q in best.params.items() if getattr(q, "vary", False)}
    spread = 0.0
    for kw, kr in choice_variants(k_range, kweight):
        v = dict(settings, kweight=kw, k_range=kr)
        try:
            spread = max(spread, abs(_value(_joint_fit(grids, t, fit_model, model, v, start), "theta")[0] - theta))
        except Exception:  # noqa: BLE001 - a variant that fails adds no spread
            continue
    if not np.isfinite(theta_stat):
        raise InputError("the joint series fit does not constrain the characteristic temperature (singular "
                         "covariance): the spectra are too noisy or their temperatures too close")
    warnings: list[str] = []
    hit = _bounds(best, warnings)
    s2_static, s2_static_err = _value(best, "s2_static")
    first = fit_model["shells"][0]
    path = first["paths"][0]
    expand, alpha_t = _value(best, "expand")[0], _value(best, "alpha_t")[0]
    return {"model": model, "theta_k": round(theta, 1), "theta_err": round(float(np.hypot(theta_stat, spread)), 1),
            "theta_err_budget": {"statistical": round(theta_stat, 1), "analysis_choices": round(spread, 1)},
            "sigma2_static": round(s2_static, 5),
            "sigma2_static_err": round(s2_static_err, 5) if np.isfinite(s2_static_err) else None,
            "sigma2_model": [round(float(v), 6) for v in s2_static + sigma2_thermal(model, np.array(t), theta, path)],
            "r_model": [round(first["reff"] * (1 + expand + alpha_t * ti), 4) for ti in t],
            "alpha_t": float(f"{alpha_t:.3g}"), "amplitude": round(_value(best, "amp")[0], 3),
            "e0_shift": round(_value(best, "del_e0")[0], 2), "temperatures": t,
            "chi2_reduced": round(float(best.chi2_reduced), 3), "r_factor": round(float(best.rfactor), 5),
            "n_independent": round(nidp * len(t), 1), "n_parameters": int(best.nvarys),
            "k_range": [round(k_range[0], 3), round(k_range[1], 3)], "r_range": [round(r_range[0], 3), round(r_range[1], 3)],
            "kweight": kweight, "shell": first["scatterer"], "bounds_hit": hit, "warnings": warnings,
            "on_bound": "theta" in hit, "dk": dk, "window": window,
            "model_params": {name: {"value": float(q.value), "vary": True, "min": float(q.min), "max": float(q.max)}
                             for name, q in best.params.items() if getattr(q, "vary", False)},
            "model_paths": [[{key: p[key] for key in ("name", "filename", "reff", "s02", "e0", "deltar", "sigma2")}
                             for p in desc] for desc in best.described],
            "err_from": ("Larch's feffit over all spectra at once (uncertainty scaled to the misfit), and the "
                         "spread over the other k weightings and k ranges, in quadrature")}
