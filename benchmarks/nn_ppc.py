"""Posterior-predictive check of the default network on every real shared spectrum.

For each (file, edge) of MANIFEST.json with a structure (as benchmarks/nn_accuracy.py), the pipeline's nn
method (shipped network, else trained on demand) and, per spectrum: the reconstruction R-factor (forward
model at the network's answer against the Fourier-filtered data), the refined R-factor and the residual
over the filtered noise (exelfs.nn.check: forward model refined from the answer within the prior), the
check's statistic (residual over noise plus 2 % of the signal) against its threshold (99.5 % quantile on
held-out synthetic spectra of that network), the verdict, and what the pipeline reports (R1, or the
reason the shell is undetermined). The refinement runs only where the check at the network's answer fails
(it can only lower the residual), so elsewhere the refined columns repeat the network's.

Usage: nice python benchmarks/nn_ppc.py   (needs ../shared/data/real)
"""

from __future__ import annotations

import logging
import sys
import warnings

from nn_accuracy import REAL, cases, load


def main() -> int:
    from exelfs.pipeline import make_plan, run

    if not (REAL / "MANIFEST.json").is_file():
        print(f"real spectra not found at {REAL}", file=sys.stderr)
        return 1
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    print("\n## Posterior-predictive check of the network on the real shared spectra\n")
    print("| file | edge | ref R1 | recon R-factor | refined R-factor | residual / noise | statistic | threshold | "
          "PPC | pipeline |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    failed, p = [], {}
    for m, edge in cases():
        ref = m["shells"][edge][0]["r"]
        data, low = load(m)
        try:
            res = run(make_plan(data, edge=edge, structure=m["structure"]), data, lowloss=low, method="nn")
        except Exception as exc:  # noqa: BLE001 - a refused spectrum is a row of the table
            print(f"| {m['file']} | {edge} | {ref:.3f} | refused: {str(exc)[:80]} | | | | | | |")
            continue
        st, p = res.stats, res.stats.get("ppc") or {}
        verdict = "-" if p.get("passed") is None else ("pass" if p["passed"] else "FAIL")
        if verdict == "FAIL":
            failed.append(f"{m['file']} {edge}")
        said = (f"R1 {res.shells[0]['r']:.3f} +- {res.shells[0]['r_err']:.3f}" if res.shells else
                f"undetermined: {res.undetermined_shells[0]['reason'][:70]}" if res.undetermined_shells else "none")
        g = lambda key, fmt: format(p[key], fmt) if p.get(key) is not None else "-"  # noqa: E731
        rf = st.get("reconstruction_r_factor")
        print(f"| {m['file']} | {edge} | {ref:.3f} | {'-' if rf is None else format(rf, '.3f')} | "
              f"{g('refined_r_factor', '.3f')} | {g('residual_over_noise', '.1f')} | {g('statistic', '.2f')} | "
              f"{g('threshold', '.2f')} | {verdict} | {said} |", flush=True)
    print(f"\nCriterion: {p.get('criterion', '-')}.")
    print(f"Fail the check ({len(failed)}): {', '.join(failed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
