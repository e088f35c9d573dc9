"""Fourier transforms of chi(k): thin wrappers over Larch's ``xftf`` / ``xftr`` (k in 1/angstrom,
r in angstrom)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def _larch_group():
    from larch import Group

    return Group()


def fourier_transform(k, chi, kmin: float, kmax: float, kweight: float = 2, dk: float = 1.0,
                      window: str = "hanning", rmax_out: float = 10.0):
    """chi(R) of k^kweight * chi(k) windowed over [kmin, kmax] (1/angstrom) by Larch ``xftf``.

    Returns (r in angstrom, chir complex). ``|chir|`` is Larch's ``chir_mag``."""
    from larch.xafs import xftf

    k = np.asarray(k, float)
    chi = np.asarray(chi, float)
    if k.shape != chi.shape or k.size < 4:
        raise InputError("k and chi must be arrays of the same length (at least 4 points)")
    if not kmax > kmin:
        raise InputError(f"empty k range for the Fourier transform: kmin={kmin}, kmax={kmax}")
    group = _larch_group()
    xftf(k, chi, group=group, kmin=kmin, kmax=kmax, kweight=kweight, dk=dk, window=window,
         rmax_out=rmax_out)
    return np.asarray(group.r), np.asarray(group.chir)


def back_transform(r, chir, rmin: float, rmax: float, dr: float = 0.5, window: str = "hanning",
                   kmax_out: float | None = None):
    """Back-transform chi(R) over [rmin, rmax] (angstrom) to q-space (Larch ``xftr``).

    Returns (q in 1/angstrom, chiq complex) where chiq is the filtered k^kweight * chi(q)."""
    from larch.xafs import xftr

    r = np.asarray(r, float)
    chir = np.asarray(chir, complex)
    if not rmax > rmin:
        raise InputError(f"empty R range for the back-transform: rmin={rmin}, rmax={rmax}")
    group = _larch_group()
    xftr(r, chir, group=group, rmin=rmin, rmax=rmax, dr=dr, window=window)
    q, chiq = np.asarray(group.q), np.asarray(group.chiq)
    if kmax_out is not None:
        keep = q <= kmax_out
        q, chiq = q[keep], chiq[keep]
    return q, chiq
