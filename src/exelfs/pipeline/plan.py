"""The plan of an analysis: everything decided once, before any spectrum (or pixel) is analysed.

Edge, structure, absorber, FEFF paths and extraction settings are each resolved once and kept here, so a
spectrum image or a batch of files reuses them. Distances in angstrom, energies in eV.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from ..spectrum import ChiData, Spectrum, as_data
from .settings import Choices, Settings

FEFF_RMAX = 5.0          # A: the first shells and the further paths whose tails leak into their R window
RBKG_MAX, RBKG_MIN = 1.0, 0.6  # A: range of the automatic autobk cut-off (half the first distance)
CONFIDENT_SCORE = 0.5    # identification score above which an element counts as present
FEFF_EDGES = ("K", "L1", "L2", "L3")


@dataclass
class Plan:
    """What one analysis is about, resolved once.

    edge ('Mg_K'), element, edge_kind ('K'), kind ('eels', 'xas' or 'chi'), structure (name), atoms
    (ase.Atoms of the reference structure), elements (of the structure and absorber), rbkg (A),
    settings (the user's controls), choices (record of what was set and chosen, with reasons), warnings,
    identification (the edges found, when identification was needed). ``paths`` (FEFF paths, computed
    on first use and kept) and ``first_distance`` (A) derive from the structure."""

    edge: str
    element: str
    edge_kind: str
    kind: str
    structure: str
    atoms: object
    elements: list
    settings: Settings
    choices: Choices
    warnings: list = field(default_factory=list)
    identification: dict | None = None
    first_distance: float | None = None
    _paths: list | None = field(default=None, repr=False)

    @property
    def rbkg(self) -> float:
        return self.choices.items["rbkg"]["value"]

    @property
    def paths(self) -> list:
        """FEFF paths around the absorber (Larch feff6l, cached on disk), computed once per plan."""
        if self._paths is None:
            from ..theory import feff_paths

            self._paths = feff_paths(self.atoms, self.element, self.edge_kind, rmax=FEFF_RMAX)
            self.warnings += [str(n) for n in getattr(self._paths, "notes", [])]
        return self._paths


def _edge_from_metadata(data) -> str | None:
    """Edge name from file metadata (XDI Element.symbol / Element.edge), or None."""
    md = getattr(data, "metadata", None) or {}
    el = md.get("element") or md.get("Element.symbol")
    ed = md.get("edge") or md.get("Element.edge")
    if el and ed:
        return f"{str(el).strip()}_{str(ed).strip()}"
    return str(md["edge_name"]) if md.get("edge_name") else None


def _identified_edge(identification: dict) -> tuple[str, list[str]]:
    """The first identified edge and its best candidate."""
    edges = [e for e in identification.get("edges", []) if e.get("candidates")]
    if not edges:
        raise InputError("no edge was identified in this spectrum: give the edge with --edge El_EDGE")
    best = max(edges[0]["candidates"], key=lambda c: c.get("score", 0))
    name = f"{best['element']}_{best['edge']}"
    notes = [f"edge not given: identified as {name}"]
    if len(edges) > 1:
        notes.append(f"several edges found; analysed the first, {name} at {edges[0]['onset_ev']:.0f} eV "
                     "(choose another with --edge)")
    return name, notes


def _proposed_structure(identification: dict | None, element: str) -> tuple[str, str]:
    """A structure spec when none is given, and why: for EELS, the commonest compound (AMCSD) of the
    elements confidently identified in the spectrum; otherwise the absorbing element itself."""
    if identification is None:
        return element, f"structure not given: using the element {element}"
    from ..structure import spec_for_elements

    found = {element}
    for e in identification["edges"]:
        top = e["candidates"][0] if e.get("candidates") else None
        if top and top.get("score", 0) >= CONFIDENT_SCORE:
            found.add(top["element"])
    spec = spec_for_elements(found)
    return spec, (f"structure not given: proposed {spec} from the elements identified in the spectrum "
                  f"({', '.join(sorted(found))}); give --structure to choose another")


def _resolve_edge(data, edge, kind, choices, warnings) -> tuple[str, dict | None]:
    from ..edges.tables import normalize_edge, parse_edge

    identification, from_file = None, _edge_from_metadata(data)
    if edge is not None:
        choices.user("edge", normalize_edge(edge))
    elif from_file is not None:
        edge = from_file
        choices.auto("edge", edge, "from the file's metadata")
    elif kind == "chi":
        raise InputError("this chi(k) file does not say which edge it is: give --edge El_EDGE")
    else:
        from ..edges import identify

        identification = identify(data)
        warnings += [str(w) for w in identification.get("warnings", [])]
        edge, notes = _identified_edge(identification)
        warnings += notes
        choices.auto("edge", edge, "best candidate of the first identified edge")
    element, edge_kind = parse_edge(edge)
    if edge_kind not in FEFF_EDGES:
        raise InputError(f"{edge_kind} edges cannot be analysed with FEFF6 paths yet: use a K or L edge")
    return f"{element}_{edge_kind}", identification


def _resolve_structure(structure, data, kind, element, identification, choices, warnings):
    """(name, ase.Atoms) of the reference structure, resolved once."""
    from ..structure import reference_atoms

    if structure is None:
        if kind == "eels" and identification is None:
            from ..edges import identify

            identification = identify(data)
        spec, why = _proposed_structure(identification if kind == "eels" else None, element)
        warnings.append(why)
        choices.auto("structure", spec, why)
        structure = spec
    elif not hasattr(structure, "get_chemical_symbols"):
        choices.user("structure", str(structure))
    if hasattr(structure, "get_chemical_symbols"):
        atoms, name = structure, structure.get_chemical_formula()
        choices.user("structure", name)
    else:
        atoms, name = reference_atoms(str(structure)), str(structure)
    symbols = set(atoms.get_chemical_symbols())
    if element not in symbols:
        raise InputError(f"absorber {element} is not in the structure ({', '.join(sorted(symbols))}): "
                         "check the edge or structure")
    return name, atoms, sorted(symbols), identification


def _first_distance(atoms, element) -> float | None:
    """Nearest-neighbour distance (A) around the absorber in the reference structure."""
    from ..structure import shells

    found = shells(atoms, element, rmax=4.0)
    return float(found[0]["r"]) if found else None


def make_plan(data, edge: str | None = None, structure=None, settings: Settings | None = None) -> Plan:
    """Resolve edge, structure, absorber and extraction settings once for ``data`` (a Spectrum, a
    spectrum image, a ChiData or a HyperSpy signal; identification and structure proposal run on it when
    edge or structure are not given). The FEFF paths are computed on first use of ``plan.paths``."""
    data = as_data(data)
    settings = settings or Settings()
    kind = "chi" if isinstance(data, ChiData) else data.kind
    choices, warnings = Choices(), []
    for name, value in settings.given().items():
        choices.user(name, value)
    probe = data.summed() if isinstance(data, Spectrum) and data.nav_shape else data
    edge, identification = _resolve_edge(probe, edge, kind, choices, warnings)
    element, edge_kind = edge.split("_")
    name, atoms, elements, identification = _resolve_structure(structure, probe, kind, element, identification,
                                                               choices, warnings)
    plan = Plan(edge=edge, element=element, edge_kind=edge_kind, kind=kind, structure=name, atoms=atoms,
                elements=elements, settings=settings, choices=choices, warnings=warnings,
                identification=identification, first_distance=_first_distance(atoms, element))
    if settings.rbkg is None:
        # the spline may follow nothing above rbkg in chi(R), and the first shell's peak sits ~0.3-0.4 A
        # below its distance: at 1 A a short bond (B-N 1.45 A) would be half eaten by the background
        d = plan.first_distance
        rbkg = RBKG_MAX if d is None else float(min(RBKG_MAX, max(RBKG_MIN, 0.5 * d)))
        choices.auto("rbkg", round(rbkg, 3), "half the first-shell distance of the structure, within 0.6-1.0 A")
    return plan
