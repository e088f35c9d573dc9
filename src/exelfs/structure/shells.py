"""Neighbour shells and clusters around an absorbing atom in a periodic crystal (distances in angstrom).

Periodic images are enumerated directly (see ``periodic_neighbours``); shells group equal distances.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from ase import Atoms

from ..errors import InputError


def _absorber_indices(atoms: Atoms, absorber: str) -> list[int]:
    if not isinstance(absorber, str) or not absorber.strip():
        raise InputError("the absorber must be an element symbol such as Cu or O.")
    absorber = absorber.strip()
    idx = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == absorber]
    if not idx:
        present = ", ".join(dict.fromkeys(atoms.get_chemical_symbols()))
        raise InputError(f"absorber {absorber} is not in the structure (its elements: {present}); "
                         "choose one of those.")
    return idx


def periodic_neighbours(atoms: Atoms, centres, rmax: float):
    """Neighbours of the atoms ``centres`` within ``rmax`` (angstrom) in the periodic crystal.

    Returns, per centre, (neighbour indices, vectors (n, 3) angstrom, distances), sorted by distance.
    Only the centres' neighbours are computed (ASE's neighbor_list computes every atom's, which is ~10x
    slower for a few absorbers in a large cell): the cell is repeated as far as ``rmax`` needs.
    """
    if not np.all(atoms.pbc) or atoms.cell.rank < 3:
        raise InputError("the structure is not a periodic crystal (no unit cell); give a crystal structure.")
    cell = atoms.cell.array
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(cell).T, axis=1)   # distances between lattice planes
    reps = np.ceil(rmax / spacing).astype(int)
    shifts = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in reps], indexing="ij"), -1).reshape(-1, 3)
    frac = atoms.get_scaled_positions(wrap=True)
    images = ((frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3)) @ cell
    owner = np.tile(np.arange(len(atoms)), len(shifts))
    out = []
    for c in centres:
        vec = images - frac[c] @ cell
        d = np.sqrt(np.einsum("ij,ij->i", vec, vec))
        sel = np.flatnonzero((d <= rmax) & (d > 1e-6))
        order = sel[np.lexsort((vec[sel, 2], vec[sel, 1], vec[sel, 0], np.round(d[sel], 5)))]
        out.append((owner[order], vec[order], d[order]))
    return out


def _neighbours(atoms: Atoms, centres: list[int], rmax: float):
    """{centre: (scatterer symbols array, distances array)} within rmax (periodic images included)."""
    syms = np.array(atoms.get_chemical_symbols())
    return {c: (syms[j], d) for c, (j, _, d) in zip(centres, periodic_neighbours(atoms, centres, rmax))}


def _group(pairs: list[tuple[str, float]], tol: float) -> list[tuple[str, float, int]]:
    """(scatterer, mean r, count) shells: same scatterer and r within ``tol`` of the shell's first r.

    Distances are compared as reported, in whole milliangstrom, so "within tol" is exact and inclusive
    (tenorite's 1.951 and 1.961 A merge with tol = 0.01; rutile's 1.946 and 1.983 do not).
    """
    mtol = int(round(tol * 1000))
    shells = []
    by_el: dict[str, list[float]] = {}
    for el, r in pairs:
        by_el.setdefault(el, []).append(r)
    for el, rs in by_el.items():
        rs = sorted(rs)
        start = 0
        for k in range(1, len(rs) + 1):
            if k == len(rs) or round(rs[k] * 1000) - round(rs[start] * 1000) > mtol:
                block = rs[start:k]
                shells.append((el, float(np.mean(block)), len(block)))
                start = k
    shells.sort(key=lambda s: (round(s[1], 3), s[0]))
    return shells


def _n_value(n: float):
    return int(round(n)) if abs(n - round(n)) < 1e-6 else round(float(n), 3)


def absorber_sites(atoms: Atoms, absorber: str, rmax: float = 6.0, tol: float = 0.01) -> list[dict]:
    """Crystallographically inequivalent absorber sites (by their neighbour shells): each
    {"index": first atom index, "multiplicity": atoms in the cell, "shells": [...]}."""
    idx = _absorber_indices(atoms, absorber)
    neigh = _neighbours(atoms, idx, rmax + 1e-6)
    sites: dict[tuple, dict] = {}
    for c in idx:
        syms, d = neigh[c]
        key = tuple(sorted(Counter(zip(syms.tolist(), np.round(d, 2).tolist())).items()))
        if key not in sites:
            shells = [{"scatterer": el, "r": round(r, 3), "n": n}
                      for el, r, n in _group(list(zip(syms.tolist(), d.tolist())), tol)]
            sites[key] = {"index": c, "multiplicity": 0, "shells": shells}
        sites[key]["multiplicity"] += 1
    return list(sites.values())


def shells(atoms: Atoms, absorber: str, rmax: float = 6.0, tol: float = 0.01) -> list[dict]:
    """Neighbour shells of ``absorber`` within ``rmax`` (angstrom), in rising r:
    [{"scatterer": "O", "r": 2.106 (angstrom, mean over the shell), "n": 6}, ...].

    Neighbours of the same element whose distances lie within ``tol`` (angstrom) of the shell's first
    distance form one shell. With several inequivalent absorber sites, N is the average over all absorber
    atoms of the cell (sites weighted by their multiplicity), so it may be fractional.
    """
    if rmax <= 0:
        raise InputError("rmax must be a positive distance in angstrom.")
    idx = _absorber_indices(atoms, absorber)
    neigh = _neighbours(atoms, idx, rmax + 1e-6)
    pairs = [(el, r) for c in idx for el, r in zip(neigh[c][0].tolist(), neigh[c][1].tolist())]
    return [{"scatterer": el, "r": round(r, 3), "n": _n_value(n / len(idx))} for el, r, n in _group(pairs, tol)]


def cluster(atoms: Atoms, absorber, radius: float = 6.0) -> Atoms:
    """Non-periodic cluster of all atoms within ``radius`` (angstrom) of an absorbing atom: the absorber
    first, at the origin, then its neighbours by rising distance (the input FEFF needs).

    ``absorber`` is an element symbol (its first atom in the cell is taken) or an atom index.
    """
    if radius <= 0:
        raise InputError("the cluster radius must be a positive distance in angstrom.")
    if isinstance(absorber, (int, np.integer)):
        if not 0 <= absorber < len(atoms):
            raise InputError(f"absorber index {absorber} is outside the structure (0..{len(atoms) - 1}).")
        centre = int(absorber)
    else:
        centre = _absorber_indices(atoms, absorber)[0]
    all_syms = atoms.get_chemical_symbols()
    if not np.any(atoms.pbc) or atoms.cell.rank < 3:   # already a molecule/cluster: recentre it
        pos = atoms.positions - atoms.positions[centre]
        d = np.linalg.norm(pos, axis=1)
        keep = [k for k in np.argsort(d, kind="stable") if k != centre and d[k] <= radius + 1e-6]
        syms = [all_syms[centre]] + [all_syms[k] for k in keep]
        vecs = np.vstack([np.zeros((1, 3)), pos[keep]])
    else:
        (j, vec, _), = periodic_neighbours(atoms, [centre], radius + 1e-6)
        syms = [all_syms[centre]] + [all_syms[k] for k in j]
        vecs = np.vstack([np.zeros((1, 3)), vec])
    out = Atoms(syms, positions=vecs, pbc=False)
    out.info.update({k: v for k, v in atoms.info.items() if isinstance(v, (str, int, float))})
    out.info["absorber_index"] = centre
    out.info["radius"] = float(radius)
    return out
