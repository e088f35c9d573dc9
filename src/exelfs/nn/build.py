"""``exelfs train``: one calibrated network for an edge and a structure, from one TOML config."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import InputError
from .config import TrainConfig

FEFF_RMAX = 5.0  # A: the paths the analysis plan computes (exelfs.pipeline.plan.FEFF_RMAX)
XAS_ABOVE_EV = 3000.0  # edges above this are analysed as X-ray absorption by default


def _default_kind(edge: str) -> str:
    from ..edges.tables import edge_entry, parse_edge

    element, shell = parse_edge(edge)
    e = edge_entry(element, shell)
    energy = e.xray_energy or e.eels_onset or 0.0
    return "xas" if energy > XAS_ABOVE_EV else "eels"


def train_command(edge=None, structure=None, out=None, config=None, samples=None, seed=None, kind=None,
                  progress: bool = True) -> dict:
    """Train (or find, when the same recipe is cached) the model; write it to ``out``/<name> when given.
    Returns a summary: name, folder, scores, seconds and a text for the terminal."""
    from ..edges.tables import normalize_edge, parse_edge
    from ..theory import feff_paths
    from .store import default_config, get_model, model_name

    given = {"samples": samples, "seed": seed}
    if config is not None:
        base = TrainConfig.from_toml(config, structure=structure, edge=edge, kind=kind, **given)
    else:
        if not edge or not structure:
            raise InputError("exelfs train needs --edge and --structure (or a --config file naming them)")
        edge = normalize_edge(edge)
        base = default_config(structure, edge, kind or _default_kind(edge),
                              **{k: v for k, v in given.items() if v is not None})
    element, shell = parse_edge(base.edge)
    paths = feff_paths(base.structure, element, shell, rmax=FEFF_RMAX)
    t0 = time.perf_counter()
    model, notes = get_model(paths, base, progress=progress)
    name = model_name(base, paths)
    folder = None
    if out is not None:
        folder = model.save(Path(out) / name)
    scores = model.meta.get("scores", {})
    lines = [f"network {name}: {base.architecture}, {base.input_mode} input, {base.samples} spectra, seed {base.seed}"]
    lines += notes
    for key, sc in scores.items():
        lines.append(f"  {key:>10}: MAE {sc['mae']:.4g}, coverage {sc['coverage_1sigma']:.3f} (1 sigma) "
                     f"{sc['coverage_2sigma']:.3f} (2 sigma) on {model.meta.get('held_out')} held-out spectra")
    if folder:
        lines.append(f"written to {folder}")
    return {"name": name, "folder": None if folder is None else str(folder), "scores": scores, "notes": notes,
            "seconds": round(time.perf_counter() - t0, 1), "text": "\n".join(lines)}
