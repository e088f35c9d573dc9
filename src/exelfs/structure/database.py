"""Reference crystal structures: Larch's bundled AMCSD database (larixite) and ASE's reference states.

The American Mineralogist Crystal Structure Database ships with Larch (larixite's trimmed
``amcsd_cif1.db``, about 9000 entries) and works offline. Searching and ranking read that SQLite file
directly (a few indexed queries, no import of larixite/pymatgen, so an unknown formula is refused in
milliseconds); only the few entries that are turned into atoms go through larixite's ``CifStructure``
(CIF text) and pymatgen's CIF parser. Lengths in angstrom.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import math
import os
import re
import sqlite3
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols

from ..errors import InputError
from ..quiet import quiet

_AMCSD_FILE = "amcsd_cif1.db"   # the trimmed database bundled in the larixite wheel

# Non-metal elements that play the anion in the usual formulas: the default absorber of a compound is the
# first element of the formula that is not one of these (the cation), as a microscopist would pick.
ANIONS = ("O", "N", "F", "Cl", "Br", "I", "S", "Se", "Te", "H", "C", "P", "As", "Sb")


# ---------------------------------------------------------------------------------------------------
# formulas
# ---------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<el>[A-Z][a-z]?)(?P<n>\d*\.?\d*)|(?P<open>[(\[{])|(?P<close>[)\]}])(?P<m>\d*\.?\d*))")


def parse_formula(text: str) -> dict[str, float] | None:
    """Element counts of a formula such as ``TiO2``, ``Ti.96 Nb.011 O2`` or ``(Mg.97 Fe.03) O``.

    Returns None when the text is not a formula of real elements (lowercase words, unknown symbols).
    """
    text = text.strip()
    if not text:
        return None
    stack: list[dict[str, float]] = [{}]
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return None
        pos = m.end()
        if m.group("el"):
            el = m.group("el")
            if el not in atomic_numbers or el == "X":
                return None
            n = _number(m.group("n"))
            if n is None:
                return None
            stack[-1][el] = stack[-1].get(el, 0.0) + n
        elif m.group("open"):
            stack.append({})
        else:
            if len(stack) < 2:
                return None
            mult = _number(m.group("m"))
            if mult is None:
                return None
            inner = stack.pop()
            for el, n in inner.items():
                stack[-1][el] = stack[-1].get(el, 0.0) + n * mult
    if len(stack) != 1 or not stack[0]:
        return None
    return {el: n for el, n in stack[0].items() if n > 0} or None


def _number(s: str) -> float | None:
    if s in ("", None):
        return 1.0
    if s == ".":
        return None
    try:
        return float(s)
    except ValueError:
        return None


def fractions(counts: dict[str, float]) -> dict[str, float]:
    """Atomic fractions of a composition."""
    total = sum(counts.values())
    return {el: n / total for el, n in counts.items()}


def cation_order(elements) -> list[str]:
    """Elements by rising electronegativity (the cation first, as formulas are written: Sr, Ti, O)."""
    from pymatgen.core.periodic_table import Element   # pymatgen is loaded anyway where this is used

    def key(el):
        x = Element(el).X
        return (x if x == x else 4.0, atomic_numbers[el])   # NaN electronegativity (noble gases) last
    return sorted(elements, key=key)


def reduced_formula(counts: dict[str, float], order: list[str] | None = None) -> str:
    """``{'Ti': 2, 'O': 4} -> 'TiO2'``: integer ratios where they are close (else decimals), elements in
    ``order`` or cation first."""
    els = order or cation_order(counts)
    vals = np.array([counts[e] for e in els], float)
    vals = vals / vals.min()
    for mult in range(1, 13):
        v = vals * mult
        if np.all(np.abs(v - np.round(v)) < 0.03) and v.max() < 50:
            vals = np.round(v)
            break
    else:
        vals = np.array([counts[e] for e in els], float)
    out = []
    for el, v in zip(els, vals):
        if abs(v - 1) < 1e-6:
            out.append(el)
        elif abs(v - round(v)) < 1e-6:
            out.append(f"{el}{int(round(v))}")
        else:
            out.append(f"{el}{v:.3g}")
    return "".join(out)


def stoich_deviation(counts: dict[str, float]) -> float:
    """How far a composition is from small-integer ratios (0 for TiO2; ~0.008 for Ti.992 O2)."""
    vals = np.array(list(counts.values()), float)
    vals = vals / vals.min()
    return float(min(np.max(np.abs(vals * m - np.round(vals * m))) / m for m in range(1, 13)))


def default_absorber(elements: list[str]) -> str:
    """The cation: the first element (in the order given) that is not a usual anion; else the first."""
    for el in elements:
        if el not in ANIONS:
            return el
    return elements[0]


# ---------------------------------------------------------------------------------------------------
# curated preferences (versioned reference data)
# ---------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def preferred_table() -> dict:
    """The curated table src/exelfs/data/preferred_structures.json (commonest polymorph first)."""
    text = resources.files("exelfs").joinpath("data/preferred_structures.json").read_text()
    return json.loads(text)


def _norm_sg(sg: str) -> str:
    return sg.split("%")[0].replace(" ", "").lower()


# ---------------------------------------------------------------------------------------------------
# AMCSD access
# ---------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def amcsd_path() -> str:
    """Path of Larch's bundled (trimmed) AMCSD file, found without importing larixite.

    ``larch.xrd.amcsd.get_amcsd()`` would try to download the full database (30 s timeouts off-line,
    and different answers on machines that have it): the bundled file keeps results reproducible.
    """
    spec = importlib.util.find_spec("larixite")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("Larch's structure database (larixite) is not installed: install xraylarch, "
                         "or give a CIF file.")
    path = os.path.join(list(spec.submodule_search_locations)[0], _AMCSD_FILE)
    if not os.path.isfile(path):
        raise InputError(f"Larch's bundled AMCSD database is missing ({path}): reinstall xraylarch, "
                         "or give a CIF file.")
    return path


@functools.lru_cache(maxsize=1)
def _connection() -> sqlite3.Connection:
    return sqlite3.connect(f"file:{amcsd_path()}?mode=ro", uri=True, check_same_thread=False)


@functools.lru_cache(maxsize=1)
def _element_index() -> dict[frozenset, list[int]]:
    """AMCSD entry ids by their set of elements (one grouped scan of cif_elements, ~0.2 s, cached).
    The trimmed file keeps element rows of removed entries: the join in ``amcsd_entries`` drops those."""
    index: dict[frozenset, list[int]] = {}
    for cid, els in _connection().execute("select cif_id, group_concat(element) from cif_elements "
                                          "group by cif_id"):
        index.setdefault(frozenset(els.split(",")), []).append(int(cid))
    return index


@functools.lru_cache(maxsize=1)
def _larixite_db():
    """larixite's AMCSD object on the bundled file (read only), for CIF text of chosen entries."""
    from larixite.amcsd import AMCSD  # heavy (pymatgen): imported only when atoms are built
    return AMCSD(amcsd_path(), read_only=True)


@dataclass
class AmcsdEntry:
    """One AMCSD entry with what ranking needs (conditions parsed from the entry's title lines)."""
    id: int
    mineral: str
    formula: str
    spacegroup: str
    nops: int
    title: str
    year: int
    journal: str
    publication: int = 0
    counts: dict = field(default_factory=dict)
    pressure_gpa: float | None = None
    temperature_k: float | None = None
    model: bool = False

    @property
    def ambient(self) -> bool:
        """Room pressure (< 0.1 GPa) and temperature (250-350 K), as far as the entry says."""
        p_ok = self.pressure_gpa is None or self.pressure_gpa <= 0.1
        t_ok = self.temperature_k is None or 250 <= self.temperature_k <= 350
        return p_ok and t_ok

    @property
    def sg_symbol(self) -> str:
        return self.spacegroup.split("%")[0].strip()

    def source(self) -> str:
        return f"AMCSD {self.id} (Larch bundled database; {self.journal} {self.year})"


_P_RE = re.compile(r"\bP\s*=\s*(-?\d+\.?\d*)\s*(GPa|MPa|kbar|kb|bar|atm)?", re.I)
_T_RE = re.compile(r"\bT\s*=\s*(-?\d+\.?\d*)\s*(K|deg\s*C|°C|C)?\b", re.I)
_MODEL_WORDS = ("mathematical model", "calculated", "theoretical", "ab initio", "ab-initio",
                "first-principles", "first principles", "hypothetical", "predicted", "simulation", "dft",
                "density functional", "electronic structure", "electronic, optical", "band structure",
                "molecular dynamics", "computational")


def _conditions(title: str) -> tuple[float | None, float | None, bool]:
    """(pressure GPa, temperature K, computed-model flag) parsed from an AMCSD title/sample note."""
    pressure = None
    for val, unit in _P_RE.findall(title):
        v = float(val)
        unit = (unit or "GPa").lower()
        v = {"gpa": v, "mpa": v / 1e3, "kbar": v / 10, "kb": v / 10, "bar": v / 1e4, "atm": v / 9869}[unit]
        pressure = v if pressure is None else max(pressure, v)
    temperature = None
    for val, unit in _T_RE.findall(title):
        v = float(val)
        unit = unit.lower().replace(" ", "")
        if unit in ("c", "degc", "°c") or (not unit and v <= 100):
            v += 273.15
        if temperature is None or abs(v - 295) > abs(temperature - 295):
            temperature = v
    low = title.lower()
    model = any(w in low for w in _MODEL_WORDS)
    return pressure, temperature, model


def amcsd_entries(elements: frozenset) -> list[AmcsdEntry]:
    """All AMCSD entries made of exactly these elements (no others), with parsed formula and conditions."""
    ids = _element_index().get(frozenset(elements), [])
    if not ids:
        return []
    q = ("select c.id, m.name, c.formula, s.hm_notation, s.symmetry_xyz, c.pub_title, p.year, p.journalname, p.id "
         "from cif c join minerals m on m.id = c.mineral_id join spacegroups s on s.id = c.spacegroup_id "
         "join publications p on p.id = c.publication_id where c.id in (%s)" % ",".join(map(str, ids)))
    out = []
    for cid, mineral, formula, sg, symxyz, title, year, journal, pub in _connection().execute(q):
        counts = parse_formula((formula or "").replace("<missing>", ""))
        if counts is None:
            continue
        try:
            nops = len(json.loads(symxyz))
        except (TypeError, ValueError):
            nops = 1
        title = (title or "").strip()
        p, t, model = _conditions(title)
        out.append(AmcsdEntry(id=cid, mineral="" if mineral in (None, "<missing>") else mineral,
                              formula=formula, spacegroup=sg or "", nops=nops, title=title, year=year or 0,
                              journal=journal or "", publication=pub or 0, counts=counts, pressure_gpa=p, temperature_k=t,
                              model=model))
    return out


def matching_entries(target: dict[str, float], tol: float = 0.02) -> list[AmcsdEntry]:
    """Entries with the target's elements and stoichiometry (atomic fractions within ``tol``)."""
    want = fractions(target)
    out = []
    for e in amcsd_entries(frozenset(target)):
        have = fractions(e.counts)
        if set(have) - set(want) and sum(have.get(x, 0) for x in set(have) - set(want)) > tol:
            continue
        if all(abs(have.get(el, 0.0) - f) <= tol for el, f in want.items()):
            out.append(e)
    return out


def compositions(elements) -> list[tuple[str, int]]:
    """Compositions AMCSD holds for exactly these elements: [(reduced formula, number of entries)], the
    most often refined first (a proxy for the commonest compound: {Mg, O} -> MgO before MgO2)."""
    tally: dict[str, int] = {}
    for e in amcsd_entries(frozenset(elements)):
        if e.model or stoich_deviation(e.counts) > 0.02:   # computed models and non-stoichiometric phases
            continue
        name = reduced_formula(e.counts)
        tally[name] = tally.get(name, 0) + 1
    return sorted(tally.items(), key=lambda kv: -kv[1])


def find_mineral(name: str) -> list[AmcsdEntry]:
    """Entries of a mineral name (case-insensitive), e.g. 'rutile', 'periclase', 'graphite'."""
    rows = _connection().execute(
        "select c.id from cif c join minerals m on m.id = c.mineral_id where lower(m.name) = ?",
        (name.strip().lower(),)).fetchall()
    if not rows:
        return []
    ids = {r[0] for r in rows}
    els = set()
    for (cid, el) in _connection().execute(
            "select cif_id, element from cif_elements where cif_id in (%s)" % ",".join(f"'{i}'" for i in ids)):
        els.add((int(cid), el))
    by_id: dict[int, set] = {}
    for cid, el in els:
        by_id.setdefault(cid, set()).add(el)
    out = []
    for elset in {frozenset(v) for v in by_id.values()}:
        out.extend(e for e in amcsd_entries(elset) if e.id in ids)
    return out


# ---------------------------------------------------------------------------------------------------
# ranking
# ---------------------------------------------------------------------------------------------------

@dataclass
class Group:
    """Entries of one polymorph (same mineral name and space group)."""
    key: tuple
    entries: list[AmcsdEntry]
    label: str = ""
    curated_rank: int | None = None

    @property
    def n_good(self) -> int:
        return sum(e.ambient and not e.model for e in self.entries)

    @property
    def nops(self) -> int:
        return max(e.nops for e in self.entries)

    def ranked_entries(self) -> list[AmcsdEntry]:
        """Best entry first: ambient and not a model, fewest elements (no substituted impurities),
        stoichiometric, most recent; one entry per publication (a series of samples from one paper,
        e.g. a milling or heating series, counts once: its first entry)."""
        ranked = sorted(self.entries, key=lambda e: (not (e.ambient and not e.model), len(e.counts),
                                                     stoich_deviation(e.counts) > 0.005, -e.year, e.id))
        seen, out, rest = set(), [], []
        for e in ranked:
            (rest if e.publication in seen else out).append(e)
            seen.add(e.publication)
        return out + rest


def group_entries(entries: list[AmcsdEntry]) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for e in entries:
        key = (e.mineral.lower(), _norm_sg(e.spacegroup))
        groups.setdefault(key, Group(key=key, entries=[])).entries.append(e)
    return list(groups.values())


def rank_groups(groups: list[Group], preferences: list[dict] | None) -> list[Group]:
    """Curated preferences first (in their order), then polymorphs seen at ambient conditions, the most
    often refined first (a proxy for the commonest), then the higher symmetry."""
    for g in groups:
        for rank, pref in enumerate(preferences or []):
            if _matches(g, pref):
                g.curated_rank = rank
                g.label = pref.get("label", "")
                break
    return sorted(groups, key=lambda g: (g.curated_rank is None, g.curated_rank or 0, g.n_good == 0,
                                         -g.n_good, -len(g.entries), -g.nops, min(e.id for e in g.entries)))


def _matches(group: Group, pref: dict) -> bool:
    e = group.entries[0]
    if "mineral" in pref and e.mineral.lower() != pref["mineral"].lower():
        return False
    if "spacegroup" in pref:
        sgs = pref["spacegroup"] if isinstance(pref["spacegroup"], list) else [pref["spacegroup"]]
        if _norm_sg(e.spacegroup) not in {_norm_sg(s) for s in sgs}:
            return False
    return "mineral" in pref or "spacegroup" in pref


# ---------------------------------------------------------------------------------------------------
# atoms
# ---------------------------------------------------------------------------------------------------

# pymatgen/larixite spellings of AMCSD site labels that are not elements (deuterium, water oxygen)
_SPECIES_FIX = {"D": "H", "T": "H", "Nh": "N", "Og": "O", "Hs": "H", "Fl": "F"}


def atoms_from_cif_text(text: str, what: str) -> Atoms:
    """Periodic ase.Atoms from CIF text, through pymatgen's CIF parser (robust to AMCSD site labels).

    Partly occupied sites get their majority element; sites under half occupied (e.g. a few % of H) are
    left out. ``what`` names the source in error messages.
    """
    from pymatgen.io.cif import CifParser

    with quiet():
        try:
            structures = CifParser(io.StringIO(text), occupancy_tolerance=1.1).parse_structures(primitive=False)
        except Exception as exc:  # pymatgen raises many types for bad CIF text
            raise InputError(f"could not read a crystal structure from {what} ({exc}); "
                             "give a valid CIF file.") from None
    if not structures:
        raise InputError(f"{what} holds no crystal structure; give a valid CIF file.")
    return structure_to_atoms(structures[0], what)


def structure_to_atoms(struct, what: str = "the structure") -> Atoms:
    """pymatgen Structure (possibly disordered) -> ordered ase.Atoms (majority element per site)."""
    symbols, frac = [], []
    for site in struct.sites:
        occ = {}
        for sp, x in site.species.items():
            sym = getattr(sp, "symbol", None) or str(sp)
            sym = re.sub(r"[^A-Za-z]", "", sym)
            sym = _SPECIES_FIX.get(sym, sym)
            if sym in atomic_numbers and sym != "X":
                occ[sym] = occ.get(sym, 0.0) + x
        if not occ or sum(occ.values()) < 0.5:
            continue
        symbols.append(max(occ, key=occ.get))
        frac.append(site.frac_coords)
    if not symbols:
        raise InputError(f"{what} has no fully identifiable atoms; give a CIF file with element sites.")
    atoms = Atoms(symbols, scaled_positions=np.array(frac) % 1.0, cell=struct.lattice.matrix, pbc=True)
    return atoms


def amcsd_atoms(entry_id: int) -> Atoms:
    """ase.Atoms of one AMCSD entry."""
    cif = _larixite_db().get_cif(entry_id)
    if cif is None:
        raise InputError(f"AMCSD entry {entry_id} is not in Larch's database.")
    atoms = atoms_from_cif_text(cif.ciftext, f"AMCSD entry {entry_id}")
    atoms.info.update({"amcsd_id": entry_id, "spacegroup": cif.hm_symbol})
    return atoms


def signature(atoms: Atoms, k: int = 6, rcut: float = 4.0) -> tuple[np.ndarray, float]:
    """(fingerprint, overlap) of a crystal. The fingerprint (angstrom) is setting-independent: per element
    (alphabetical), the mean of each atom's ``k`` shortest neighbour distances; it serves to find the
    consensus among entries of one polymorph. The overlap is the smallest ratio of an interatomic distance
    to the sum of the two covalent radii (about 1 for bonded atoms; well below 0.6 means overlapping split
    sites or a broken entry)."""
    from ase.data import covalent_radii

    from .shells import periodic_neighbours

    syms = np.array(atoms.get_chemical_symbols())
    rad = covalent_radii[atoms.numbers]
    neigh = periodic_neighbours(atoms, range(len(atoms)), rcut)
    overlap = min((float(np.min(d / (rad[c] + rad[j]))) for c, (j, _, d) in enumerate(neigh) if len(d)),
                  default=math.inf)
    out = []
    for el in sorted(set(syms)):
        rows = [np.pad(neigh[c][2][:k], (0, k - len(neigh[c][2][:k])), constant_values=rcut)
                for c in np.flatnonzero(syms == el)]
        out.append(np.mean(rows, axis=0))
    return np.concatenate(out), overlap


# ---------------------------------------------------------------------------------------------------
# ASE reference states (elements)
# ---------------------------------------------------------------------------------------------------

_ASE_SG = {"fcc": "F m -3 m", "bcc": "I m -3 m", "hcp": "P 63/m m c", "diamond": "F d -3 m",
           "sc": "P m -3 m"}


def ase_reference(symbol: str):
    """(ase.Atoms, description) of ASE's reference state for an element, or None when ASE has no
    periodic crystal for it (diatomic gases, complex structures)."""
    from ase.build import bulk
    from ase.data import reference_states

    state = reference_states[atomic_numbers[symbol]]
    if not state or state.get("symmetry") not in _ASE_SG:
        return None
    try:
        atoms = bulk(symbol)
    except Exception:  # ASE cannot build this reference state
        return None
    sym = state["symmetry"]
    desc = f"{sym} a = {state['a']:.3f} A"
    if sym == "hcp":
        desc += f", c/a = {state.get('c/a', 1.633):.3f}"
    atoms.info["spacegroup"] = _ASE_SG[sym]
    return atoms, sym, desc


def is_element(text: str) -> bool:
    return text in chemical_symbols and text != "X"
