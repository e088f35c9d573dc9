"""Where networks come from: the shipped models (``exelfs/data/models``), the disk cache, or training on
demand (cached under ``exelfs.cache`` kind 'nn', announced in the notes).

A model is named by its edge, data kind and a hash of its recipe (without the structure's name) and of
the FEFF paths it was trained on, so a structure given as a formula or as a CIF of the same crystal finds
the same model, and a strained structure gets its own.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from ..errors import InputError
from .config import TrainConfig
from .predict import ModelFileError, load_model

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "models"


def l2_spacing(edge: str, kind: str) -> float | None:
    """EELS L3 edges: the L3-L2 spacing (eV) from the edge tables; None otherwise."""
    from ..edges.tables import SPIN_ORBIT, edge_entry, parse_edge

    element, shell = parse_edge(edge)
    if kind != "eels" or shell not in SPIN_ORBIT:
        return None
    try:
        main, partner = edge_entry(element, shell), edge_entry(element, SPIN_ORBIT[shell])
    except InputError:
        return None
    e3, e2 = main.xray_energy or main.eels_onset, partner.xray_energy or partner.eels_onset
    return float(e2 - e3) if e3 and e2 and e2 > e3 else None


EELS_RECIPE = {"source": "eels", "samples": 30000}  # EELS: trained through the forward model and extraction


def default_config(structure: str, edge: str, kind: str, **overrides) -> TrainConfig:
    """The recipe used for on-demand training and the shipped models. EELS networks learn from the forward
    model's spectra run through exelfs's own extraction (exelfs.nn.chain): networks trained on chi(k) alone
    cover the truth within their 1-sigma on only 25-37 % of such spectra, those trained through the chain on
    68-70 % (benchmarks/nn_modes.py); X-ray networks learn from chi(k) with its artefacts."""
    kind = "xas" if kind == "chi" else kind
    recipe = EELS_RECIPE if kind == "eels" else {}
    return TrainConfig.from_dict({"structure": str(structure), "edge": edge, "kind": kind,
                                  "l2_shift_ev": l2_spacing(edge, kind), **recipe, **overrides})


def paths_signature(paths) -> str:
    """A short hash of the FEFF paths (distances, degeneracies, amplitudes and phases)."""
    text = ";".join(f"{p.reff:.4f},{p.degen:g},{p.nleg},{float(sum(p.amp)):.4f},{float(sum(p.phase)):.4f}"
                    for p in paths)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_name(cfg: TrainConfig, paths) -> str:
    recipe = cfg.to_dict()
    recipe.pop("structure")
    key = TrainConfig.from_dict({**recipe, "structure": "-"}).key(paths_signature(paths))
    return f"{cfg.edge}-{cfg.kind}-{key}"


def get_model(paths, cfg: TrainConfig, progress: bool = True):
    """(NNModel, notes) for the recipe: shipped, else cached, else trained now and cached."""
    from ..cache import cached
    from .train import train

    name = model_name(cfg, paths)
    notes = []
    shipped = SHIPPED / name
    if shipped.is_dir():
        try:
            return load_model(shipped), notes
        except ModelFileError as exc:
            notes.append(f"the shipped network {name} cannot be used ({exc}); training one instead")
    built = {}

    def build(folder: Path) -> None:
        t0 = time.perf_counter()
        model = train(paths, cfg, l2_shift_ev=cfg.l2_shift_ev, progress=progress)
        model.meta["paths_signature"] = paths_signature(paths)
        model.meta["train_seconds"] = round(time.perf_counter() - t0, 1)
        model.save(folder)
        built["seconds"] = time.perf_counter() - t0

    entry = cached("nn", name, build, load_model, what="network")
    notes += entry.notes
    if built:
        notes.append(f"no network existed for {cfg.edge} in {cfg.structure} ({cfg.kind}): trained one on demand in "
                     f"{built['seconds']:.0f} s and cached it in {entry.path}")
    return entry.value, notes
