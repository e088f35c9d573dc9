"""FEFF scattering paths through Larch's bundled feff6l, cached on disk.

``feff_paths(spec_or_atoms, absorber, edge, rmax)`` builds a cluster around one absorbing atom, writes a
Feff6 ``feff.inp``, runs Larch's ``feff6l`` executable once per distinct input, and returns one
:class:`PathTable` per ``feffNNNN.dat`` (arrays exactly as Larch's ``FeffDatFile`` reads them), so that
``larch.xafs.path2chi`` can be reproduced from a PathTable alone (see :func:`path_chi`).

Cache: entries ``feff/<hash>`` of :func:`exelfs.cache.cached` (verified against a manifest of checksums
before use, rebuilt when damaged, written atomically), where the hash covers the feff.inp text (cluster,
potentials, edge hole, rmax, nleg) and the feff6l version: the same structure+absorber+edge+rmax never runs
FEFF twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cache import cache_dir, cached
from ..errors import InputError, number
from ..units import ETOK
from ..structure import cluster, reference_atoms

FEFF_PHASE_R = 0.010      # A: FEFF6 phase-shift accuracy, added in quadrature to every distance error
FEFF_AMP_SIGMA2 = 0.0005  # A^2: FEFF6 amplitude / mean-free-path accuracy, the same for every sigma2 error

# Feff6 HOLE codes (feff6l supports K and L1-L3 only): K=1, L1=2, L2=3, L3=4.
HOLE = {"K": 1, "L1": 2, "L2": 3, "L3": 4}
FEFF_VERSION = "feff6l-6L.02"
_MEMO: dict[str, list] = {}  # per process: an entry is verified on the process's first use of it


class PathList(list):
    """The PathTables of one FEFF run; ``notes``: sentences about the cache (a damaged entry rebuilt, a
    read-only cache), for the analysis result's warnings."""

    def __init__(self, paths=(), notes=None):
        super().__init__(paths)
        self.notes = list(notes or [])


@dataclass
class PathTable:
    """One FEFF scattering path (a feffNNNN.dat file), in Larch's own terms.

    label: e.g. ``'Cu.1'`` (scatterer + path index) or ``'O-Mg'`` for multiple scattering.
    scatterers: element symbols of the scattering atoms along the path (absorber excluded).
    reff: half path length, angstrom. degen: path degeneracy (number of equivalent paths).
    nleg: number of legs (2 = single scattering). filename: feffNNNN.dat in the cache.
    k: FEFF's k grid, 1/angstrom. amp: |F_eff| (``mag_feff``). phase: ``pha_feff + real_phc`` (radians,
    total phase as Larch's ``pha``). red_fact: reduction factor (Larch's amplitude is ``amp * red_fact``).
    lam: mean free path, angstrom. rep: real part of the complex wavenumber p, 1/angstrom.
    """

    label: str
    scatterers: tuple
    reff: float
    degen: float
    nleg: int
    filename: str
    k: np.ndarray = field(repr=False)
    amp: np.ndarray = field(repr=False)
    phase: np.ndarray = field(repr=False)
    red_fact: np.ndarray = field(repr=False)
    lam: np.ndarray = field(repr=False)
    rep: np.ndarray = field(repr=False)
    feffdat: object = field(default=None, repr=False, compare=False)  # Larch's FeffDatFile, parsed once


def _hole_edge(edge: str) -> str:
    """Edge name as FEFF6 knows it ('L23'/'L2,3' mean L3); InputError for edges feff6l cannot do."""
    edge = str(edge).upper().replace("L2,3", "L3").replace("L23", "L3")
    if edge not in HOLE:
        raise InputError(f"FEFF (feff6l) handles K and L1/L2/L3 edges, not '{edge}': choose one of those")
    return edge


def feff_input(cluster_atoms, edge: str = "K", rmax: float = 5.0, nleg: int = 4, title: str = "") -> str:
    """Feff6 input text for a cluster (absorber first, at the origin), edge hole, path radius rmax (A)."""
    from ase.data import atomic_numbers

    edge = _hole_edge(edge)
    symbols = cluster_atoms.get_chemical_symbols()
    absorber = symbols[0]
    others = []
    for s in symbols[1:]:
        if s not in others:
            others.append(s)
    if len(others) > 6:
        raise InputError("the structure has more than 6 kinds of neighbour: feff6l cannot handle it")
    ipot = {s: i + 1 for i, s in enumerate(others)}
    lines = [f"TITLE {title or 'exelfs'} {absorber} {edge}", f"HOLE {HOLE[edge]} 1.0",
             "CONTROL 1 1 1 1", "PRINT 0 0 0 0", f"RMAX {rmax:.4f}", f"NLEG {int(nleg)}", "CRITERIA 4.0 2.5",
             "", "POTENTIALS", f"  0 {atomic_numbers[absorber]:3d} {absorber}"]
    lines += [f"  {i} {atomic_numbers[s]:3d} {s}" for s, i in ipot.items()]
    lines += ["", "ATOMS"]
    pos = cluster_atoms.positions - cluster_atoms.positions[0]
    lines.append(f"  {0:10.5f} {0:10.5f} {0:10.5f}  0  {absorber}")
    for s, p in zip(symbols[1:], pos[1:]):
        lines.append(f"  {p[0]:10.5f} {p[1]:10.5f} {p[2]:10.5f}  {ipot[s]}  {s}")
    lines.append("END")
    return "\n".join(lines) + "\n"


def _read_paths(folder: Path, absorber: str) -> list[PathTable]:
    """PathTables from the feffNNNN.dat files of a finished FEFF run (Larch's reader)."""
    from larch.xafs.feffdat import FeffDatFile

    out = []
    for fn in sorted(folder.glob("feff[0-9][0-9][0-9][0-9].dat")):
        fd = FeffDatFile(filename=str(fn))
        scat = tuple(g[0] for g in fd.geom[1:])
        index = int(fn.stem[4:])
        label = (f"{scat[0]}.{index}" if fd.nleg == 2 else "-".join(scat) + f".{index}")
        out.append(PathTable(label=label, scatterers=scat, reff=float(fd.reff), degen=float(fd.degen),
                             nleg=int(fd.nleg), filename=str(fn), k=np.asarray(fd.k, float),
                             amp=np.asarray(fd.mag_feff, float),
                             phase=np.asarray(fd.pha_feff, float) + np.asarray(fd.real_phc, float),
                             red_fact=np.asarray(fd.red_fact, float), lam=np.asarray(fd.lam, float),
                             rep=np.asarray(fd.rep, float), feffdat=fd))
    out.sort(key=lambda p: (p.reff, p.nleg))
    return out


def _run_feff6l(folder: Path) -> None:
    """Run Larch's bundled feff6l in `folder` (holding feff.inp).

    Called with subprocess directly rather than larch's FeffRunner, which os.chdir()s the whole process
    (unsafe next to other threads, e.g. the GUI or dask)."""
    from larch.xafs.feffrunner import find_exe

    exe = find_exe("feff6l")
    if exe is None:  # pragma: no cover
        raise RuntimeError("Larch's feff6l executable was not found: reinstall xraylarch")
    proc = subprocess.run([str(exe)], cwd=str(folder), capture_output=True, text=True, timeout=600)
    (folder / "feff6l.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not list(folder.glob("feff0001.dat")):
        raise RuntimeError(f"feff6l failed in {folder}: {(proc.stdout + proc.stderr)[-800:]}")


def feff_paths(spec_or_atoms, absorber: str, edge: str = "K", rmax: float = 5.0,
               nleg: int = 4) -> PathList:
    """FEFF paths (reff up to rmax, angstrom) around `absorber` in a structure, cached on disk.

    spec_or_atoms: an ase.Atoms crystal, or a spec string (element, formula, CIF path) for
    ``exelfs.structure.reference_atoms``. edge: 'K', 'L1', 'L2', 'L3' ('L23' means L3).
    Returns PathTables in rising reff (the first is the nearest-neighbour single-scattering path) as a
    :class:`PathList`, whose ``notes`` say what the cache had to repair.
    """
    edge = _hole_edge(edge)
    rmax = number(rmax, "rmax (angstrom)", 1.0, 10.0)
    if not isinstance(absorber, str) or not absorber.strip():
        raise InputError(f"absorber {absorber!r} is not an element symbol: give one such as 'Cu'")
    atoms = spec_or_atoms
    if isinstance(spec_or_atoms, (str, os.PathLike)):
        atoms = reference_atoms(str(spec_or_atoms))
    if absorber not in atoms.get_chemical_symbols():
        raise InputError(f"absorber {absorber} is not in the structure "
                         f"({', '.join(sorted(set(atoms.get_chemical_symbols())))}): check the edge or structure")
    radius = max(float(rmax) + 2.0, 6.0)
    clus = cluster(atoms, absorber, radius)
    text = feff_input(clus, edge=edge, rmax=rmax, nleg=nleg, title=atoms.get_chemical_formula())
    key = hashlib.sha256((FEFF_VERSION + "\n" + text).encode()).hexdigest()[:20]
    if key in _MEMO:
        return PathList(_MEMO[key])

    def build(folder: Path) -> None:
        (folder / "feff.inp").write_text(text)
        _run_feff6l(folder)
        (folder / "done.json").write_text(json.dumps(
            {"absorber": absorber, "edge": edge, "rmax": rmax, "nleg": nleg, "version": FEFF_VERSION}))

    entry = cached("feff", key, build, lambda folder: _load_paths(folder, absorber, text), what="FEFF")
    _MEMO[key] = entry.value
    return PathList(entry.value, notes=entry.notes)


def _load_paths(folder: Path, absorber: str, text: str) -> list[PathTable]:
    """The paths of a cache entry; an error when the entry is not the run of this very input."""
    if (folder / "feff.inp").read_text() != text:
        raise ValueError("feff.inp differs from the input it is filed under")
    paths = _read_paths(folder, absorber)
    if not paths:
        raise ValueError("no feffNNNN.dat files")
    return paths


def path_chi(path: PathTable, k, s02=1.0, e0=0.0, deltar=0.0, sigma2=0.0, third=0.0, fourth=0.0,
             ei=0.0, degen=None):
    """chi(k) of one path, the EXAFS equation exactly as Larch's ``path2chi`` (linear interpolation).

    k: 1/angstrom; e0, ei: eV; deltar: angstrom; sigma2: angstrom^2; third: A^3; fourth: A^4."""
    k = np.asarray(k, float)
    degen = path.degen if degen is None else degen
    en = k * k - e0 * ETOK
    en = np.where(np.abs(en) < 1e-4, 1e-4, en)
    q = np.sign(en) * np.sqrt(np.abs(en))
    pha = np.interp(q, path.k, path.phase)
    amp = np.interp(q, path.k, path.amp * path.red_fact)
    rep = np.interp(q, path.k, path.rep)
    lam = np.interp(q, path.k, path.lam)
    pp = (rep + 1j / lam) ** 2 + 1j * ei * ETOK
    p = np.sqrt(pp)
    reff = path.reff
    cchi = np.exp(-2 * reff * p.imag - 2 * pp * (sigma2 - pp * fourth / 3)
                  + 1j * (2 * q * reff + pha + 2 * p * (deltar - 2 * sigma2 / reff - 2 * pp * third / 3)))
    cchi = degen * s02 * amp * cchi / (q * (reff + deltar) ** 2)
    if cchi.size > 2:
        cchi[0] = 2 * cchi[1] - cchi[2]
    return cchi.imag
