"""Which nuisances of the network's training data matter: an ablation table.

For each target (structure, edge, kind) the default ensemble_mlp is trained once with every nuisance of
the default recipe, then once per nuisance switched off. Every model is scored on the same held-out
synthetic set drawn WITH all nuisances (R1 MAE in A, 2-sigma coverage of R1, flagged fraction) and on the
real shared spectra of that edge and structure (|R1 - reference| in A per spectrum, MANIFEST.json; chi(k)
extracted by the pipeline as for the nn method, flags ignored so that every model gives a number).

The nuisances are read from the config's fields (``TrainConfig.ranges`` and ``.artefacts``): every field
is switched off, alone or in a named group (GROUPS); how is said in OFF, and a field OFF does not name is
fixed at the middle of its range, so a new artefact gets its ablation row without changes here. A field
whose effect the target lacks (the L2 copy without an L2 edge) is left out.

Usage: nice python benchmarks/nn_ablation.py [--samples 20000] [--epochs 15] [--eval 4000]
       [--targets NiO:O_K:eels,MgO:O_K:eels,Cu:Cu_K:xas] [--only NAME,...]   (needs ../shared/data/real)
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
import warnings

import numpy as np

from nn_accuracy import cases, load

TARGETS = "NiO:O_K:eels,MgO:O_K:eels,Cu:Cu_K:xas"
GROUPS = {  # nuisances switched off together (one row)
    "noise": ("noise", "noise_k_power"),
    "k range": ("kmin", "kmax"),
    "structural prior": ("lattice", "r_shell", "n_scale", "sigma2"),
}
OFF = {  # how a field is switched off, from its default range (lo, hi); other fields: fixed at the middle
    "noise": lambda r: (r[0], r[0]),                  # the lowest noise of the prior
    "noise_k_power": lambda r: (0.0, 0.0),            # white
    "background": lambda r: (0.0, 0.0),               # no residue
    "s02": lambda r: (1.0, 1.0),                      # S0^2 = 1
    "lattice": lambda r: _narrow(r), "r_shell": lambda r: _narrow(r),
    "n_scale": lambda r: _narrow(r), "sigma2": lambda r: _narrow(r),
}
NARROW = 0.2  # a narrowed structural prior keeps this fraction of its width, around the middle
NEEDS = {"l2_weight": lambda cfg: cfg.l2_shift_ev is not None}  # fields that act only on some targets
EVAL_SEED, REAL_SEED = 1234, 0


def _narrow(r):
    mid, half = 0.5 * (r[0] + r[1]), 0.5 * NARROW * (r[1] - r[0])
    return (mid - half, mid + half)


def ablations(cfg) -> dict:
    """{row name: {section: {field: switched-off range}}} for every nuisance of ``cfg`` (see OFF, GROUPS)."""
    sections = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
                if f.name in ("ranges", "artefacts")}
    where = {name: sec for sec, obj in sections.items() for name in (f.name for f in dataclasses.fields(obj))}
    grouped = {name for members in GROUPS.values() for name in members}
    rows = {g: members for g, members in GROUPS.items()}
    rows.update({name: (name,) for name in where if name not in grouped})
    out = {}
    for row, members in rows.items():
        members = [m for m in members if m in where and NEEDS.get(m, lambda c: True)(cfg)]
        if not members:
            continue
        change: dict = {}
        for m in members:
            rng = getattr(sections[where[m]], m)
            off = OFF.get(m, lambda r: (0.5 * (r[0] + r[1]),) * 2)(rng)
            change.setdefault(where[m], {})[m] = tuple(float(v) for v in off)
        out[row] = change
    return out


def with_off(cfg, change: dict):
    """A copy of ``cfg`` with the ranges in ``change`` ({section: {field: range}})."""
    return dataclasses.replace(cfg, **{sec: dataclasses.replace(getattr(cfg, sec), **vals)
                                       for sec, vals in change.items()})


def real_inputs(structure: str, edge: str) -> list:
    """[(file, reference R1 (A), ChiInput)] of the real shared spectra of this structure and edge."""
    from exelfs.pipeline import make_plan
    from exelfs.pipeline.run import _extract

    out = []
    for m, e in cases():
        if e != edge or m["structure"] != structure:
            continue
        data, low = load(m)
        plan = make_plan(data, edge=e, structure=structure)
        spectrum = data.summed() if getattr(data, "nav_shape", None) else data
        chi_input, _ = _extract(plan, spectrum, low, plan.choices.copy(), [])
        out.append((m["file"], m["shells"][e][0]["r"], chi_input))
    return out


def score(model, paths, held, real) -> dict:
    """R1 MAE (A), 2-sigma coverage and flagged fraction on the held-out set; |dR1| (A) per real spectrum."""
    mean, sigma, _ = model.moments(held["x"])
    truth = held["y"][:, held["names"].index("r1")]
    i = model.names.index("r1")
    err = np.abs(mean[:, i] - truth)
    stats = model.flag_statistics(paths, held["x"], held["xw"], held["noise"], held["p"]["kmin"],
                                  held["p"]["kmax"])
    flagged = np.mean([r is not None for r in model.ood_reasons(stats, len(truth))])
    dr = []
    for _, ref, ci in real:
        out = model.batch(paths, ci.k, np.atleast_2d(ci.chi), ci.k_range, l2_shift_ev=ci.l2_shift_ev)
        dr.append(abs(float(out["r1"][0]) - ref))
    return {"mae": float(np.mean(err)), "cov2": float(np.mean(err <= 2 * sigma[:, i])), "flagged": flagged,
            "real": dr}


def main(argv=None) -> int:
    from exelfs.nn import default_config, train
    from exelfs.nn.data import make_set
    from exelfs.theory import feff_paths

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--eval", type=int, default=4000, help="held-out synthetic spectra per target")
    ap.add_argument("--targets", default=TARGETS, help="structure:edge:kind, comma separated")
    ap.add_argument("--only", default="", help="ablation rows to run (comma separated; default all)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    print(f"\n## Nuisance ablation (ensemble_mlp, windowed, {args.samples} spectra, {args.epochs} epochs; "
          f"held-out: {args.eval} synthetic spectra with every nuisance)\n")
    print("| target | switched off | train s | R1 MAE (A) | R1 cov 2s | flagged | real |dR1| (A) per spectrum | "
          "real median |dR1| |")
    print("|---|---|---|---|---|---|---|---|")
    for target in args.targets.split(","):
        structure, edge, kind = target.split(":")
        element, shell = edge.split("_")
        paths = feff_paths(structure, element, shell, rmax=5.0)
        base = default_config(structure, edge, kind, samples=args.samples, epochs=args.epochs,
                              calibration_samples=max(2000, args.samples // 5))
        held = make_set(paths, base, args.eval, np.random.default_rng(EVAL_SEED), base.l2_shift_ev)
        real = real_inputs(structure, edge)
        rows = {"(none: all nuisances)": {}, **ablations(base)}
        for row, change in rows.items():
            if only and row not in only and change:
                continue
            cfg = with_off(base, change)
            t0 = time.perf_counter()
            model = train(paths, cfg, l2_shift_ev=cfg.l2_shift_ev, progress=False)
            secs = time.perf_counter() - t0
            sc = score(model, paths, held, real)
            per = ", ".join(f"{d:.3f}" for d in sc["real"]) or "-"
            med = f"{np.median(sc['real']):.3f}" if sc["real"] else "-"
            ranges = "; ".join(f"{k}={v[0]:g}..{v[1]:g}" for sec in change.values() for k, v in sec.items())
            what = f"{row} ({ranges})" if change else row
            print(f"| {structure} {edge} {kind} | {what} | {secs:.0f} | {sc['mae']:.4f} | {sc['cov2']:.3f} | "
                  f"{sc['flagged']:.3f} | {per} | {med} |", flush=True)
        print(f"| {structure} {edge} | real spectra: {', '.join(f for f, _, _ in real) or 'none'} | | | | | | |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
