"""Neighbour shells from FEFF paths: the one grouping rule that the fit, the simulator and the report share."""

from __future__ import annotations

SHELL_TOL = 0.05  # angstrom: single-scattering paths of one scatterer closer than this form one shell


def group_shells(paths, rmax: float | None = None, tol: float = SHELL_TOL) -> list[dict]:
    """Single-scattering paths (nleg 2) grouped into shells: same scatterer, reff within tol (angstrom).

    Returns [{"scatterer", "reff" (angstrom), "n" (crystal degeneracy), "paths": [PathTable],
    "index": [position of each path in ``paths``]}] in rising reff; paths beyond rmax (angstrom) are left out."""
    shells: list[dict] = []
    single = sorted((i for i, p in enumerate(paths) if int(p.nleg) == 2), key=lambda i: paths[i].reff)
    for i in single:
        p = paths[i]
        if rmax is not None and p.reff > rmax:
            continue
        scatterer = p.scatterers[0] if getattr(p, "scatterers", None) else "?"
        for sh in shells:
            if sh["scatterer"] == scatterer and abs(sh["reff"] - p.reff) < tol:
                sh["paths"].append(p)
                sh["index"].append(i)
                sh["n"] += float(p.degen)
                break
        else:
            shells.append({"scatterer": scatterer, "reff": float(p.reff), "n": float(p.degen), "paths": [p],
                           "index": [i]})
    return shells
