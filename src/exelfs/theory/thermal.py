"""Temperature dependence of the Debye-Waller factor: Larch's Einstein and correlated-Debye models for one
FEFF path. Temperatures in kelvin, sigma2 in angstrom^2."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..errors import InputError

MODELS = ("einstein", "debye")


def _check(model: str, path) -> None:
    if model not in MODELS:
        raise InputError(f"unknown sigma2(T) model '{model}': use one of {', '.join(MODELS)}")
    if getattr(path, "feffdat", None) is None:
        raise InputError("the sigma2(T) models need the FEFF path's geometry (feffNNNN.dat), which is missing")


def sigma2_thermal(model: str, temperature, theta: float, path) -> np.ndarray:
    """Thermal sigma2 (A^2) of ``path`` (a PathTable) at ``temperature`` (K, scalar or array) for a
    characteristic temperature ``theta`` (K): Larch's ``sigma2_eins`` or ``sigma2_debye``.

    Larch's functions take one temperature and a FeffPath; the path's parsed FeffDatFile (its geometry and
    masses) is all they read, so it is handed over as such."""
    from larch.xafs.sigma2_models import sigma2_debye, sigma2_eins

    _check(model, path)
    func = sigma2_eins if model == "einstein" else sigma2_debye
    larch_path = SimpleNamespace(_feffdat=path.feffdat)
    t = np.atleast_1d(np.asarray(temperature, float))
    return np.array([func(ti, theta, larch_path) for ti in t]).reshape(np.shape(temperature))


def sigma2_expression(model: str, temperature: float, path, theta: str = "theta") -> str:
    """The thermal sigma2 (A^2) of ``path`` at ``temperature`` (K) as a Larch/lmfit parameter expression in
    the parameter named ``theta`` (K): Larch's Einstein formula or its sigma2_correldebye, with the path's
    geometry and masses written in.

    Why not Larch's own 'sigma2_eins(T, theta)' in a path expression: that procedure reads the current
    path from the interpreter it was defined in, but lmfit's Minimizer fits a deep copy of the Parameters,
    whose paths are stored elsewhere; during the fit every path then gets the geometry of the last path
    prepared (measured on Cu: the first shell took a three-atom path's reduced mass, sigma2 x1.5)."""
    from larch.xafs.sigma2_models import EINS_FACTOR

    _check(model, path)
    geom = path.feffdat.geom
    t = f"{max(float(temperature), 1e-5):.6g}"
    if model == "einstein":   # as larch.xafs.sigma2_models.sigma2_eins
        rmass = 1.0 / max(1e-12, sum(1.0 / max(0.1, g[3]) for g in geom))
        return f"{EINS_FACTOR:.10g}/({theta}*{rmass:.8g}*tanh({theta}/(2*{t})))"
    x, y, z, m = ([float(g[i]) for g in geom] for i in (4, 5, 6, 3))
    return (f"sigma2_correldebye({len(geom)}, {t}, {theta}, {float(path.feffdat.rnorman):.8g}, "
            f"{x!r}, {y!r}, {z!r}, {m!r})")
