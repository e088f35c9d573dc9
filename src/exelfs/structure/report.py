"""``exelfs structure``: the reference structure of a SPEC and the shells around an absorber (angstrom)."""

from __future__ import annotations

from ..errors import InputError
from . import database as db
from .candidates import StructureCandidate, buildable, propose
from .shells import absorber_sites, shells

RMAX = 6.0   # angstrom: shells reported out to here


def normalise_absorber(absorber: str | None) -> str | None:
    """'cu' / 'CU' / ' Cu ' -> 'Cu'; None stays None."""
    if absorber is None:
        return None
    a = str(absorber).strip()
    if not a:
        return None
    a = a[0].upper() + a[1:].lower()
    if not db.is_element(a):
        raise InputError(f"absorber '{absorber}' is not an element symbol; give one such as Cu or O.")
    return a


def choose_absorber(candidate: StructureCandidate, absorber: str | None = None) -> str:
    """The requested absorber (checked against the structure) or the default: the first cation of the
    formula as written (Mg in MgO, Ti in TiO2, B in BN)."""
    present = list(dict.fromkeys(candidate.atoms.get_chemical_symbols()))
    absorber = normalise_absorber(absorber)
    if absorber is None:
        order = [e for e in candidate.elements if e in present] + [e for e in present
                                                                    if e not in candidate.elements]
        return db.default_absorber(order)
    if absorber not in present:
        raise InputError(f"absorber {absorber} is not in {candidate.name} (its elements: "
                         f"{', '.join(present)}); choose one of those.")
    return absorber


def _first_shell_note(cand: StructureCandidate, absorber: str | None) -> str:
    try:
        atoms = cand.atoms
        present = set(atoms.get_chemical_symbols())
        a = absorber if absorber in present else choose_absorber(cand)
        sh = shells(atoms, a, rmax=4.5)
    except InputError as exc:
        return f"{cand.note}; could not be built ({exc})"
    if not sh:
        return f"{cand.note}; no neighbour of {a} within 4.5 A"
    r1 = sh[0]["r"]
    first = [s for s in sh if s["r"] - r1 <= 0.1]
    text = ", ".join(f"{s['n']} {s['scatterer']} at {s['r']:.3f} A" for s in first)
    return f"{cand.note}; first shell of {a}: {text}"


def structure_report(spec: str, absorber: str | None = None, rmax: float = RMAX) -> dict:
    """The ``exelfs structure --json`` result for SPEC:
    {"name", "source", "absorber", "shells": [{"scatterer", "r" (angstrom), "n"}] (within 6 angstrom, rising
    r), "alternatives": [{"name", "source", "note"}], plus "formula", "spacegroup", "cell" (a, b, c in
    angstrom; angles in degrees), "sites" (inequivalent absorber sites), "rmax" and "notes"}."""
    cands = buildable(propose(spec))
    best = cands[0]
    atoms = best.atoms
    absorber = choose_absorber(best, absorber)
    sh = shells(atoms, absorber, rmax=rmax)
    sites = absorber_sites(atoms, absorber, rmax=rmax)
    notes = []
    if len(sites) > 1:
        mult = ", ".join(str(s["multiplicity"]) for s in sites)
        notes.append(f"{absorber} occupies {len(sites)} inequivalent sites (multiplicities {mult} in the "
                     "cell): N is averaged over the sites, weighted by multiplicity.")
    cellpar = atoms.cell.cellpar()
    return {
        "name": best.name,
        "source": best.source,
        "absorber": absorber,
        "shells": sh,
        "alternatives": [{"name": c.name, "source": c.source, "note": _first_shell_note(c, absorber)}
                         for c in cands[1:]],
        "formula": best.formula,
        "spacegroup": best.spacegroup or atoms.info.get("spacegroup", ""),
        "cell": {k: round(float(v), 4) for k, v in zip(("a", "b", "c", "alpha", "beta", "gamma"), cellpar)},
        "sites": [{"multiplicity": s["multiplicity"], "first_shell": s["shells"][0] if s["shells"] else None}
                  for s in sites],
        "rmax": rmax,
        "notes": notes,
    }


def format_structure(result: dict) -> str:
    """Readable text of a ``structure_report`` result."""
    lines = [f"Structure:  {result['name']}",
             f"Source:     {result['source']}"]
    if result.get("cell"):
        c = result["cell"]
        lines.append(f"Cell:       a={c['a']:.4f} b={c['b']:.4f} c={c['c']:.4f} A, "
                     f"alpha={c['alpha']:.2f} beta={c['beta']:.2f} gamma={c['gamma']:.2f} deg")
    lines.append(f"Absorber:   {result['absorber']}")
    lines.append("")
    lines.append(f"Shells around {result['absorber']} (within {result.get('rmax', RMAX):g} A):")
    lines.append(f"  {'scatterer':<10} {'r (A)':>8} {'N':>7}")
    for s in result["shells"]:
        n = s["n"]
        ntext = f"{n:d}" if isinstance(n, int) else f"{n:.3f}"
        lines.append(f"  {s['scatterer']:<10} {s['r']:>8.3f} {ntext:>7}")
    for note in result.get("notes", []):
        lines.append(f"Note: {note}")
    if result.get("alternatives"):
        lines.append("")
        lines.append("Alternatives:")
        for k, alt in enumerate(result["alternatives"], 1):
            lines.append(f"  {k}. {alt['name']}  [{alt['source']}]")
            if alt.get("note"):
                lines.append(f"     {alt['note']}")
    if result.get("image"):
        lines.append("")
        lines.append(f"Picture: {result['image']}")
    return "\n".join(lines)
