"""Edge tables: EELS onset energies (exspy) and X-ray binding energies (xraydb), by edge name.

EELS onsets and X-ray binding energies differ by up to ~10 eV for light elements (O K: 532 vs 543 eV),
so both are kept and used side by side. The table is built once from both libraries and cached on disk
(``cache_dir() / "edges"``, JSON keyed by their versions): importing exspy alone takes ~2 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..cache import cache_dir
from ..errors import InputError
from ..quiet import quiet

EDGE_PATTERN = re.compile(r"^([A-Z][a-z]?)_(K|L[1-3]|M[1-5]|N[1-7]|O[1-5])$")
# spin-orbit partners: the weaker edge just above each major one (L3 -> L2 ...); their fine structures add up
SPIN_ORBIT = {"L3": "L2", "M5": "M4", "N5": "N4", "N7": "N6"}
SPIN_ORBIT_PRIMARY = {v: k for k, v in SPIN_ORBIT.items()}
# edge names as users write them for a combined edge: the major component is meant
_COMBINED = {"L23": "L3", "L2,3": "L3", "M45": "M5", "M4,5": "M5", "N45": "N5", "N67": "N7"}


@dataclass(frozen=True)
class EdgeEntry:
    """One core-level edge. Energies in eV; None where the table has no value."""

    element: str
    edge: str
    eels_onset: float | None
    xray_energy: float | None
    shape: str  # exspy's description: 'Abrupt onset', 'Delayed maximum', ...
    threshold: str  # exspy's: 'Sharp peak' (white line), 'Broad peak', ''
    relevance: str  # exspy's: 'Major' or 'Minor'

    @property
    def name(self) -> str:
        return f"{self.element}_{self.edge}"

    @property
    def energy(self) -> float:
        """Best single onset estimate, eV: the EELS onset where known, else the X-ray binding energy."""
        return self.eels_onset if self.eels_onset is not None else self.xray_energy


def normalize_edge(name: str) -> str:
    """An edge name in HyperSpy's spelling: ``'o_k'`` -> ``'O_K'``, ``'Ti L2,3'`` -> ``'Ti_L3'``,
    ``'ni-l3'`` -> ``'Ni_L3'``. Unrecognisable text is returned stripped, for ``parse_edge`` to refuse."""
    text = str(name).strip()
    m = re.fullmatch(r"([A-Za-z]{1,2})[ _\-]+([A-Za-z][0-9,]*)", text)
    if not m:
        return text
    element, edge = m.group(1).capitalize(), m.group(2).upper()
    return f"{element}_{_COMBINED.get(edge, edge)}"


def parse_edge(name: str) -> tuple[str, str]:
    """Split an edge name like ``'Ni_L3'`` (any case, ``Ti_L23`` for the L3 edge) into ``('Ni', 'L3')``;
    InputError if it is not one."""
    m = EDGE_PATTERN.match(normalize_edge(name))
    if not m:
        raise InputError(f"'{name}' is not an edge name: use Element_EDGE, e.g. O_K, Ti_L3, Cu_K")
    element, edge = m.groups()
    if (element, edge) not in _table():
        raise InputError(f"{element} has no {edge} edge in the edge tables")
    return element, edge


def edge_entry(element: str, edge: str) -> EdgeEntry:
    """The table entry of one edge; InputError if unknown."""
    try:
        return _table()[(element, edge)]
    except KeyError:
        raise InputError(f"{element} has no {edge} edge in the edge tables") from None


def edge_energy(element: str, edge: str) -> float:
    """Onset energy of an edge, eV (EELS onset, X-ray binding energy where exspy has none)."""
    return edge_entry(element, edge).energy


def all_edges(emin: float = 0.0, emax: float = float("inf")) -> list[EdgeEntry]:
    """Every tabulated edge whose onset (EELS or X-ray) lies in [emin, emax] eV, in rising energy."""
    out = [e for e in _table().values()
           if any(v is not None and emin <= v <= emax for v in (e.eels_onset, e.xray_energy))]
    return sorted(out, key=lambda e: e.energy)


TABLE_FORMAT = 1  # layout of the cached table file; raise it when EdgeEntry changes
_LIBRARIES = ("exspy", "xraydb")


@lru_cache(maxsize=1)
def _table() -> dict:
    """{(element, edge): EdgeEntry}, from the disk cache where it holds the table of the installed exspy
    and xraydb versions; else built from them (importing exspy takes ~2 s) and cached for next time."""
    path = table_cache_path()
    table = read_cached_table(path) if path is not None else None
    if table is None:
        table = build_table()
        if path is not None:
            write_cached_table(path, table)
    return table


def table_cache_path() -> Path | None:
    """The cache file of the edge table, keyed by the exspy and xraydb versions (read from the package
    metadata, without importing them); None where a version cannot be told."""
    try:
        key = "_".join(f"{lib}-{version(lib)}" for lib in _LIBRARIES)
    except PackageNotFoundError:
        return None
    return cache_dir() / "edges" / f"table-v{TABLE_FORMAT}_{re.sub(r'[^A-Za-z0-9._-]', '_', key)}.json"


def read_cached_table(path: Path) -> dict | None:
    """The edge table stored at path; None where it is absent or unreadable (then it is rebuilt)."""
    try:
        rows = json.loads(path.read_text())["edges"]
        entries = [EdgeEntry(**row) for row in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {(e.element, e.edge): e for e in entries}


def write_cached_table(path: Path, table: dict) -> bool:
    """Store the edge table at path atomically (a temporary file, then os.replace); False where the cache
    cannot be written (the table is then only kept in memory)."""
    text = json.dumps({"format": TABLE_FORMAT, "edges": [asdict(e) for e in table.values()]})
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name, suffix=".tmp",
                                         delete=False) as fh:
            tmp = fh.name
            fh.write(text)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return False
    return True


def build_table() -> dict:
    """{(element, edge): EdgeEntry} from exspy's EELS onsets and xraydb's X-ray binding energies."""
    import xraydb
    with quiet():
        from exspy.material import elements

    table = {}
    for element in elements.keys():
        eels = elements[element].Atomic_properties.as_dictionary().get("Binding_energies", {})
        try:
            xray = xraydb.xray_edges(element)
        except Exception:  # xraydb lacks some heavy elements
            xray = {}
        for edge in set(eels) | set(xray):
            if not re.fullmatch(r"K|L[1-3]|M[1-5]|N[1-7]|O[1-5]", edge):
                continue
            info = eels.get(edge, {})
            xe = xray.get(edge)
            xray_energy = float(xe.energy) if xe is not None and xe.energy > 1.0 else None
            onset = info.get("onset_energy (eV)")
            table[(element, edge)] = EdgeEntry(
                element=element,
                edge=edge,
                eels_onset=float(onset) if onset else None,
                xray_energy=xray_energy,
                shape=info.get("edge", ""),
                threshold=info.get("threshold", ""),
                relevance=info.get("relevance", "Minor" if edge not in eels else ""),
            )
    return table
