"""Fast disordered ensembles for training the partial-RDF network: per crystal shell, a distribution of
absorber-neighbour distances written as a small Gaussian mixture, and its chi(k) and n_B(r).

Per sample, every single-scattering shell of the crystal (theory.shells.group_shells) gets a mean
distance reff (1 + alpha) + its own shift, a variance sigma2, a skew (anharmonic: a quadratic transform
of the Gauss-Hermite nodes, third cumulant > 0 for a soft outer wall), a coordination reduced by
small-particle truncation (a sphere of diameter D: N(r) = N (1 - 3r/2D + r^3/2D^3)) and, for the inner
shells, a fraction of its atoms swapped to another kind present in the structure (mixed occupancy).
The distribution is a mixture of NODES Gaussians (width RESID sigma each). chi(k) sums, per component,
the FEFF single-scattering path of that kind nearest the shell, moved to the component's distance with
the component's sigma2 (the EXAFS equation of a Gaussian), plus the multiple-scattering paths following
the lattice; n_B(r) is the same mixture broadened by ``broadening``, so both describe one distribution.

Units: angstrom, angstrom^2 (sigma2), 1/angstrom (k); n_B(r) in atoms per angstrom.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..theory.shells import group_shells
from .disorder import chi_from_distances, disordered_ensemble, radial_distribution
from .exafs import chi_from_paths

NODES = 5          # Gauss-Hermite components per shell
RESID = 0.5        # width of each component / sigma of the shell
SWAP_RMAX = 3.6    # A: shells up to here can hold a second kind of atom (mixed occupancy)
MS_RMAX = 5.0      # A: multiple-scattering paths kept in chi (a nuisance, not in the RDF)
FAMILIES = {  # kind of ensemble: first-shell sigma2 (A^2, log-uniform), skew c, particle diameter D (A)
    "crystal": {"sigma2": (0.001, 0.008), "skew": (0.0, 0.0), "diameter": None},
    "disordered": {"sigma2": (0.008, 0.03), "skew": (-0.05, 0.1), "diameter": None},
    "anharmonic": {"sigma2": (0.003, 0.02), "skew": (0.08, 0.3), "diameter": None},
    "small_particle": {"sigma2": (0.002, 0.015), "skew": (0.0, 0.1), "diameter": (8.0, 30.0)},
}


def kinds_of(shells) -> list[str]:
    """The kinds of neighbour (scatterer symbols) among the shells, in order of first appearance."""
    return list(dict.fromkeys(s["scatterer"] for s in shells))


def _templates(shells, kinds):
    """(S, K) index into ``shells`` of the nearest shell of kind k to each shell s (its FEFF path moves)."""
    reff = np.array([s["reff"] for s in shells])
    out = np.empty((len(shells), len(kinds)), int)
    for j, kind in enumerate(kinds):
        own = np.array([i for i, s in enumerate(shells) if s["scatterer"] == kind])
        out[:, j] = own[np.argmin(np.abs(reff[:, None] - reff[own][None, :]), axis=1)]
    return out


def truncation(r, diameter):
    """Fraction of the bulk coordination at distance r (A) averaged over a sphere of diameter D (A)."""
    x = np.asarray(r, float) / np.asarray(diameter, float)
    return np.where(x < 1, 1 - 1.5 * x + 0.5 * x ** 3, 0.0)


def draw_ensembles(shells, n: int, rng, families=None, lattice=(-0.08, 0.08), shift=(-0.03, 0.03),
                   mixed_fraction: float = 0.2) -> dict:
    """n ensembles over ``shells``: component centres and widths (n, S, NODES) (A), atoms per component
    and kind (n, S, NODES, K), the lattice factor alpha (n,), the first-shell sigma2 (n,) and the family
    name of each sample. ``families``: names of FAMILIES drawn with equal odds (default all)."""
    names = list(families or FAMILIES)
    if not names or set(names) - set(FAMILIES):
        raise InputError(f"ensemble families must be among {', '.join(FAMILIES)}")
    kinds = kinds_of(shells)
    ns, nk = len(shells), len(kinds)
    reff = np.array([s["reff"] for s in shells])
    ncrys = np.array([s["n"] for s in shells])
    own = np.array([kinds.index(s["scatterer"]) for s in shells])
    fam = rng.integers(len(names), size=n)
    lo = np.array([FAMILIES[names[f]]["sigma2"][0] for f in fam])
    hi = np.array([FAMILIES[names[f]]["sigma2"][1] for f in fam])
    s2_1 = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    # outer shells move less in phase with the absorber: larger sigma2, capped at 0.04 A^2
    grow = rng.uniform(1.0, 2.0, size=(n, 1)) ** np.clip((reff - reff[0]) / max(reff[-1] - reff[0], 1e-6), 0, 1)
    sigma2 = np.minimum(s2_1[:, None] * grow * rng.uniform(0.8, 1.25, size=(n, ns)), 0.04)
    sigma2[:, 0] = s2_1
    sk_lo = np.array([FAMILIES[names[f]]["skew"][0] for f in fam])
    sk_hi = np.array([FAMILIES[names[f]]["skew"][1] for f in fam])
    skew = rng.uniform(sk_lo, sk_hi)[:, None] * rng.uniform(0.7, 1.3, size=(n, ns))
    alpha = rng.uniform(*lattice, size=n)
    mean = reff[None, :] * (1 + alpha[:, None]) + rng.uniform(*shift, size=(n, ns))
    diam = np.full(n, np.inf)
    for i, f in enumerate(fam):
        d = FAMILIES[names[f]]["diameter"]
        if d is not None:
            diam[i] = np.exp(rng.uniform(np.log(d[0]), np.log(d[1])))
    nshell = ncrys[None, :] * truncation(mean, diam[:, None])
    z, w = np.polynomial.hermite_e.hermegauss(NODES)
    w = w / w.sum()
    t = (z[None, None, :] + skew[..., None] * (z ** 2 - 1)) / np.sqrt(1 + 2 * skew[..., None] ** 2)
    sd = np.sqrt(sigma2)[..., None]
    centre = mean[..., None] + np.sqrt(1 - RESID ** 2) * sd * t
    width = np.broadcast_to(RESID * sd, centre.shape).copy()
    frac = np.zeros((n, ns, nk))
    frac[:, np.arange(ns), own] = 1.0
    if nk > 1 and mixed_fraction > 0:
        mixed = rng.random(n) < mixed_fraction
        x = rng.uniform(0.0, 0.5, size=n) * mixed
        other = (own[None, :] + rng.integers(1, nk, size=(n, 1))) % nk
        inner = reff <= SWAP_RMAX
        for s in np.flatnonzero(inner):
            frac[np.arange(n), s, own[s]] -= x
            frac[np.arange(n), s, other[:, s]] += x
    atoms = nshell[..., None, None] * w[None, None, :, None] * frac[:, :, None, :]
    return {"centre": centre, "width": width, "atoms": atoms, "alpha": alpha, "sigma2_1": s2_1,
            "sigma2": sigma2, "family": np.array(names)[fam], "kinds": kinds}


def ensemble_chi(paths, shells, ens: dict, k, s02, e0, l2_shift_ev=None, l2_weight=None,
                 dtype=np.float32) -> np.ndarray:
    """(n, len(k)) chi(k) of the ensembles (``draw_ensembles``) with the FEFF ``paths`` of ``shells``.

    s02, e0 (eV): (n,) nuisances; with ``l2_shift_ev`` (EELS L3 edges) the L2 copy at E0 + shift, weight
    l2_weight (n,), normalised by 1 + w as exelfs.nn.data.clean_chi does."""
    kinds = ens["kinds"]
    tmpl = _templates(shells, kinds)
    n, ns, nn = ens["centre"].shape
    use = [(s, j) for s in range(ns) for j in range(len(kinds)) if np.any(ens["atoms"][:, s, :, j] > 0)]
    vpaths, dr, s2, deg = [], [], [], []
    for s, j in use:
        base = shells[tmpl[s, j]]["paths"][0]
        vpaths += [base] * nn
        dr.append(ens["centre"][:, s, :] - base.reff)
        s2.append(ens["width"][:, s, :] ** 2)
        deg.append(ens["atoms"][:, s, :, j])
    ms = [p for p in paths if int(p.nleg) > 2 and p.reff <= MS_RMAX]
    if ms:
        reff_ms = np.array([p.reff for p in ms])
        vpaths += ms
        dr.append(ens["alpha"][:, None] * reff_ms[None, :])
        s2.append(np.broadcast_to(np.minimum(2 * ens["sigma2_1"], 0.04)[:, None], (n, len(ms))))
        deg.append(np.broadcast_to(np.array([p.degen for p in ms])[None, :], (n, len(ms))))
    pp = {"deltar": np.concatenate(dr, axis=1), "sigma2": np.concatenate(s2, axis=1),
          "degen": np.concatenate(deg, axis=1), "s02": np.asarray(s02, float), "e0": np.asarray(e0, float)}
    chi = chi_from_paths(vpaths, k, pp, dtype=dtype)
    if l2_shift_ev:
        w = np.asarray(l2_weight, float)[:, None]
        chi2 = chi_from_paths(vpaths, k, {**pp, "e0": pp["e0"] + l2_shift_ev}, dtype=dtype)
        chi = ((chi + w * chi2) / (1 + w)).astype(dtype)
    return chi


def ensemble_rdf(ens: dict, r, broadening: float = 0.03, chunk: int = 2048) -> np.ndarray:
    """(n, K, len(r)) n_B(r) per kind (atoms per A; its integral over a shell is that shell's count of
    kind B): the ensembles' mixtures, each component broadened in quadrature by ``broadening`` (A)."""
    r = np.asarray(r, float)
    c, wd, a = ens["centre"], ens["width"], ens["atoms"]
    n, ns, nn, nk = a.shape
    out = np.empty((n, nk, r.size), np.float32)
    s = np.sqrt(wd ** 2 + broadening ** 2).reshape(n, ns * nn)
    c = c.reshape(n, ns * nn)
    for st in range(0, n, chunk):
        e = min(st + chunk, n)
        g = np.exp(-0.5 * ((r[None, None, :] - c[st:e, :, None]) / s[st:e, :, None]) ** 2) / (
            np.sqrt(2 * np.pi) * s[st:e, :, None])  # (b, C, R)
        out[st:e] = np.einsum("bcr,bck->bkr", g, a[st:e].reshape(e - st, ns * nn, nk))
    return out


def snapshot_set(atoms, absorber: str, paths, k, r, n: int, rng, broadening: float = 0.03,
                 sigma2=(0.003, 0.02), strain_magnitude=(0.0, 0.01), n_snapshots: int = 20, rmax: float = 6.5):
    """n ensembles of disordered cluster snapshots (simulate.disorder): chi (n, len(k)) by
    chi_from_distances and n_B(r) (n, K, len(r)) by radial_distribution, K = kinds of the paths' shells;
    per ensemble sigma2 (A^2) and strain magnitude drawn uniformly from the given ranges."""
    from ..structure import cluster

    kinds = kinds_of(group_shells(paths))
    cl = cluster(atoms, absorber, rmax + 1.0)
    chi = np.empty((n, np.size(k)))
    g = np.zeros((n, len(kinds), np.size(r)), np.float32)
    for i in range(n):
        d, sym, w = disordered_ensemble(cl, sigma2=rng.uniform(*sigma2), n_snapshots=n_snapshots,
                                        strain_magnitude=rng.uniform(*strain_magnitude), rmax=rmax, rng=rng)
        chi[i] = chi_from_distances(paths, k, d, sym, w, bin_width=0.01)
        for j, kind in enumerate(kinds):
            sel = sym == kind
            if sel.any():
                g[i, j] = radial_distribution(d[sel], w[sel], r, broadening=broadening)
    return chi, g
