"""sigma2(T) of one shell over a temperature series, fitted with an Einstein or correlated-Debye model:
sigma2(T) = sigma2_static + sigma2_thermal(T; theta). Temperatures in K, sigma2 in A^2."""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from ..errors import InputError
from ..theory.thermal import sigma2_thermal

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
