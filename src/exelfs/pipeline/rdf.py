"""The partial RDF of one analysis (``analyze --rdf``): the RDF network of exelfs.nn.rdf on the chi(k) the
methods analysed, with FEFF paths to 6.5 A of the plan's structure; for EELS from k = EELS_KMIN at the
lowest (the near-edge structure below is not in the ensembles' EXAFS model; on the real MgO and NiO O K
spectra starting at 3 instead of 2 1/A moves the first peak 0.02-0.03 A closer to the reference distance,
while on the X-ray foils it moves it 0.01 A away). Units: r A, g atoms per A, k 1/A."""

from __future__ import annotations

EELS_KMIN = 3.0  # 1/A


def rdf_for(plan, chi_input) -> tuple[dict, list]:
    """(the contract's "rdf" dict {r, g, lo, hi, ..., unseen, unseen_reason, checks}, notes) for the plan's
    edge and structure; an unseen spectrum (exelfs.nn.rdf) adds a note that the RDF is unreliable."""
    from ..nn import rdf as nn_rdf
    from ..theory import feff_paths

    paths = feff_paths(plan.atoms, plan.element, plan.edge_kind, rmax=nn_rdf.FEFF_RMAX)
    cfg = nn_rdf.default_rdf_config(plan.structure, plan.edge, plan.kind)
    model, notes = nn_rdf.get_rdf_model(paths, cfg)
    kmin = max(float(chi_input.k_range[0]), EELS_KMIN) if plan.kind == "eels" else float(chi_input.k_range[0])
    k_range = (kmin, float(chi_input.k_range[1]))
    out = model.predict(paths, chi_input.k, chi_input.chi, k_range)
    out["shells"] = [{"scatterer": kind, "peaks": [{k: round(v, 4) for k, v in p.items()}
                                                   for p in nn_rdf.peaks(model.r, out["g"][kind],
                                                                         nn_rdf.shell_windows(paths, kind))]}
                     for kind in model.kinds]
    out["scores"] = model.meta.get("scores")
    if out["unseen"]:
        notes.append(f"the partial RDF is unreliable: the RDF network has not seen a spectrum like this one "
                     f"({out['unseen_reason']})")
    return out, [str(n) for n in getattr(paths, "notes", [])] + notes
