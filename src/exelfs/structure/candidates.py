"""Reference crystal structures for a SPEC: an element (``Cu``), a formula (``TiO2``), a mineral name
(``rutile``) or a CIF path. ``propose`` ranks the candidates, commonest polymorph first."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from ase import Atoms

from ..errors import InputError
from ..quiet import quiet
from . import database as db

MAX_ALTERNATIVES = 6   # polymorphs kept per spec (the best first)


@dataclass
class StructureCandidate:
    """A reference crystal: ``name``, ``source`` (where it comes from), ``note`` (why/what), and ``atoms``
    (periodic ase.Atoms, built on first access: parsing a CIF costs 20-100 ms)."""
    name: str
    source: str
    note: str = ""
    formula: str = ""
    spacegroup: str = ""
    elements: tuple = ()
    _build: Callable[[], Atoms] | None = field(default=None, repr=False)
    _atoms: Atoms | None = field(default=None, repr=False)
    _limit: int = field(default=1, repr=False)   # AMCSD entries compared when building (see _consensus_atoms)

    @property
    def atoms(self) -> Atoms:
        if self._atoms is None:
            atoms = self._build()
            atoms.info.setdefault("name", self.name)
            # the entry actually used may be a runner-up of the same polymorph (see _amcsd_candidate)
            self.source = atoms.info.setdefault("source", self.source)
            if self.spacegroup:
                atoms.info["spacegroup"] = self.spacegroup
            self._atoms = atoms
        return self._atoms


def _spec_kind(spec: str) -> str:
    s = spec.strip()
    if not s:
        raise InputError("the structure spec is empty: give an element (Cu), a formula (MgO) or a CIF path.")
    if s.lower().endswith((".cif", ".mcif")) or os.sep in s or "/" in s:
        return "cif"
    if db.is_element(s) or (s.islower() and db.is_element(s.capitalize())):
        return "element"
    if db.parse_formula(s) is not None:
        return "formula"
    if os.path.isfile(s):      # a CIF file without the .cif suffix
        return "cif"
    return "name"


def propose(spec: str) -> list[StructureCandidate]:
    """Candidate structures for SPEC, best first (a new list; candidates are shared and cached, except
    for CIF files, which are read afresh each time)."""
    spec = str(spec).strip()
    if _spec_kind(spec) == "cif":
        cand = _from_cif(spec)
        cand._limit = CONSENSUS_ENTRIES
        return [cand]
    return list(_propose_cached(spec))


@functools.lru_cache(maxsize=64)
def _propose_cached(spec: str) -> tuple[StructureCandidate, ...]:
    kind = _spec_kind(spec)
    if kind == "element":
        out = _for_element(spec.capitalize())
    elif kind == "formula":
        out = _for_formula(spec)
    else:
        out = _for_mineral(spec)
    out = out[:MAX_ALTERNATIVES]
    for k, cand in enumerate(out):
        cand._limit = CONSENSUS_ENTRIES if k == 0 else ALTERNATIVE_ENTRIES
    return tuple(out)


def spec_for_elements(elements) -> str:
    """The structure spec for a sample known only by its elements (e.g. those whose edges were identified
    in a spectrum): the element itself, or the composition of those elements most often refined in AMCSD.
    InputError when AMCSD holds no compound of exactly these elements."""
    elements = sorted(set(elements))
    if len(elements) == 1:
        return elements[0]
    found = db.compositions(elements)
    if not found:
        raise InputError(f"no compound of exactly {', '.join(elements)} in Larch's AMCSD database: give the "
                         "structure (--structure SPEC: a formula or a CIF file).")
    return found[0][0]


def reference_atoms(spec) -> Atoms:
    """The best candidate's periodic ase.Atoms (a copy) for SPEC; an ase.Atoms passes through."""
    if isinstance(spec, Atoms):
        return spec.copy()
    return buildable(propose(spec))[0].atoms.copy()


def buildable(cands: list[StructureCandidate]) -> list[StructureCandidate]:
    """The candidates from the first one whose atoms can be built on (a broken database entry at the
    top drops out; the alternatives are checked later by their users); InputError when none can."""
    first_error = None
    for k, cand in enumerate(cands):
        try:
            cand.atoms
        except InputError as exc:
            first_error = first_error or exc
            continue
        return list(cands[k:])
    raise first_error or InputError("no usable crystal structure; give a CIF file.")


# ---------------------------------------------------------------------------------------------------

def _from_cif(path: str) -> StructureCandidate:
    if not os.path.isfile(path):
        raise InputError(f"CIF file not found: {path}; give an existing file, an element or a formula.")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read the CIF file {path} ({exc.strerror}).") from None
    atoms = db.atoms_from_cif_text(text, f"the CIF file {path}")
    name = _cif_name(text) or os.path.splitext(os.path.basename(path))[0]
    syms = atoms.get_chemical_symbols()
    order = db.cation_order(set(syms))
    counts = {el: syms.count(el) for el in order}
    formula = db.reduced_formula(counts)
    sg = _spacegroup_of(atoms)
    return StructureCandidate(name=f"{name} ({formula})", source=os.path.abspath(path), note="from CIF file",
                              formula=formula, spacegroup=sg, elements=tuple(order),
                              _atoms=_with_info(atoms, name, os.path.abspath(path), sg))


def _cif_name(text: str) -> str:
    for line in text.splitlines():
        low = line.strip().lower()
        for key in ("_chemical_name_mineral", "_chemical_name_common", "_chemical_name_systematic"):
            if low.startswith(key):
                val = line.strip()[len(key):].strip().strip("'\"")
                if val and val not in ("?", "."):
                    return val
    return ""


def _spacegroup_of(atoms: Atoms) -> str:
    try:
        import spglib
        cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
        with quiet():   # spglib's deprecation notice about its error handling
            return spglib.get_spacegroup(cell, symprec=1e-3) or ""
    except Exception:  # spglib missing or failing: the space group is only informative
        return ""


def _with_info(atoms: Atoms, name: str, source: str, sg: str) -> Atoms:
    atoms.info.update({"name": name, "source": source, "spacegroup": sg})
    return atoms


def _for_element(symbol: str) -> list[StructureCandidate]:
    prefs = db.preferred_table()["elements"].get(symbol)
    groups = db.rank_groups(db.group_entries(db.matching_entries({symbol: 1.0})), prefs)
    amcsd = [_amcsd_candidate(g) for g in groups]
    ref = db.ase_reference(symbol)
    out = []
    if ref is not None:
        atoms, sym, desc = ref
        cand = StructureCandidate(
            name=f"{symbol} ({sym})", source="ASE reference_states (ase.build.bulk)",
            note=f"ASE reference state: {desc}", formula=symbol, spacegroup=db._ASE_SG[sym],
            elements=(symbol,), _atoms=_with_info(atoms, f"{symbol} ({sym})", "ASE reference_states",
                                                  db._ASE_SG[sym]))
        out.append(cand)
    # curated polymorphs (e.g. graphite for carbon) come before ASE's reference state
    curated = [c for c, g in zip(amcsd, groups) if g.curated_rank is not None]
    rest = [c for c, g in zip(amcsd, groups) if g.curated_rank is None]
    out = curated + out + rest
    if not out:
        raise InputError(f"no crystal structure of {symbol} is known to ASE or to Larch's AMCSD database; "
                         "give a CIF file.")
    return out


def _for_formula(spec: str) -> list[StructureCandidate]:
    counts = db.parse_formula(spec)
    if len(counts) == 1:
        return _for_element(next(iter(counts)))
    entries = db.matching_entries(counts)
    if not entries:
        raise InputError(f"no crystal structure of {spec} in Larch's AMCSD database; give a CIF file "
                         "(or check the formula).")
    prefs = _preferences_for(counts)
    groups = db.rank_groups(db.group_entries(entries), prefs)
    order = list(counts)   # elements in the order written: the first cation is the default absorber
    return [_amcsd_candidate(g, order) for g in groups]


def _for_mineral(name: str) -> list[StructureCandidate]:
    entries = db.find_mineral(name)
    if not entries:
        raise InputError(f"'{name}' is not an element, a chemical formula, a mineral name in Larch's AMCSD "
                         "database or a CIF file; give e.g. Cu, MgO, rutile or a path to a .cif file.")
    groups = db.rank_groups(db.group_entries(entries), None)
    return [_amcsd_candidate(g) for g in groups]


def _preferences_for(counts: dict) -> list[dict] | None:
    want = db.fractions(counts)
    for key, prefs in db.preferred_table()["formulas"].items():
        kc = db.parse_formula(key)
        if kc and set(kc) == set(want):
            have = db.fractions(kc)
            if all(abs(have[e] - want[e]) < 1e-3 for e in want):
                return prefs
    return None


def _amcsd_candidate(group: db.Group, order: list[str] | None = None) -> StructureCandidate:
    ranked = group.ranked_entries()
    best = ranked[0]
    els = order or db.cation_order(best.counts)
    formula = db.reduced_formula({e: best.counts[e] for e in els if e in best.counts}, [e for e in els
                                                                                         if e in best.counts])
    name = f"{best.mineral + ' ' if best.mineral else ''}{formula} ({best.sg_symbol})"
    if group.label and group.label.lower() != best.mineral.lower():
        name += f", {group.label}"
    cond = []
    if not best.ambient:
        if best.pressure_gpa:
            cond.append(f"P = {best.pressure_gpa:g} GPa")
        if best.temperature_k:
            cond.append(f"T = {best.temperature_k:.0f} K")
    note = f"{len(group.entries)} AMCSD entr{'y' if len(group.entries) == 1 else 'ies'}"
    if cond:
        note += "; measured at " + ", ".join(cond)

    cand = StructureCandidate(name=name, source=best.source(), note=note, formula=formula,
                              spacegroup=best.sg_symbol, elements=tuple(els))
    cand._build = lambda: _consensus_atoms(ranked, name, cand._limit)
    return cand


CONSENSUS_ENTRIES = 5     # entries (one per publication) of the best polymorph built to find a consensus
ALTERNATIVE_ENTRIES = 1   # the same for the alternatives (they only get a first-shell note)
CONSENSUS_TOL = 0.03      # angstrom: two entries agree when their fingerprints differ by no more


def _consensus_atoms(ranked: list, name: str, limit: int = CONSENSUS_ENTRIES) -> Atoms:
    """Atoms of the AMCSD entry of one polymorph that most other refinements agree with.

    Single entries can be outliers (a wrong positional parameter, a ball-milled sample, overlapping
    split sites), so up to ``limit`` entries, one per publication (ambient ones when there are several),
    are built; each gets as support the number of entries whose fingerprint (``database.signature``) is
    within ``CONSENSUS_TOL``. The best-ranked (ambient, pure, recent) entry supported by a majority wins;
    failing a majority, the best supported.
    """
    good = [e for e in ranked if e.ambient and not e.model]
    pool, seen = [], set()
    for entry in (good if len(good) >= 2 else ranked):
        if entry.publication not in seen:
            seen.add(entry.publication)
            pool.append(entry)
    built, last = [], None
    for entry in pool[:limit + 3]:
        if len(built) >= limit:
            break
        try:
            atoms = db.amcsd_atoms(entry.id)
        except InputError as exc:
            last = exc
            continue
        sig, overlap = db.signature(atoms)
        if overlap < 0.55:      # overlapping split sites, or a broken entry
            last = InputError(f"the AMCSD entries of {name} have overlapping atoms; give a CIF file.")
            continue
        atoms.info["source"] = entry.source()
        built.append((atoms, sig))
    if not built:
        raise last or InputError(f"could not build the structure of {name} from AMCSD; give a CIF file.")

    def agree(s1, s2):
        return len(s1) == len(s2) and float(np.max(np.abs(s1 - s2))) <= CONSENSUS_TOL

    support = [sum(agree(s, t) for _, t in built) for _, s in built]
    for (atoms, _), n in zip(built, support):
        if n > len(built) / 2:                  # the best-ranked entry that a majority agrees with
            return atoms
    return built[int(np.argmax(support))][0]   # argmax takes the first (best-ranked) of equals
