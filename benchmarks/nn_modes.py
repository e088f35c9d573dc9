"""Networks trained on chi(k) against networks trained through the EELS chain (issue #10), per edge.

Modes (same design, ensemble_mlp unless --architecture, windowed input unless direct):
- chi:    today's chi-level training (the default recipe: shipped, cached or trained on demand);
- chain:  EELS spectra from the batched forward model read back by the batched extraction (source 'eels');
- direct: the same spectra, the network reading the power-law-subtracted edge signal itself.

Prints one markdown table: per edge and mode the training time, held-out synthetic R1 MAE and 1/2-sigma
coverage (each network's own held-out set, drawn through its own data path), R1 MAE and 1-sigma coverage on
one set of EELS-chain test spectra that every mode reads (seed 12345), and R1 on the real shared
spectra of that edge (pipeline nn method, E0 and k range from the pipeline's extraction) against the
MANIFEST reference; then the median |dR1| per mode over the spectra measured.

Usage: nice python benchmarks/nn_modes.py [--samples 30000] [--save DIR] [--load DIR] [--modes chi,chain,direct]
[--architecture seed_cnn --batch 256] [NiO:O_K MgO:O_K ...] (needs ../shared/data/real; --save writes every trained network to DIR/<model name>,
--load uses those instead of training).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("EXELFS_SHARED", ROOT.parent / "shared")) / "data" / "real"
LOWLOSS = {"eels_hBN_BK_NK_SI200_HLmulti_02_cal.dm3": "eels_hBN_lowloss_LL_02_cal.msa"}
MODES = {"chi": {}, "chain": {"source": "eels"}, "direct": {"source": "eels", "input_mode": "direct"}}


def real_cases(structure, edge):
    entries = json.loads((REAL / "MANIFEST.json").read_text())["spectra"]
    return [m for m in entries if m["kind"] in ("eels", "eels-spectrum-image") and m.get("structure") == structure
            and edge in m["shells"]]


def real_r1(model, m, structure, edge):
    from exelfs.io import read_spectrum
    from exelfs.pipeline import make_plan, run

    data = read_spectrum(REAL / m["file"])
    low = read_spectrum(REAL / LOWLOSS[m["file"]]) if m["file"] in LOWLOSS else None
    plan = make_plan(data, edge=edge, structure=structure)
    plan.__dict__["_nn_model"] = model
    res = run(plan, data, lowloss=low, method="nn")
    s = res.shells[0] if res.shells else (res.undetermined_shells[0] if res.undetermined_shells else None)
    return None if s is None else (s["r"], s["r_err"], bool(res.shells), res.stats.get("ood_reason"))


_TESTS: dict = {}


def chain_test(paths, structure, edge, mode, n):
    """n EELS-chain spectra (seed 12345) as a network of ``mode`` reads them: the same spectra for every
    mode (the direct input draws no randomness of its own)."""
    from exelfs.nn import default_config
    from exelfs.nn.chain import make_chain_set

    key = (structure, edge, mode)
    if key not in _TESTS:
        cfg = default_config(structure, edge, "eels", source="eels", input_mode=mode)
        _TESTS[key] = make_chain_set(paths, cfg, n, np.random.default_rng(12345))
    return _TESTS[key]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="*", default=["NiO:O_K", "MgO:O_K"])
    ap.add_argument("--samples", type=int, default=30000)
    ap.add_argument("--modes", default="chi,chain,direct")
    ap.add_argument("--test", type=int, default=3000, help="chain test spectra per edge (every mode reads the same)")
    ap.add_argument("--save", default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--architecture", default="ensemble_mlp", help="a design of exelfs.nn.ARCHITECTURES, for every mode")
    ap.add_argument("--load", default=None, help="a folder of networks saved by --save: used instead of training")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from exelfs.nn import default_config, get_model, load_model, model_name, train
    from exelfs.theory import feff_paths

    print(f"design: {args.architecture}\n")
    print("| edge | structure | mode | train s | R1 MAE (A) | cov 1s | cov 2s | chain-test R1 MAE | chain-test cov 1s "
          "| real file | ref R1 | R1 | r_err | dR1 | answered | ood |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    devs = {m: [] for m in MODES}
    for case in args.cases:
        structure, edge = case.split(":")
        element, shell = edge.split("_")
        paths = feff_paths(structure, element, shell, rmax=5.0)
        for mode in args.modes.split(","):
            t0 = time.perf_counter()
            budget = {k: v for k, v in (("epochs", args.epochs), ("batch", args.batch)) if v is not None}
            if mode == "chi" and args.architecture == "ensemble_mlp":
                cfg = default_config(structure, edge, "eels", source="chi", input_mode="windowed")
                model, _ = get_model(paths, cfg, progress=False)
            else:
                cfg = default_config(structure, edge, "eels", samples=args.samples, architecture=args.architecture,
                                     **{"source": "chi", **MODES[mode]}, **budget)
                folder = Path(args.load or "-") / model_name(cfg, paths)
                if args.load and folder.is_dir():
                    model = load_model(folder)
                else:
                    model = train(paths, cfg, l2_shift_ev=cfg.l2_shift_ev, progress=False)
                if args.save and not (args.load and folder.is_dir()):
                    from exelfs.nn.store import paths_signature

                    model.meta["paths_signature"] = paths_signature(paths)
                    model.meta["train_seconds"] = round(time.perf_counter() - t0, 1)
                    model.save(Path(args.save) / model_name(cfg, paths))
            secs = model.meta.get("train_seconds") or (time.perf_counter() - t0)
            sc = dict(model.meta["scores"]["r1"])
            test = chain_test(paths, structure, edge, "direct" if mode == "direct" else "windowed", args.test)
            mean, sigma, _ = model.moments(test["x"])
            err = np.abs(mean[:, 0] - test["y"][:, 0])
            sc["chain_mae"], sc["chain_cov"] = float(err.mean()), float(np.mean(err <= sigma[:, 0]))
            for m in real_cases(structure, edge):
                ref = m["shells"][edge][0]["r"]
                why = ""
                try:
                    got = real_r1(model, m, structure, edge)
                except Exception as exc:  # noqa: BLE001 - a refused spectrum is a row
                    got, why = None, str(exc)[:60]
                if got is None:
                    print(f"| {edge} | {structure} | {mode} | {secs:.0f} | {sc['mae']:.4f} | "
                          f"{sc['coverage_1sigma']:.3f} | {sc['coverage_2sigma']:.3f} | {sc['chain_mae']:.4f} | "
                          f"{sc['chain_cov']:.3f} | {m['file']} | {ref:.3f} "
                          f"| - | - | - | no | {why} |", flush=True)
                    continue
                r1, r_err, answered, ood = got
                devs[mode].append((abs(r1 - ref), abs(r1 - ref) <= 2 * r_err))
                print(f"| {edge} | {structure} | {mode} | {secs:.0f} | {sc['mae']:.4f} | {sc['coverage_1sigma']:.3f} | "
                      f"{sc['coverage_2sigma']:.3f} | {sc['chain_mae']:.4f} | {sc['chain_cov']:.3f} | {m['file']} | "
                      f"{ref:.3f} | {r1:.3f} | {r_err:.3f} | {r1 - ref:+.3f} | "
                      f"{'yes' if answered else 'no'} | {'yes' if ood else 'no'} |", flush=True)
    print("\n| mode | spectra | median abs(dR1) (A) | abs(dR1) <= 2 r_err |\n|---|---|---|---|")
    for mode, d in devs.items():
        if d:
            med = statistics.median(x for x, _ in d)
            print(f"| {mode} | {len(d)} | {med:.3f} | {sum(ok for _, ok in d)}/{len(d)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
