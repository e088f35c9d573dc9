"""The EXAFS equation over FEFF paths, vectorised over a batch of parameter sets.

``chi_from_paths(paths, k, params)`` reproduces Larch's ``path2chi``/``ff2chi`` (larch/xafs/feffdat.py,
``FeffPathGroup._calc_chi``) term by term, but for a whole batch (B parameter sets, P paths, K k-points)
with numpy broadcasting:

    q   = sign(en) sqrt(|en|),  en = k^2 - e0 * ETOK                      (e0-shifted wavenumber, 1/A)
    amp, pha, rep, lam  = FEFF arrays at q (Larch: UnivariateSpline(s=0) of amp*red_fact, pha, rep, lam)
    pp  = (rep + i/lam)^2 + i ei ETOK,  p = sqrt(pp)                         (complex wavenumber)
    chi = Im[ N S0^2 amp / (q (reff+dR)^2) exp(-2 reff Im p - 2 pp (sigma2 - pp c4/3)
                + i (2 q reff + pha + 2 p (dR - 2 sigma2/reff - 2 pp c3/3))) ]
    chi[0] = 2 chi[1] - chi[2]

Why not Larch itself: Larch evaluates one path for one parameter set per call (through lmfit Parameters
and asteval), ~1 ms per path; training sets need 10^5..10^6 spectra. Larch's splines are evaluated once
here on a fine uniform q grid (step 0.002 1/A) and linearly interpolated, which agrees with Larch to
~1e-6 of the signal.

Units: k, q in 1/angstrom; e0, ei in eV; deltar, reff in angstrom; sigma2 in angstrom^2; third (c3) in
angstrom^3; fourth (c4) in angstrom^4.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..theory.shells import group_shells
from ..units import ETOK

SMALL_ENERGY = 1.0e-6

GLOBAL_KEYS = ("s02", "e0", "ei", "alpha")
PATH_KEYS = ("deltar", "sigma2", "third", "fourth", "degen", "nscale")
TABLE_STEP = 0.002  # 1/angstrom, step of the fine q table


@dataclass(frozen=True)
class _Tables:
    """FEFF arrays of P paths resampled on one fine uniform q grid (q0 + i*step).

    ``rows[m]`` holds, for grid point m and then m+1, the P values of amplitude ``amp*red_fact`` and of
    total phase ``pha + 2 q reff`` (exact under linear interpolation); ``kin[m]`` the same for ``rep`` and
    ``1/lam``, once when every path shares them (one FEFF run: they belong to the absorber), else per path.
    A single row gather gives both interpolation nodes of every quantity.
    """

    q0: float
    step: float
    rows: np.ndarray  # (M-1, 4P)
    kin: np.ndarray  # (M-1, 4) shared or (M-1, 4P)
    reff: np.ndarray  # (P,)
    degen: np.ndarray  # (P,)
    casts: dict = field(default_factory=dict, compare=False, repr=False)  # dtype -> (rows, kin) in it


_TABLE_CACHE: dict = {}


def _path_key(path) -> tuple:
    return (str(getattr(path, "filename", "")), float(path.reff), float(path.degen), int(len(path.k)),
            float(np.sum(path.amp)), float(np.sum(path.phase)), float(np.sum(path.lam)))


def _nodes(v):
    """(n, c) values at grid points -> (n-1, 2c) rows [values at m, values at m+1]."""
    return np.ascontiguousarray(np.concatenate([v[:-1], v[1:]], axis=1))


def path_tables(paths, qmin: float = -3.0, qmax: float | None = None) -> _Tables:
    """Resample the FEFF arrays of `paths` (PathTable-like) onto a fine uniform q grid (cached)."""
    from scipy.interpolate import UnivariateSpline

    if not paths:
        raise InputError("no scattering paths given: run theory.feff_paths first")
    if qmax is None:
        qmax = max(float(np.max(p.k)) for p in paths) + 2.0
    key = (tuple(_path_key(p) for p in paths), qmin, qmax)
    if key in _TABLE_CACHE:
        return _TABLE_CACHE[key]
    n = int(round((qmax - qmin) / TABLE_STEP)) + 1
    q = qmin + TABLE_STEP * np.arange(n)
    npaths = len(paths)
    reff = np.array([float(p.reff) for p in paths])
    first = paths[0]
    shared = all(len(p.k) == len(first.k) and np.array_equal(p.k, first.k) and np.array_equal(p.rep, first.rep)
                 and np.array_equal(p.lam, first.lam) for p in paths)

    def spline(x, y):  # Larch's interpolation: UnivariateSpline(k, y, s=0)
        return UnivariateSpline(np.asarray(x, float), np.asarray(y, float), s=0)(q)

    ap = np.empty((n, 2 * npaths))
    for i, p in enumerate(paths):
        # exactly the arrays Larch splines: amp = mag_feff*red_fact, pha = real_phc + pha_feff
        ap[:, i] = spline(p.k, np.asarray(p.amp, float) * np.asarray(p.red_fact, float))
        ap[:, npaths + i] = spline(p.k, p.phase) + 2 * q * reff[i]
    kin_paths = paths[:1] if shared else paths
    kin = np.empty((n, 2 * len(kin_paths)))
    for i, p in enumerate(kin_paths):
        kin[:, i] = spline(p.k, p.rep)
        kin[:, len(kin_paths) + i] = 1.0 / spline(p.k, p.lam)
    tab = _Tables(q0=qmin, step=TABLE_STEP, rows=_nodes(ap), kin=_nodes(kin), reff=reff,
                  degen=np.array([float(p.degen) for p in paths]))
    if len(_TABLE_CACHE) > 64:
        _TABLE_CACHE.clear()
    _TABLE_CACHE[key] = tab
    return tab


def _as_batch(params: dict, npaths: int):
    """Normalise parameters: globals to (B, 1, 1), per-path values to (B, P, 1); returns (dict, B or None)."""
    unknown = set(params) - set(GLOBAL_KEYS) - set(PATH_KEYS)
    if unknown:
        raise InputError(f"unknown EXAFS parameter(s) {sorted(unknown)}: use {GLOBAL_KEYS + PATH_KEYS}")
    batch = None
    out = {}
    for key, val in params.items():
        if val is None:
            continue
        a = np.asarray(val, dtype=float)
        if key in GLOBAL_KEYS:
            if a.ndim > 1:
                raise InputError(f"parameter '{key}' must be a scalar or a (batch,) array, got shape {a.shape}")
            if a.ndim == 1:
                batch = _merge_batch(batch, a.shape[0], key)
            out[key] = a.reshape(-1, 1, 1) if a.ndim == 1 else a.reshape(1, 1, 1)
        else:
            if a.ndim == 0:
                a = np.full((1, 1), float(a))
            elif a.ndim == 1:
                if a.shape[0] not in (1, npaths):
                    raise InputError(f"parameter '{key}' has {a.shape[0]} values for {npaths} paths")
                a = a.reshape(1, -1)
            elif a.ndim == 2:
                if a.shape[1] not in (1, npaths):
                    raise InputError(f"parameter '{key}' has shape {a.shape}: expected (batch, {npaths})")
                batch = _merge_batch(batch, a.shape[0], key)
            else:
                raise InputError(f"parameter '{key}' must be at most 2-D (batch, paths), got {a.shape}")
            out[key] = a[:, :, None]
    return out, batch


def _merge_batch(batch, n, key):
    if batch is None or batch == 1:
        return n
    if n == 1:
        return batch
    if n != batch:
        raise InputError(f"parameter '{key}' has batch size {n}, others have {batch}")
    return batch


def chi_from_paths(paths, k, params: dict | None = None, dtype=np.float64, threads: int | None = None,
                   chunk_elements: int = 250_000) -> np.ndarray:
    """chi(k) summed over FEFF paths for one or a batch of parameter sets (Larch's ff2chi, vectorised).

    paths: list of PathTable (exelfs.theory.feff_paths) or anything with reff, degen, k, amp, phase,
        red_fact, lam, rep.
    k: (K,) output k grid, 1/angstrom (Larch's default is 0.05*arange(n)).
    params: dict of arrays. Global (scalar or (B,)): ``s02`` (default 1), ``e0`` (eV, 0), ``ei`` (eV, 0),
        ``alpha`` (lattice expansion: adds alpha*reff to every path's deltar). Per path (scalar, (P,) for
        all sets, or (B, P) / (B, 1)): ``deltar`` (A), ``sigma2`` (A^2), ``third`` (A^3), ``fourth``
        (A^4), ``degen`` (absolute degeneracy, default the path's) and ``nscale`` (multiplies degen).
    dtype: np.float64 or np.float32 (float32: ~2x faster, ~1e-6 relative error).
    Returns (B, K), or (K,) when no parameter has a batch axis.
    """
    params = {} if params is None else dict(params)
    k = np.asarray(k, dtype=float)
    if k.ndim != 1 or k.size < 3:
        raise InputError("k must be a 1-D grid of at least 3 points (1/angstrom)")
    tab = path_tables(paths)
    npaths = tab.reff.size
    p, batch = _as_batch(params, npaths)
    nb = 1 if batch is None else batch
    nk = k.size
    rows = max(1, int(chunk_elements // (npaths * nk)))
    starts = list(range(0, nb, rows))
    out = np.empty((nb, nk), dtype=dtype)

    def work(s):
        e = min(s + rows, nb)
        out[s:e] = _chi_chunk(tab, k, {key: (v if v.shape[0] == 1 else v[s:e]) for key, v in p.items()},
                              e - s, dtype)

    nthreads = threads or min(len(starts), os.cpu_count() or 1, 8)
    if nthreads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(nthreads) as pool:  # numpy ufuncs release the GIL
            list(pool.map(work, starts))
    else:
        for s in starts:
            work(s)
    return out[0] if batch is None else out


def _chi_chunk(tab: _Tables, k, p, nb, dtype):
    """chi for nb parameter sets: arrays (nb|1, P|1, 1) in p; returns (nb, K).

    Layout (b, P, K), k innermost so that every ufunc runs long inner loops; one row gather fetches both
    interpolation nodes of all path quantities; paths are summed with one batched matmul."""
    f = dtype
    npaths = tab.reff.size
    e0 = p["e0"][:, 0, 0] if "e0" in p else np.zeros(1)
    en = k[None, :] ** 2 - e0[:, None] * ETOK  # (b|1, K)
    if np.any(np.abs(en) < SMALL_ENERGY):  # Larch's guard against q = 0
        en[np.abs(en) < 1.5 * SMALL_ENERGY] = SMALL_ENERGY
    q = np.sign(en) * np.sqrt(np.abs(en))
    x = (q - tab.q0) / tab.step
    i0 = np.clip(np.floor(x).astype(np.intp), 0, tab.rows.shape[0] - 1)
    w = (x - i0).astype(f)[:, None, :]  # (b|1, 1, K)
    rows, kin = _cast_rows(tab, f)

    nb_ = i0.shape[0]

    def interpolate(table, nq, name):  # values at q, layout (b, quantity, K), in a reused work buffer
        raw = _workspace(name + "_raw", (nb_, i0.shape[1], 2 * nq), f)
        np.take(table, i0, axis=0, out=raw)
        g = _workspace(name, (nb_, 2 * nq, i0.shape[1]), f)
        np.copyto(g, raw.transpose(0, 2, 1))
        lo, hi = g[:, :nq], g[:, nq:]
        hi -= lo
        hi *= w
        hi += lo
        return hi

    ap = interpolate(rows, 2 * npaths, "ap")
    amp, phase = ap[:, :npaths], ap[:, npaths:]  # (b|1, P, K)
    nkin = kin.shape[1] // 4
    rk = interpolate(kin, 2 * nkin, "kin")
    rep, ilam = rk[:, :nkin], rk[:, nkin:]  # (b|1, 1 or P, K)

    def get(key):  # (b|1, P|1, 1)
        val = p.get(key)
        return None if val is None else val.astype(f)

    reff = tab.reff.astype(f)[None, :, None]
    sigma2 = get("sigma2")
    deltar = get("deltar")
    if "alpha" in p:
        dr_alpha = p["alpha"].astype(f) * reff
        deltar = dr_alpha if deltar is None else deltar + dr_alpha
    third, fourth, ei = get("third"), get("fourth"), p.get("ei")
    general = (ei is not None and np.any(ei != 0)) or (fourth is not None and np.any(fourth != 0)) or (
        third is not None and np.any(third != 0))
    dd = np.zeros((1, 1, 1), f) if deltar is None else deltar
    if sigma2 is not None:
        dd = dd - 2 * sigma2 / reff  # dR - 2 sigma2/reff
    if not general:
        # p = rep + i/lam, pp = rep^2 - 1/lam^2 + 2i rep/lam:
        # Re: -2 reff/lam - 2 sigma2 Re(pp) - 2 dd/lam ; Im: 2 q reff + pha + 2 dd rep - 2 sigma2 Im(pp)
        nrow = max([nb_] + [v.shape[0] for v in p.values()])
        shape = (nrow, npaths, i0.shape[1])
        re_e = _workspace("re", shape, f)
        im_e = _workspace("im", shape, f)
        np.multiply(ilam, -2 * (reff + dd), out=re_e)
        np.multiply(rep, 2 * dd, out=im_e)
        im_e += phase
        if sigma2 is not None:
            tmp = _workspace("tmp", shape, f)
            ppr = rep * rep - ilam * ilam  # (b, 1|P, K): cheap when shared by the paths
            ppi = 2 * rep * ilam
            np.multiply(ppr, 2 * sigma2, out=tmp)
            re_e -= tmp
            np.multiply(ppi, 2 * sigma2, out=tmp)
            im_e -= tmp
    else:
        pp = (rep + 1j * ilam) ** 2
        if ei is not None:
            pp = pp + 1j * (ei * ETOK)
        pc = np.sqrt(pp)
        expo = -2 * reff * pc.imag + 0j
        if sigma2 is not None:
            expo = expo - 2 * pp * sigma2
        if fourth is not None:
            expo = expo + 2 * pp * pp * fourth / 3
        arg = 2 * pc * dd
        if third is not None:
            arg = arg - 4 * pc * pp * third / 3
        expo = expo + 1j * arg
        re_e = expo.real.astype(f)
        im_e = (expo.imag + phase).astype(f)
        del pp, pc, expo, arg
    np.exp(re_e, out=re_e)
    np.sin(im_e, out=im_e)
    re_e *= im_e
    re_e *= amp
    degen = p["degen"].astype(f) if "degen" in p else tab.degen.astype(f)[None, :, None]
    if "nscale" in p:
        degen = degen * p["nscale"].astype(f)
    s02 = p["s02"].astype(f) if "s02" in p else f(1.0)
    rr = reff + (deltar if deltar is not None else f(0))
    scale = degen * s02 / (rr * rr)  # (b|1, P|1, 1)
    scale = np.broadcast_to(scale, (re_e.shape[0], npaths, 1)).astype(f).transpose(0, 2, 1)
    chi = np.matmul(scale, re_e)[:, 0, :]  # (b|1, K)
    chi /= q.astype(f)
    chi[:, 0] = 2 * chi[:, 1] - chi[:, 2]  # Larch's extrapolation of the first point
    if chi.shape[0] != nb:
        chi = np.broadcast_to(chi, (nb, chi.shape[1]))
    return chi


_LOCAL = threading.local()


def _workspace(name, shape, dtype):
    """A reusable per-thread work array (avoids page-faulting fresh large arrays for every chunk)."""
    store = getattr(_LOCAL, "arrays", None)
    if store is None:
        store = _LOCAL.arrays = {}
    size = int(np.prod(shape))
    buf = store.get((name, np.dtype(dtype).str))
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype)
        store[(name, np.dtype(dtype).str)] = buf
    return buf[:size].reshape(shape)


def _cast_rows(tab, f):
    """The interpolation tables in dtype f, kept with the tables themselves (a cache keyed by id(tab) handed
    a new table the casts of a freed one that had the same id)."""
    if tab.rows.dtype == f:
        return tab.rows, tab.kin
    key = np.dtype(f).str
    if key not in tab.casts:
        tab.casts[key] = (tab.rows.astype(f), tab.kin.astype(f))
    return tab.casts[key]


def shell_to_path_params(paths, shell_params: dict, shells: list[dict] | None = None) -> dict:
    """Expand per-shell parameters (B, S) to per-path parameters (B, P) for chi_from_paths.

    shell_params: ``deltar`` (A), ``sigma2`` (A^2), ``nscale``, optional ``third`` — each (B, S) for the S
    single-scattering shells of :func:`exelfs.theory.group_shells`; globals (``s02``, ``e0``, ``alpha``...) pass through.
    Multiple-scattering paths get the relative expansion of the shells (deltar = mean(dR/R) * reff), the
    sigma2 of the nearest shell below their reff, and their own degeneracy.
    """
    shells = group_shells(paths) if shells is None else shells
    out = {k: v for k, v in shell_params.items() if k in GLOBAL_KEYS}
    ns = len(shells)
    reff = np.array([float(p.reff) for p in paths])
    owner = np.full(len(paths), -1)
    for j, sh in enumerate(shells):
        owner[sh["index"]] = j
    sreff = np.array([sh["reff"] for sh in shells])
    for key in ("deltar", "sigma2", "nscale", "third"):
        if key not in shell_params:
            continue
        v = np.asarray(shell_params[key], float)
        v2 = v.reshape(-1, v.shape[-1]) if v.ndim else np.full((1, ns), float(v))
        if v2.shape[-1] != ns:
            raise InputError(f"shell parameter '{key}' has {v2.shape[-1]} values for {ns} shells")
        pv = np.empty((v2.shape[0], len(paths)))
        for i in range(len(paths)):
            if owner[i] >= 0:
                pv[:, i] = v2[:, owner[i]]
            elif key == "deltar":
                pv[:, i] = np.mean(v2 / sreff, axis=1) * reff[i]
            elif key == "sigma2":
                below = np.nonzero(sreff <= reff[i] + 1e-6)[0]
                pv[:, i] = v2[:, below[-1] if below.size else 0]
            elif key == "nscale":
                pv[:, i] = 1.0
            else:
                pv[:, i] = 0.0
        out[key] = pv if v.ndim > 1 else pv[0]
    return out


def standard_k(kmax: float = 16.0, kstep: float = 0.05) -> np.ndarray:
    """Larch's k grid: kstep * arange(int(1.01 + kmax/kstep)), 1/angstrom."""
    return kstep * np.arange(int(1.01 + kmax / kstep), dtype=float)
