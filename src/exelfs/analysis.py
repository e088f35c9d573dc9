"""The classical chain in one call: spectrum -> chi(k) (extract) -> FEFF paths (theory) -> shell fit (fit).

``analyze`` returns the dict of the ``exelfs analyze --json`` contract (DESIGN.md) minus "file".
Units: energies eV, k 1/angstrom, r angstrom, sigma2 angstrom^2.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError
from .spectrum import ChiData, Spectrum

FEFF_RMAX = 5.0          # A: the first shells and the further paths whose tails leak into their R window
CHI_KMIN = 3.0           # 1/A: kmin for chi(k) files (no extraction to tell us)
CHI_KMAX_CAP = 16.0      # 1/A: kmax cap for chi(k) files
EELS_DISPERSION_REL = 0.01  # relative uncertainty of an EELS energy scale (eV/channel): scales k, so R
ETOK = 0.2624682843      # 1/(eV A^2): k^2 = ETOK (E - E0)
RBKG_MAX, RBKG_MIN = 1.0, 0.6  # A: range of the autobk background cut-off (half the first distance)
R_ERR_ANSWER = 0.15      # A: a first shell known no better than this is reported as undetermined, not answered


CONFIDENT_SCORE = 0.5  # identification score above which an element counts as present

def _edge_from_data(data) -> str | None:
    """Edge name from file metadata (XDI Element.symbol / Element.edge), or None."""
    md = getattr(data, "metadata", None) or {}
    el = md.get("element") or md.get("Element.symbol")
    ed = md.get("edge") or md.get("Element.edge")
    if el and ed:
        return f"{str(el).strip()}_{str(ed).strip()}"
    if md.get("edge_name"):
        return str(md["edge_name"])
    return None


def _identify_edge(spectrum) -> tuple[str, list[str]]:
    """The most likely edge of a spectrum (first edge with an EXELFS range, best candidate)."""
    from .edges import identify  # edge detection lives in the edges package

    result = identify(spectrum)
    warnings = list(result.get("warnings", []))
    edges = [e for e in result.get("edges", []) if e.get("candidates")]
    if not edges:
        raise InputError("no edge was identified in this spectrum: give the edge with --edge El_EDGE")
    best = max(edges[0]["candidates"], key=lambda c: c.get("score", 0))
    name = f"{best['element']}_{best['edge']}"
    if len(edges) > 1:
        warnings.append(f"several edges found; analysed the first, {name} at {edges[0]['onset_ev']:.0f} eV "
                        "(choose another with --edge)")
    return name, warnings


def _structure_from_data(spectrum, element: str) -> tuple[str, list[str]]:
    """A structure spec when none is given: for EELS, the commonest compound (AMCSD) of the elements
    whose edges are confidently identified in the spectrum; otherwise the absorbing element itself."""
    if not isinstance(spectrum, Spectrum) or spectrum.kind != "eels":
        return element, [f"structure not given: using the element {element}"]
    from .edges import identify
    from .structure import spec_for_elements

    found = {element}
    for e in identify(spectrum)["edges"]:
        top = e["candidates"][0] if e.get("candidates") else None
        if top and top.get("score", 0) >= CONFIDENT_SCORE:
            found.add(top["element"])
    spec = spec_for_elements(found)
    return spec, [f"structure not given: proposed {spec} from the elements identified in the spectrum "
                  f"({', '.join(sorted(found))}); give --structure to choose another"]


def _feff_edge(edge: str) -> str:
    if edge == "K":
        return "K"
    if edge in ("L1", "L2", "L3"):
        return edge
    raise InputError(f"{edge} edges cannot be analysed with FEFF6 paths yet: use a K or L edge")


def _l2_shift(kind: str, element: str, edge: str, kmax: float) -> float | None:
    """L3-L2 spacing (eV) when the L2 edge falls inside the fitted EXELFS range of an L3 edge."""
    if edge != "L3":
        return None
    from .edges.tables import edge_entry

    try:
        l3, l2 = edge_entry(element, "L3"), edge_entry(element, "L2")
    except InputError:
        return None
    e3 = l3.xray_energy or l3.eels_onset
    e2 = l2.xray_energy or l2.eels_onset
    if e3 is None or e2 is None:
        return None
    shift = float(e2 - e3)
    if 0 < shift < kmax ** 2 / ETOK:
        return shift
    return None


def _chi_k_range(k, chi) -> tuple[float, float]:
    k = np.asarray(k, float)
    good = np.isfinite(chi) & (np.asarray(chi) != 0)
    kmax = float(k[good].max()) if good.any() else float(k.max())
    return (CHI_KMIN, min(kmax - 0.5, CHI_KMAX_CAP))


def _rbkg(paths) -> float:
    """Larch autobk's rbkg (A) for this structure: the spline may follow nothing above rbkg in chi(R), and
    the first shell's peak sits ~0.3-0.4 A below its distance; at 1 A a short bond (B-N 1.45 A) would be
    half eaten by the background. Half the first distance, 0.6-1.0 A."""
    ss = [p.reff for p in paths if p.nleg == 2]
    if not ss:
        return RBKG_MAX
    return float(min(RBKG_MAX, max(RBKG_MIN, 0.5 * min(ss))))


def _structure_elements(structure, absorber: str) -> list[str] | None:
    """Chemical elements of the reference structure (None when it cannot be built): the edges that can
    end the EELS range are theirs."""
    try:
        if hasattr(structure, "get_chemical_symbols"):
            symbols = structure.get_chemical_symbols()
        else:
            from .structure import reference_atoms

            symbols = reference_atoms(str(structure)).get_chemical_symbols()
    except Exception:  # noqa: BLE001 - an unknown structure is reported by feff_paths later
        return None
    return sorted(set(symbols) | {absorber})


def _structure_name(structure) -> str:
    if hasattr(structure, "get_chemical_formula"):
        return structure.get_chemical_formula()
    return str(structure)


def analyze(spectrum, edge: str | None = None, structure=None, lowloss=None, method: str = "fit",
            report_dir=None) -> dict:
    """Local structure around the absorbing atom of one edge.

    spectrum: a Spectrum (EELS or X-ray mu(E); a spectrum image is summed) or ChiData (chi(k) file).
    edge: 'El_EDGE' (e.g. 'O_K', 'Ni_L3'); from the file metadata or edge identification when None.
    structure: spec of the reference structure (element, formula, CIF path) or ase.Atoms; the element
    when None. lowloss: low-loss Spectrum for Fourier-ratio deconvolution (EELS).
    method: 'fit' (Larch feffit shell fit); 'nn'/'both' are not available yet.
    report_dir: folder for figures, HTML page and result.json.

    Returns {"edge","structure","method","e0_ev","k_range","r_range","shells","warnings","n_independent",
    "t_lambda", ...} with shells [{"scatterer","r","r_err","n","n_err","sigma2","sigma2_err"}] in rising r.
    """
    from .edges.tables import parse_edge
    from .fit import fit_shells
    from .theory import feff_paths

    method = (method or "fit").lower()
    if method in ("nn", "both"):
        raise InputError("neural-network analysis is not available yet: use --method fit")
    if method != "fit":
        raise InputError(f"unknown method '{method}': use fit")
    if not isinstance(spectrum, (Spectrum, ChiData)):
        raise InputError("analyze needs a Spectrum or a ChiData (read the file with exelfs.io.read_spectrum)")

    warnings: list[str] = []
    md = getattr(spectrum, "metadata", None) or {}
    warnings += [str(w) for w in md.get("warnings", [])]
    if edge is None:
        edge = _edge_from_data(spectrum)
        if edge is None:
            if isinstance(spectrum, ChiData):
                raise InputError("this chi(k) file does not say which edge it is: give --edge El_EDGE")
            edge, w = _identify_edge(spectrum)
            warnings += w
            warnings.append(f"edge not given: identified as {edge}")
    element, edge_kind = parse_edge(edge)
    edge = f"{element}_{edge_kind}"
    feff_edge = _feff_edge(edge_kind)
    if structure is None:
        structure, w = _structure_from_data(spectrum, element)
        warnings += w
    structure_name = _structure_name(structure)

    extraction = None
    if isinstance(spectrum, ChiData):
        k, chi = spectrum.k, spectrum.chi
        if k.size < 20:
            raise InputError("the chi(k) file holds fewer than 20 points: nothing to fit")
        k_range = _chi_k_range(k, chi)
        e0_ev = md.get("e0")
        t_lambda = None
        kind = "xas"
    else:
        from .extract import extract_chi

        spec = spectrum.summed() if spectrum.nav_shape else spectrum
        if spectrum.nav_shape:
            warnings.append(f"spectrum image {spectrum.nav_shape}: analysed the sum of its spectra")
        paths = feff_paths(structure, element, feff_edge, rmax=FEFF_RMAX)
        extraction = extract_chi(spec, edge, lowloss=lowloss, rbkg=_rbkg(paths),
                                 elements=_structure_elements(structure, element))
        k, chi = extraction.k, extraction.chi
        k_range = tuple(float(x) for x in extraction.k_range)
        e0_ev = float(extraction.e0)
        t_lambda = getattr(extraction, "t_lambda", None)
        warnings += [str(w) for w in getattr(extraction, "warnings", [])]
        kind = spectrum.kind

    if k_range[1] - k_range[0] < 2.0:
        raise InputError(f"the usable k range ({k_range[0]:.1f}-{k_range[1]:.1f} 1/A) is too short for "
                         "EXELFS: record at least ~150 eV past the edge")
    if extraction is None:
        paths = feff_paths(structure, element, feff_edge, rmax=FEFF_RMAX)
    l2_shift = _l2_shift(kind, element, edge_kind, k_range[1]) if kind == "eels" else None
    # one fit over the data-driven k range: beyond the noise limit chi(k) holds noise and background
    # residue only, which drags N and sigma2 (a second, longer range averaged in did exactly that)
    fit = fit_shells(k, chi, paths, k_range, l2_shift_ev=l2_shift)
    shells = [dict(s) for s in fit["shells"]]
    k_range = tuple(fit["k_range"])
    warnings += fit["warnings"]
    if kind == "eels":
        # the energy scale (eV/channel) of EELS is known to ~1%: k and so R scale with it
        for s in shells:
            s["r_err"] = round(math.hypot(s["r_err"], EELS_DISPERSION_REL * s["r"]), 4)
    if l2_shift:
        warnings.append(f"L2 fine structure modelled as a copy of L3's shifted by {l2_shift:.1f} eV, weight 1/2 "
                        "of L3's (chi normalised by the L3 + L2 background)")

    undetermined = []
    underdetermined = fit["n_independent"] < fit["n_parameters"]
    if shells and (shells[0]["r_err"] > R_ERR_ANSWER or underdetermined):
        undetermined, shells = shells, []
        why = "fewer independent points than parameters" if underdetermined else "too uncertain"
        warnings.append(f"the first shell is not determined by these data ({why}: R = {undetermined[0]['r']:.2f} +- "
                        f"{undetermined[0]['r_err']:.2f} A): no distance is reported; see 'undetermined_shells'")

    result = {
        "edge": edge,
        "structure": structure_name,
        "method": "fit",
        "e0_ev": None if e0_ev is None else round(float(e0_ev), 2),
        "k_range": [round(float(k_range[0]), 3), round(float(k_range[1]), 3)],
        "r_range": fit["r_range"],
        "shells": shells,
        "warnings": list(dict.fromkeys(warnings)),
        "n_independent": fit["n_independent"],
        "n_parameters": fit["n_parameters"],
        "e0_shift": fit["e0_shift"],
        "chi2_reduced": round(fit["chi2_reduced"], 4),
        "r_factor": round(fit["r_factor"], 5),
        "fit_mode": fit["mode"],
        "n_from": fit["n_from"],
        "t_lambda": None if t_lambda is None else round(float(t_lambda), 3),
    }
    if undetermined:
        result["undetermined_shells"] = undetermined
    if report_dir is not None:
        from .report import write_report

        result["report"] = str(write_report(result, extraction, fit, report_dir))
    return result


def format_analysis(result: dict) -> str:
    """Human-readable summary of an analyze() result."""
    lines = []
    if result.get("file"):
        lines.append(f"file: {result['file']}")
    lines.append(f"edge: {result.get('edge')}   structure: {result.get('structure')}   method: {result.get('method')}")
    e0 = result.get("e0_ev")
    kr = result.get("k_range") or [None, None]
    rr = result.get("r_range") or [None, None]
    lines.append(f"E0 = {e0} eV   k = {kr[0]}-{kr[1]} 1/A   R = {rr[0]}-{rr[1]} A   "
                 f"N_idp = {result.get('n_independent')}   parameters = {result.get('n_parameters')}")
    if result.get("t_lambda") is not None:
        lines.append(f"t/lambda = {result['t_lambda']}")
    lines.append("")
    lines.append(f"{'shell':>5}  {'scatterer':>9}  {'R (A)':>14}  {'N':>12}  {'sigma2 (A^2)':>18}")
    for i, s in enumerate(result.get("shells", []), start=1):
        n_err = "fixed" if s.get("n_err") is None else f"{s['n_err']:4.1f}"
        lines.append(f"{i:>5}  {s['scatterer']:>9}  {s['r']:7.3f} +-{s['r_err']:5.3f}  "
                     f"{s['n']:5.1f} +-{n_err:>5}  {s['sigma2']:8.4f} +-{s['sigma2_err']:7.4f}")
    if result.get("n_from"):
        lines.append(f"N: {result['n_from']}")
    for w in result.get("warnings", []):
        lines.append(f"warning: {w}")
    if result.get("report"):
        lines.append(f"report: {result['report']}")
    return "\n".join(lines)
