"""Temperature dependence of the Debye-Waller factor: Larch's Einstein and correlated-Debye models for one
FEFF path. Temperatures in kelvin, sigma2 in angstrom^2."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..errors import InputError

MODELS = ("einstein", "debye")


def sigma2_thermal(model: str, temperature, theta: float, path) -> np.ndarray:
    """Thermal sigma2 (A^2) of ``path`` (a PathTable) at ``temperature`` (K, scalar or array) for a
    characteristic temperature ``theta`` (K): Larch's ``sigma2_eins`` or ``sigma2_debye``.

    Larch's functions take one temperature and a FeffPath; the path's parsed FeffDatFile (its geometry and
    masses) is all they read, so it is handed over as such."""
    from larch.xafs.sigma2_models import sigma2_debye, sigma2_eins

    if model not in MODELS:
        raise InputError(f"unknown sigma2(T) model '{model}': use one of {', '.join(MODELS)}")
    if getattr(path, "feffdat", None) is None:
        raise InputError("the sigma2(T) models need the FEFF path's geometry (feffNNNN.dat), which is missing")
    func = sigma2_eins if model == "einstein" else sigma2_debye
    larch_path = SimpleNamespace(_feffdat=path.feffdat)
    t = np.atleast_1d(np.asarray(temperature, float))
    return np.array([func(ti, theta, larch_path) for ti in t]).reshape(np.shape(temperature))
