"""The partial RDF of one analysis (``analyze --rdf``): the RDF network of exelfs.nn.rdf on the chi(k) the
methods analysed, with FEFF paths to 6.5 A of the plan's structure; for EELS from k = EELS_KMIN at the
lowest (the near-edge structure below is not in the ensembles' EXAFS model; on the real MgO and NiO O K
spectra starting at 3 instead of 2 1/A moves the first peak 0.02-0.03 A closer to the reference distance,
while on the X-ray foils it moves it 0.01 A away). Each peak's position and area carry the errors the
network makes at this spectrum's k range and noise, and the position error adds FEFF's phase accuracy and, for
EELS, the energy scale's, as a shell's does; the prior-echo rule of exelfs.pipeline.neighbours applies to the
network's part as to shells. Units: r A, g atoms per A, k 1/A."""

from __future__ import annotations

from ..theory.feff import FEFF_PHASE_R
from .neighbours import echo_reason

EELS_KMIN = 3.0  # 1/A


def rdf_for(plan, chi_input) -> tuple[dict, list]:
    """(the contract's "rdf" dict {r, g, lo, hi, shells, ..., unseen, unseen_reason, checks}, notes) for the
    plan's edge and structure; an unseen spectrum (exelfs.nn.rdf) adds a note that the RDF is unreliable."""
    from ..nn import rdf as nn_rdf
    from ..theory import feff_paths

    paths = feff_paths(plan.atoms, plan.element, plan.edge_kind, rmax=nn_rdf.FEFF_RMAX)
    cfg = nn_rdf.default_rdf_config(plan.structure, plan.edge, plan.kind)
    model, notes = nn_rdf.get_rdf_model(paths, cfg)
    kmin = max(float(chi_input.k_range[0]), EELS_KMIN) if plan.kind == "eels" else float(chi_input.k_range[0])
    k_range = (kmin, float(chi_input.k_range[1]))
    out = model.predict(paths, chi_input.k, chi_input.chi, k_range, e0_err=chi_input.e0_err)
    add_systematic_errors(out["shells"], plan.kind)
    notes += judge_peaks(out["shells"])
    out["scores"] = model.meta.get("scores")
    if out["unseen"]:
        notes.append(f"the partial RDF is unreliable: the RDF network has not seen a spectrum like this one "
                     f"({out['unseen_reason']})")
    return out, [str(n) for n in getattr(paths, "notes", [])] + notes


def add_systematic_errors(shells: list, kind: str) -> None:
    """Each peak's position error (in place): the network's (``r_err_network``, from the simulations) with
    FEFF's phase accuracy and, for EELS, the energy scale's (EELS_DISPERSION_REL of r) in quadrature, as
    for shells; ``error_budget`` says so. The simulations cannot know either: both are the same in every one."""
    import math

    from .run import EELS_DISPERSION_REL

    for shell in shells:
        for p in shell["peaks"]:
            if p.get("r_err") is None:
                continue
            budget = {"network": p["r_err"], "feff_phase": FEFF_PHASE_R}
            if kind == "eels":
                budget["eels_energy_scale"] = round(EELS_DISPERSION_REL * p["r"], 4)
            p["r_err_network"] = p["r_err"]
            p["r_err"] = round(math.sqrt(sum(v ** 2 for v in budget.values())), 4)
            p["error_budget"] = {"r": budget}


def judge_peaks(shells: list) -> list[str]:
    """The prior-echo rule on RDF peaks (in place, exelfs.pipeline.neighbours.echo_reason): a peak whose
    position error from the network (``r_err_network`` where systematic errors were added) is above
    PRIOR_ECHO times the prior's width of it (or that has no error) moves from its kind's "peaks" to "undetermined_peaks" with the
    reason; an area that wide stays, marked "n_prior_echoed". Returns the notes saying so."""
    notes, wide = [], []
    for shell in shells:
        kept, dropped = [], []
        for p in shell["peaks"]:
            name = f"{shell['scatterer']} near {p['r_ref']:.2f} A"
            if p.get("r_err") is None:
                dropped.append({**p, "reason": "too few simulated spectra showed this peak to give it an error"})
                continue
            reason = echo_reason("position error", p.get("r_err_network", p["r_err"]), p["r_prior_width"], " A")
            if reason:
                dropped.append({**p, "reason": reason})
                continue
            p["n_prior_echoed"] = echo_reason("area error", p["n_err"], p["n_prior_sd"]) is not None
            if p["n_prior_echoed"]:
                wide.append(name)
            kept.append(p)
        shell["peaks"], shell["undetermined_peaks"] = kept, dropped
        if dropped:
            where = ", ".join(f"{p['r_ref']:.2f}" for p in dropped)
            notes.append(f"RDF peaks of {shell['scatterer']} near {where} A "
                         f"are not determined by these data; they are listed under undetermined_peaks")
    if wide:
        notes.append(f"the RDF peak areas of {', '.join(wide)} are no better known than the training prior's spread "
                     f"(S0^2 0.7-1.0 and the trade of N against sigma2): read them as the prior's")
    return notes


def kind_peaks(rdf: dict, kind: str) -> tuple[list, list]:
    """(answered, undetermined) RDF peaks of one kind of neighbour (judge_peaks)."""
    shell = next((s for s in rdf.get("shells", []) if s["scatterer"] == kind), {})
    return list(shell.get("peaks", [])), list(shell.get("undetermined_peaks", []))


def peak_near(rdf: dict, kind: str, r: float) -> tuple[dict, bool]:
    """(the RDF peak of ``kind`` whose crystal shell lies nearest r (A), whether it is answered)."""
    answered, undetermined = kind_peaks(rdf, kind)
    peak = min(answered + undetermined, key=lambda p: abs(p["r_ref"] - r))
    return peak, peak in answered
