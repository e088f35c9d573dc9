"""Structure variation beyond one crystal: thermally disordered and distorted clusters.

A disordered cluster gives a distribution of absorber-neighbour distances per shell instead of one
distance. Its chi(k) is the sum over neighbours (histogrammed in narrow bins) of the nearest FEFF
single-scattering path of the same scatterer, moved to the neighbour's distance: the EXAFS equation then
rescales 1/R^2 and the mean-free-path damping exp(-2R/lambda) and shifts the phase 2kR for that distance.

Units: angstrom, angstrom^2 (sigma2), 1/angstrom (k).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .exafs import chi_from_paths


def thermal_displacements(atoms, sigma2: float, rng, fixed_absorber: bool = False):
    """A copy of `atoms` (ase.Atoms) with independent isotropic Gaussian displacements.

    Each Cartesian component has variance sigma2/2 (angstrom^2), so that the variance of every
    absorber-neighbour distance (the EXAFS sigma2, uncorrelated motion) is sigma2; with
    ``fixed_absorber`` the absorber (atom 0) stays put and the neighbours get variance sigma2 each.
    """
    if sigma2 < 0:
        raise InputError("sigma2 must be >= 0 (angstrom^2)")
    out = atoms.copy()
    n = len(out)
    per_component = sigma2 if fixed_absorber else sigma2 / 2.0
    disp = rng.normal(0.0, np.sqrt(per_component), size=(n, 3))
    if fixed_absorber:
        disp[0] = 0.0
    out.positions = out.positions + disp
    return out


def strain(atoms, magnitude: float, rng):
    """A copy of `atoms` under a random symmetric strain (components ~ N(0, magnitude)), absorber kept at 0."""
    out = atoms.copy()
    e = rng.normal(0.0, magnitude, size=(3, 3))
    e = 0.5 * (e + e.T)
    out.positions = out.positions @ (np.eye(3) + e).T
    return out


def neighbour_distances(atoms, rmax: float = 6.0, absorber_index: int = 0):
    """Distances (angstrom) and symbols of all atoms within rmax of the absorber, in rising distance."""
    rel = atoms.positions - atoms.positions[absorber_index]
    d = np.linalg.norm(rel, axis=1)
    keep = (d > 1e-6) & (d <= rmax)
    keep[absorber_index] = False
    order = np.argsort(d[keep])
    symbols = np.array(atoms.get_chemical_symbols())[keep][order]
    return d[keep][order], symbols


def disordered_ensemble(cluster, sigma2: float = 0.005, n_snapshots: int = 50, strain_magnitude: float = 0.0,
                        rmax: float = 6.0, seed=None, rng=None):
    """Distances of an ensemble of disordered snapshots of a cluster (absorber = atom 0).

    Returns (distances, symbols, weights): every absorber-neighbour distance of every snapshot, with
    weight 1/n_snapshots (so that summed weights per shell are coordination numbers).
    """
    rng = rng if rng is not None else np.random.default_rng(seed)
    ds, ss = [], []
    for _ in range(int(n_snapshots)):
        snap = strain(cluster, strain_magnitude, rng) if strain_magnitude > 0 else cluster
        snap = thermal_displacements(snap, sigma2, rng) if sigma2 > 0 else snap
        d, s = neighbour_distances(snap, rmax + 0.5)
        ds.append(d)
        ss.append(s)
    d = np.concatenate(ds)
    s = np.concatenate(ss)
    keep = d <= rmax
    return d[keep], s[keep], np.full(int(keep.sum()), 1.0 / n_snapshots)


def shell_statistics(distances, weights, r_lo: float, r_hi: float) -> dict:
    """Coordination n, mean distance r (angstrom) and variance sigma2 (angstrom^2) of r_lo <= d < r_hi."""
    d = np.asarray(distances)
    w = np.asarray(weights)
    sel = (d >= r_lo) & (d < r_hi)
    n = float(w[sel].sum())
    if n <= 0:
        return {"n": 0.0, "r": float("nan"), "sigma2": float("nan"), "third": float("nan")}
    mean = float(np.sum(w[sel] * d[sel]) / n)
    var = float(np.sum(w[sel] * (d[sel] - mean) ** 2) / n)
    third = float(np.sum(w[sel] * (d[sel] - mean) ** 3) / n)
    return {"n": n, "r": mean, "sigma2": var, "third": third}


def chi_from_distances(paths, k, distances, symbols, weights, s02: float = 1.0, e0: float = 0.0,
                       bin_width: float = 0.005, include_ms: bool = False, ms_sigma2: float = 0.005,
                       dtype=np.float64) -> np.ndarray:
    """chi(k) of a distance distribution (e.g. :func:`disordered_ensemble`), single scattering per neighbour.

    Distances are histogrammed (bin_width, angstrom) per scatterer; each bin becomes the nearest FEFF
    single-scattering path of that scatterer moved to the bin distance (deltar = r - reff, degeneracy =
    summed weight, sigma2 = 0). With ``include_ms`` the multiple-scattering paths are added at their own
    distance with sigma2 = ms_sigma2 (angstrom^2).
    """
    k = np.asarray(k, float)
    d = np.asarray(distances, float)
    sym = np.asarray(symbols)
    w = np.asarray(weights, float)
    ss = [p for p in paths if int(p.nleg) == 2]
    if not ss:
        raise InputError("no single-scattering paths among the FEFF paths")
    chi = np.zeros(k.size)
    owner = np.empty(d.size, int)
    for i in range(d.size):
        cand = [j for j, p in enumerate(ss) if p.scatterers and p.scatterers[0] == sym[i]] or list(range(len(ss)))
        owner[i] = min(cand, key=lambda j: abs(ss[j].reff - d[i]))
    for j, p in enumerate(ss):
        sel = owner == j
        if not np.any(sel):
            continue
        lo = d[sel].min() - bin_width
        edges = np.arange(lo, d[sel].max() + 2 * bin_width, bin_width)
        hist, _ = np.histogram(d[sel], bins=edges, weights=w[sel])
        centres = 0.5 * (edges[1:] + edges[:-1])
        nz = hist > 0
        if not np.any(nz):
            continue
        part = chi_from_paths([p], k, {"s02": s02, "e0": e0, "deltar": (centres[nz] - p.reff)[:, None],
                                       "degen": hist[nz][:, None]}, dtype=dtype)
        chi += part.sum(axis=0)
    if include_ms:
        ms = [p for p in paths if int(p.nleg) > 2]
        if ms:
            chi += chi_from_paths(ms, k, {"s02": s02, "e0": e0, "sigma2": ms_sigma2}, dtype=dtype)
    return chi


def radial_distribution(distances, weights, r, broadening: float = 0.01, density: float | None = None):
    """Radial distribution around the absorber on grid r (angstrom), a training target.

    Returns n(r) = sum_i w_i N(r; d_i, broadening) in atoms per angstrom (its integral over a shell is the
    coordination number); with `density` (atoms per angstrom^3) returns g(r) = n(r) / (4 pi r^2 density).
    """
    r = np.asarray(r, float)
    d = np.asarray(distances, float)
    w = np.asarray(weights, float)
    s = float(broadening)
    n = np.zeros_like(r)
    for start in range(0, d.size, 4096):  # chunks keep memory flat for big ensembles
        dd, ww = d[start:start + 4096], w[start:start + 4096]
        n += (ww[:, None] * np.exp(-0.5 * ((r[None, :] - dd[:, None]) / s) ** 2)).sum(axis=0)
    n /= s * np.sqrt(2 * np.pi)
    if density is None:
        return n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, n / (4 * np.pi * r**2 * density), 0.0)
