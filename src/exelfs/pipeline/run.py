"""Run a plan: one spectrum -> Result (``run``), every pixel of a spectrum image -> Results
(``run_pixels``), or both steps in one call (``analyze``). Units: eV, 1/angstrom, angstrom."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ..spectrum import ChiData, Spectrum, as_data
from ..units import ETOK
from .honesty import judge
from .methods import ChiInput, get_method
from .plan import Plan, make_plan
from .result import Result
from .settings import Settings

CHI_KMIN = 3.0             # 1/A: kmin for chi(k) files (no extraction to tell us)
CHI_KMAX_CAP = 16.0        # 1/A: kmax cap for chi(k) files
EELS_DISPERSION_REL = 0.01  # relative uncertainty of an EELS energy scale (eV/channel): scales k, so R
DEFAULT_KWEIGHT = 2


def _chi_file_range(k, chi) -> tuple[float, float]:
    good = np.isfinite(chi) & (np.asarray(chi) != 0)
    kmax = float(np.asarray(k)[good].max()) if good.any() else float(np.max(k))
    return CHI_KMIN, min(kmax - 0.5, CHI_KMAX_CAP)


def l2_shift(plan: Plan, kmax: float) -> float | None:
    """L3-L2 spacing (eV) when the L2 edge falls inside the EXELFS range of an EELS L3 edge."""
    from ..edges.tables import SPIN_ORBIT, edge_entry

    if plan.kind != "eels" or plan.edge_kind not in SPIN_ORBIT:
        return None
    try:
        main, partner = edge_entry(plan.element, plan.edge_kind), edge_entry(plan.element, SPIN_ORBIT[plan.edge_kind])
    except InputError:
        return None
    e_main, e_partner = main.xray_energy or main.eels_onset, partner.xray_energy or partner.eels_onset
    if e_main is None or e_partner is None:
        return None
    shift = float(e_partner - e_main)
    return shift if 0 < shift < kmax ** 2 / ETOK else None


def _k_range(plan: Plan, auto: tuple, why: str, choices) -> tuple[float, float]:
    s = plan.settings
    kmin = s.kmin if s.kmin is not None else auto[0]
    kmax = s.kmax if s.kmax is not None else auto[1]
    if s.kmin is None:
        choices.auto("kmin", round(float(kmin), 3), "past the near-edge structure" if plan.kind != "chi"
                     else "chi(k) file: the customary start")
    if s.kmax is None:
        choices.auto("kmax", round(float(kmax), 3), why)
    if kmax - kmin < 2.0:
        raise InputError(f"the usable k range ({kmin:.1f}-{kmax:.1f} 1/A) is too short for EXELFS: record at "
                         "least ~150 eV past the edge, or widen --kmin/--kmax")
    return float(kmin), float(kmax)


def _extract(plan: Plan, spectrum: Spectrum, lowloss, choices, warnings):
    """(ChiInput, Extraction or None) for one spectrum under the plan."""
    s = plan.settings
    kweight = s.kweight if s.kweight is not None else DEFAULT_KWEIGHT
    if s.kweight is None:
        choices.auto("kweight", kweight, "k^2 weights the first shells of light and heavy scatterers alike")
    if isinstance(spectrum, ChiData):
        if spectrum.k.size < 20:
            raise InputError("the chi(k) file holds fewer than 20 points: nothing to fit")
        k_range = _k_range(plan, _chi_file_range(spectrum.k, spectrum.chi), "end of the chi(k) data (at most 16 1/A)",
                           choices)
        e0 = spectrum.metadata.get("e0")
        return ChiInput(spectrum.k, spectrum.chi, k_range, kweight, "chi", e0=e0), None
    from ..extract import extract_chi

    if lowloss is not None:
        lowloss = as_data(lowloss)
        if not isinstance(lowloss, Spectrum) or lowloss.kind != "eels" or spectrum.kind != "eels":
            raise InputError("--lowloss must be an EELS low-loss spectrum (with the zero-loss peak), given with "
                             "an EELS core-loss spectrum")
    ext = extract_chi(spectrum, plan.edge, lowloss=lowloss, e0=s.e0, kweight=kweight, rbkg=plan.rbkg,
                      elements=plan.elements)
    warnings += [str(w) for w in ext.warnings]
    if s.e0 is None:
        choices.auto("e0", round(float(ext.e0), 2), f"from the data ({', '.join(sorted(ext.e0_estimates))})")
    k_range = _k_range(plan, tuple(ext.k_range), f"ends at {ext.range_limit}", choices)
    l2 = l2_shift(plan, k_range[1])
    return ChiInput(ext.k, ext.chi, k_range, kweight, plan.kind, e0=float(ext.e0), e0_err=float(ext.e0_err),
                    l2_shift_ev=l2, energy=ext.energy, edge_signal=ext.signal - ext.pre_edge), ext


def _r_window(plan: Plan) -> tuple | None:
    """The R window (A) the user set, completed around the first shell where only one end is given."""
    s = plan.settings
    if s.rmin is None and s.rmax is None:
        return None
    d = plan.first_distance or 2.0
    return (s.rmin if s.rmin is not None else max(0.8, d - 0.9), s.rmax if s.rmax is not None else d + 0.25)


def _energy_scale_error(shells: list) -> None:
    """EELS: the energy scale (eV/channel) is known to ~1 %: k, and so R, scale with it."""
    for s in shells:
        extra = EELS_DISPERSION_REL * s["r"]
        s["r_err"] = round(math.hypot(s["r_err"], extra), 4)
        s.setdefault("error_budget", {}).setdefault("r", {})["eels_energy_scale"] = round(extra, 4)


def _arrays(ext, curves) -> dict:
    a = {}
    if ext is not None:
        a.update(energy=ext.energy, signal=ext.signal, pre_edge=ext.pre_edge, mu=ext.mu, mu0=ext.mu0,
                 post_edge=ext.post_edge, edge_step=ext.edge_step, k=ext.k, chi=ext.chi,
                 pre_edge_window=ext.pre_edge_window, e_end=ext.e_end)
    renamed = {"k": "fit_k", "chi": "fit_chi"}  # the method's grid, apart from the extraction's k and chi
    a.update({renamed.get(name, name): v for name, v in (curves or {}).items()})
    return a


def _run_method(plan: Plan, data, chi_input, ext, method: str, choices, warnings) -> Result:
    """One method on chi(k) already extracted: its shells judged by the honesty rule, as a Result."""
    out = get_method(method)(plan, chi_input)
    warnings = list(warnings)
    warnings += [w for w in plan.warnings if w not in warnings]  # FEFF cache notes of plan.paths
    warnings += out.warnings
    shells = [dict(s) for s in out.shells]
    if plan.kind == "eels":
        _energy_scale_error(shells)
    if chi_input.l2_shift_ev:
        warnings.append(f"L2 fine structure modelled as a copy of L3's shifted by {chi_input.l2_shift_ev:.1f} eV, "
                        "weight 1/2 of L3's (chi normalised by the L3 + L2 background)")
    shells, undetermined, notes = judge(shells, out.stats)
    warnings += notes
    k_range = out.stats.get("k_range", chi_input.k_range)
    return Result(edge=plan.edge, structure=plan.structure, method=method, kind=plan.kind,
                  e0_ev=chi_input.e0, k_range=list(k_range), r_range=out.stats.get("r_range"),
                  kweight=chi_input.kweight, shells=shells, undetermined_shells=undetermined,
                  warnings=list(dict.fromkeys(warnings)), settings=choices.as_dict(), stats=out.stats,
                  t_lambda=None if ext is None else ext.t_lambda, arrays=_arrays(ext, out.curves), model=out.model,
                  source=getattr(data, "source", None))


def _both(fit: Result, nn: Result) -> Result:
    """fit and nn side by side; the top-level shells are the answered first shell with the smaller R error."""
    def r_err(res):
        return res.shells[0]["r_err"] if res.shells else float("inf")

    top, other = (nn, fit) if r_err(nn) < r_err(fit) else (fit, nn)
    why = ("neither method answered the first shell: top-level shells are the fit's" if not (fit.shells or nn.shells)
           else f"top-level shells are the {'network' if top is nn else 'fit'}'s ({top.method}: the smaller "
                f"first-shell R error); each method's own answer is under '{top.method}' and '{other.method}'")
    warnings = list(dict.fromkeys(top.warnings + other.warnings + [why]))
    return Result(**{**{f: getattr(top, f) for f in top.__dataclass_fields__}, "method": "both",
                     "warnings": warnings, "parts": {"fit": fit, "nn": nn}, "chosen": top.method})


def run(plan: Plan, data, lowloss=None, method: str = "fit", rdf: bool = False) -> Result:
    """Analyse one spectrum (a spectrum image is summed) or chi(k) data under ``plan`` with ``method``
    ('fit', 'nn', or 'both': each on the same extracted chi(k)); with ``rdf`` the result also holds the
    partial RDF per kind of neighbour from the RDF network (exelfs.pipeline.rdf)."""
    data = as_data(data)
    methods = ["fit", "nn"] if method == "both" else [method]
    for m in methods:
        get_method(m)
    choices = plan.choices.copy()
    warnings = list(plan.warnings) + [str(w) for w in (getattr(data, "metadata", None) or {}).get("warnings", [])]
    if isinstance(data, Spectrum) and data.nav_shape:
        warnings.append(f"spectrum image {data.nav_shape}: analysed the sum of its spectra")
        data = data.summed()
    chi_input, ext = _extract(plan, data, lowloss, choices, warnings)
    chi_input.r_range = _r_window(plan)
    results = [_run_method(plan, data, chi_input, ext, m, choices, warnings) for m in methods]
    result = _both(*results) if method == "both" else results[0]
    if rdf:
        from .rdf import rdf_for

        result.rdf, notes = rdf_for(plan, chi_input)
        result.warnings = list(dict.fromkeys(result.warnings + notes))
    return result


def run_pixels(plan: Plan, image, lowloss=None, method: str = "fit") -> np.ndarray:
    """Every spectrum of a spectrum image under one plan: an object array of the navigation shape holding
    a Result per pixel, or the InputError sentence (str) where that pixel cannot be analysed."""
    image = as_data(image)
    if not isinstance(image, Spectrum):
        raise InputError("run_pixels needs a spectrum image (a Spectrum with navigation axes)")
    nav = image.nav_shape or (1,)
    flat = image.intensity.reshape(-1, image.energy.size)
    out = np.empty(len(flat), dtype=object)
    for i, counts in enumerate(flat):
        try:
            out[i] = run(plan, image.with_intensity(counts), lowloss=lowloss, method=method)
        except InputError as exc:
            out[i] = str(exc)
    return out.reshape(nav)


def analyze(data, edge: str | None = None, structure=None, lowloss=None, method: str = "fit", report_dir=None,
            rdf: bool = False, **controls) -> Result:
    """Local structure around the absorbing atom of one edge: plan, run and (optionally) report.

    data: a Spectrum (EELS or X-ray mu(E); a spectrum image is summed), a ChiData or a HyperSpy signal.
    edge: 'El_EDGE' (e.g. 'O_K'); from the file's metadata or identification when None. structure: element,
    formula, CIF path or ase.Atoms; proposed from the identified elements when None. lowloss: EELS low-loss
    for Fourier-ratio deconvolution. method: 'fit', 'nn' or 'both'. report_dir: folder for figures, page, data and a Larch
    script. rdf: add the partial RDF (``Result.rdf``). controls: kmin, kmax (1/A), kweight, e0 (eV), rbkg, rmin, rmax (A), s02, shells (see Settings)."""
    plan = make_plan(data, edge=edge, structure=structure, settings=Settings.from_kwargs(**controls))
    result = run(plan, data, lowloss=lowloss, method=method, rdf=rdf)
    if report_dir is not None:
        from .report import write_report

        result.report = str(write_report(result, report_dir))
    return result
