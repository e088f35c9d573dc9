"""Calibration of the network's uncertainty: the deep ensemble with Gaussian heads against neural posterior
estimation (a conditional normalizing flow), trained on the same synthetic data.

For each structure and edge both designs train on the same spectra (same seed, priors and artefacts);
the scores come from the held-out half of the calibration set (exelfs.nn.train). Printed per parameter:
MAE, the coverage of mean +- 1 and 2 sigma (the contract's error bars, after variance scaling), and the
coverage of the posterior samples' central 68.3 % and 95.4 % intervals; a parameter counts as calibrated
when both of its interval coverages lie within 0.05 of 0.683 and 0.954 (issue #10). Then the median over
held-out spectra of the posterior correlations N1-S0^2, N1-sigma2_1 and R1-E0, the mean coverage error
on fresh spectra (also for the flow without its variance scaling), and the training times.

Usage: nice python benchmarks/nn_posterior.py   (POSTERIOR_BENCH_EDGES=1..3 cases; POSTERIOR_SAMPLES and
POSTERIOR_EPOCHS set the training budget)
"""

from __future__ import annotations

import os
import time

import numpy as np

from exelfs.nn import default_config, train
from exelfs.nn.data import make_set
from exelfs.nn.train import interval_coverage
from exelfs.theory import feff_paths

CASES = [("NiO", "O", "O_K", "eels"), ("Cu", "Cu", "Cu_K", "xas"),
         ("Fe", "Fe", "Fe_K", "xas")][: int(os.environ.get("POSTERIOR_BENCH_EDGES", "2"))]
BUDGET = {"samples": int(os.environ.get("POSTERIOR_SAMPLES", "30000")),
          "epochs": int(os.environ.get("POSTERIOR_EPOCHS", "20")), "calibration_samples": 4000, "seed": 7}
DESIGNS = ("ensemble_mlp", "flow_npe")
PAIRS = (("n1", "s02"), ("n1", "sigma2_1"), ("r1", "e0_shift"))
TEST_SPECTRA, TEST_DRAWS = 600, 400
TOL = 0.05


def calibrated(s: dict) -> bool:
    return abs(s["interval_68"] - 0.683) <= TOL and abs(s["interval_95"] - 0.954) <= TOL


def miscalibration(scores: dict) -> float:
    """Mean over parameters of the intervals' coverage errors, (|c68 - 0.683| + |c95 - 0.954|) / 2."""
    return float(np.mean([(abs(s["interval_68"] - 0.683) + abs(s["interval_95"] - 0.954)) / 2
                          for s in scores.values()]))


def fresh_test(model, paths, cfg, raw: bool = False) -> tuple[dict, float]:
    """On fresh synthetic spectra: the median posterior correlation of each pair, and the mean interval
    coverage error; ``raw``: without the calibrated scale (the flow's posterior as trained)."""
    test = make_set(paths, cfg, TEST_SPECTRA, np.random.default_rng(99), cfg.l2_shift_ev)
    scale = model.scale
    if raw:
        model.scale = np.ones_like(scale)
    post = model.posterior(test["x"], TEST_DRAWS)  # (n, B, T)
    model.scale = scale
    out = {}
    for a, b in PAIRS:
        i, j = model.names.index(a), model.names.index(b)
        pa, pb = post[..., i] - post[..., i].mean(0), post[..., j] - post[..., j].mean(0)
        r = (pa * pb).mean(0) / np.sqrt((pa ** 2).mean(0) * (pb ** 2).mean(0))
        out[f"{a}-{b}"] = float(np.median(r))
    i68, i95 = interval_coverage(test["y"], post)
    return out, miscalibration({n: {"interval_68": i68[i], "interval_95": i95[i]} for i, n in enumerate(model.names)})


def main() -> None:
    print(f"training budget per design: {BUDGET}; calibrated: both interval coverages within {TOL} of 0.683 "
          "and 0.954\n")
    summary = []
    for structure, absorber, edge, kind in CASES:
        paths = feff_paths(structure, absorber, edge.split("_")[1], rmax=5.0)
        models, secs, corr = {}, {}, {}
        for design in DESIGNS:
            cfg = default_config(structure, edge, kind, architecture=design, **BUDGET)
            t0 = time.perf_counter()
            models[design] = train(paths, cfg, l2_shift_ev=cfg.l2_shift_ev, progress=False)
            secs[design] = time.perf_counter() - t0
            corr[design] = fresh_test(models[design], paths, cfg)
        raw = fresh_test(models["flow_npe"], paths, default_config(structure, edge, kind, **BUDGET), raw=True)
        print(f"## {edge} in {structure} ({kind}), {models[DESIGNS[0]].meta['held_out']} held-out spectra\n")
        print("| parameter | design | MAE | +-1 sigma | +-2 sigma | 68.3 % interval | 95.4 % interval | calibrated |")
        print("|---|---|---|---|---|---|---|---|")
        for name in models[DESIGNS[0]].names:
            for design in DESIGNS:
                s = models[design].meta["scores"][name]
                print(f"| {name} | {design} | {s['mae']:.4g} | {s['coverage_1sigma']:.3f} | {s['coverage_2sigma']:.3f} "
                      f"| {s['interval_68']:.3f} | {s['interval_95']:.3f} | {'yes' if calibrated(s) else 'no'} |")
        print(f"\n| design | train s | calibrated parameters | mean coverage error | same, {TEST_SPECTRA} fresh "
              "spectra | " + " | ".join(f"corr {a}-{b}" for a, b in PAIRS) + " |")
        print("|---|---|---|---|---|" + "---|" * len(PAIRS))
        for design in DESIGNS:
            scores = models[design].meta["scores"]
            ok = sum(calibrated(s) for s in scores.values())
            summary.append((edge, design, ok, len(scores), miscalibration(scores)))
            print(f"| {design} | {secs[design]:.0f} | {ok}/{len(scores)} | {miscalibration(scores):.3f} | "
                  f"{corr[design][1]:.3f} | " + " | ".join(f"{corr[design][0][f'{a}-{b}']:+.2f}" for a, b in PAIRS)
                  + " |")
        print(f"| flow_npe, no variance scaling | | | | {raw[1]:.3f} | "
              + " | ".join(f"{raw[0][f'{a}-{b}']:+.2f}" for a, b in PAIRS) + " |")
        print()
    totals = {d: sum(row[2] for row in summary if row[1] == d) for d in DESIGNS}
    errors = {d: float(np.mean([row[4] for row in summary if row[1] == d])) for d in DESIGNS}
    n = sum(row[3] for row in summary if row[1] == DESIGNS[0])
    best = max(DESIGNS, key=lambda d: (totals[d], -errors[d]))
    print("calibrated parameters over all cases: " + ", ".join(f"{d} {totals[d]}/{n} (mean coverage error "
                                                               f"{errors[d]:.3f})" for d in DESIGNS)
          + f"; better calibrated: {best}")


if __name__ == "__main__":
    main()
