"""The ``exelfs`` command line: a thin layer over the pipeline (see DESIGN.md for the contract).

Exit status: 0 done; 2 the input or request is unusable (one line on stderr); 1 a fault of the program.
Heavy libraries are imported only by the command that needs them, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .errors import InputError
from .outputs import check_output_dir, check_output_file

CONTROLS = (("kmin", float, "K", "start of the k range (1/A)"), ("kmax", float, "K", "end of the k range (1/A)"),
            ("kweight", int, "W", "k weighting of fit and transform (0-3)"), ("e0", float, "EV", "edge energy (eV)"),
            ("rbkg", float, "R", "background spline cut-off (A)"), ("rmin", float, "R", "start of the R window (A)"),
            ("rmax", float, "R", "end of the R window (A)"), ("s02", float, "S", "S0^2 used to turn amplitudes into N"),
            ("shells", int, "N", "number of shells to fit"))
METHOD_NAMES = {"fit": "fit", "nn": "network"}
TABLE_COLUMNS = ("file", "edge", "structure", "method", "e0_ev", "kmin", "kmax", "scatterer", "r", "r_err", "n",
                 "n_err", "sigma2", "sigma2_err", "r_factor", "status")
EXAMPLES = {
    "identify": "examples:\n  exelfs identify NiO.msa\n  exelfs identify NiO.msa --at 532 --at 855 --json",
    "structure": "examples:\n  exelfs structure MgO --absorber O\n  exelfs structure Cu --image cu.html",
    "analyze": ("examples:\n  exelfs analyze Cu_foil.xdi --edge Cu_K --structure Cu --json\n"
                "  exelfs analyze NiO.msa --edge O_K --structure NiO --kmin 3 --kmax 9 --report nio-report\n"
                "  exelfs analyze a.msa b.msa c.msa --edge O_K --structure MgO --table results.csv\n"
                "  exelfs analyze cu_10-50-150K.prj --edge Cu_K --structure Cu --series temperature=10,50,150"),
    "demo": "example:\n  exelfs demo --out exelfs-demo",
    "gui": "examples:\n  exelfs gui\n  exelfs gui --port 8060 --max-upload-mb 500",
    "map": ("examples:\n  exelfs map image.dm4 --edge B_K --structure BN --lowloss ll.msa --method nn --out maps.hspy\n"
            "  exelfs map image.hspy --edge O_K --method fit --bin 2x2 --scheduler tcp://127.0.0.1:8786 --json"),
    "train": ("examples:\n  exelfs train --edge O_K --structure NiO\n"
              "  exelfs train --edge Cu_K --structure Cu --kind xas --out my-models --samples 60000 --seed 1\n"
              "  exelfs train --edge O_K --structure NiO --config run.toml"),
}


class Parser(argparse.ArgumentParser):
    """argparse with the contract's error style: one line on stderr, exit status 2."""

    def error(self, message):
        sys.stderr.write(f"exelfs: error: {' '.join(message.split())} (see {self.prog} --help)\n")
        sys.exit(2)


def _print_json(obj, pretty=True):
    print(json.dumps(obj, indent=2 if pretty else None, default=float))


def cmd_identify(args):
    from .edges import format_identification, identify
    from .io import read_spectrum

    spectrum = read_spectrum(args.file)
    result = {"file": args.file, **identify(spectrum, at=args.at)}
    if args.json:
        _print_json(result)
    else:
        print(format_identification(result))


def cmd_structure(args):
    from .structure import format_structure, render_cluster, structure_report

    check_output_file(args.image, "--image")
    result = structure_report(args.spec, absorber=args.absorber)
    if args.image:
        result["image"] = render_cluster(args.spec, args.image, absorber=args.absorber)
    if args.json:
        _print_json(result)
    else:
        print(format_structure(result))


def _table_rows(file, result) -> list[dict]:
    j = result.to_json()
    base = {"file": file, "edge": j["edge"], "structure": j["structure"], "method": j["method"], "e0_ev": j["e0_ev"],
            "kmin": j["k_range"][0], "kmax": j["k_range"][1], "r_factor": j.get("r_factor")}
    rows = [{**base, **{k: s.get(k) for k in TABLE_COLUMNS if k in s}, "status": "answered"} for s in j["shells"]]
    rows += [{**base, **{k: s.get(k) for k in TABLE_COLUMNS if k in s}, "status": f"undetermined: {s['reason']}"}
             for s in j.get("undetermined_shells", [])]
    return rows or [{**base, "status": "no shell"}]


def _analyze_one(file, args, settings, plans):
    from .io import read_spectrum
    from .pipeline import make_plan, run

    data = read_spectrum(file)
    lowloss = read_spectrum(args.lowloss) if args.lowloss else None
    key = (args.edge, args.structure, getattr(data, "kind", "chi"))
    plan = plans.get(key) if args.edge and args.structure else None
    if plan is None:
        plan = make_plan(data, edge=args.edge, structure=args.structure, settings=settings)
        plans[key] = plan
    result = run(plan, data, lowloss=lowloss, method=args.method, rdf=args.rdf)
    if args.report:
        from .pipeline.report import write_report

        out = args.report if len(args.file) == 1 else os.path.join(args.report, os.path.basename(file))
        write_report(result, out)
    return result


def _series_spectra(files) -> list:
    """The spectra of a series, in order: each file, an Athena project counting once per data group."""
    from .io import read_spectrum

    spectra = []
    for file in files:
        first = read_spectrum(file)
        groups = (getattr(first, "metadata", None) or {}).get("groups") or []
        spectra += [first] if len(groups) < 2 else [read_spectrum(file, group=g) for g in groups]
    return spectra


def cmd_series(args):
    from .pipeline import format_result
    from .pipeline.series import analyze_series, parse_series

    _, temperatures = parse_series(args.series)
    spectra = _series_spectra(args.file)
    lowloss = None
    if args.lowloss:
        from .io import read_spectrum

        lowloss = read_spectrum(args.lowloss)
    controls = {name: getattr(args, name) for name, *_ in CONTROLS}
    results, series = analyze_series(spectra, temperatures, edge=args.edge, structure=args.structure,
                                     lowloss=lowloss, method=args.method, model=args.series_model, **controls)
    for t, result in zip(temperatures, results):
        if args.json:
            _print_json({"file": result.source, "temperature_k": t, **result.to_json()}, pretty=False)
        else:
            print(format_result(result, file=f"{result.source} ({t:g} K)") + "\n")
    if args.report:
        from .pipeline.report import write_series_report

        write_series_report(results, series, args.report)
    if args.json:
        _print_json({"series": series}, pretty=False)
    else:
        for one in [series] + ([series["nn"]] if "nn" in series else []):
            print(_series_line(one))


def _series_line(series: dict) -> str:
    """One line of text for a series answer (exelfs.pipeline.series)."""
    static = (f", sigma2_static {series['sigma2_static']:.5f} +- {series['sigma2_static_err']:.5f} A^2"
              if series.get("sigma2_static_err") is not None else "")
    two = series.get("two_step")
    alone = f"; each spectrum alone, then sigma2(T): {two['theta_k']:.0f} +- {two['theta_err']:.0f} K" if two else ""
    return (f"sigma2(T) of the {series['shell']} shell by the {METHOD_NAMES[series['method']]}, {series['model']} "
            f"model: theta = {series['theta_k']:.0f} +- {series['theta_err']:.0f} K{static} "
            f"({series.get('how', series['sigma2_err_from'])}{alone})")


def cmd_analyze(args):
    from .pipeline import Settings, format_result

    check_output_dir(args.report, "--report")
    check_output_file(args.table, "--table")
    if args.series:
        return cmd_series(args)
    settings = Settings.from_kwargs(**{name: getattr(args, name) for name, *_ in CONTROLS})
    plans, rows, failed = {}, [], 0
    for file in args.file:
        try:
            result = _analyze_one(file, args, settings, plans)
        except InputError as exc:
            if len(args.file) == 1:
                raise
            failed += 1
            print(f"exelfs: error: {file}: {exc}", file=sys.stderr)
            if args.json:
                _print_json({"file": file, "error": str(exc)}, pretty=False)
            rows.append({"file": file, "status": f"error: {exc}"})
            continue
        rows += _table_rows(file, result)
        if args.json:
            _print_json({"file": file, **result.to_json()}, pretty=len(args.file) == 1)
        elif not args.table:
            print(format_result(result, file=file) + "\n")
    if args.table:
        import csv

        with open(args.table, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=TABLE_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    if failed:
        raise SystemExit(2)


def cmd_map(args):
    from .mapping import map_image

    out = check_output_file(args.out, "--out")
    if out is not None and out.suffix.lower() != ".hspy":
        raise InputError(f"--out {args.out}: maps are written as a HyperSpy file: give a name ending in .hspy")
    controls = {name: getattr(args, name) for name, *_ in CONTROLS}
    result = map_image(args.file, edge=args.edge, structure=args.structure, lowloss=args.lowloss,
                       method=args.method, bin=args.bin, scheduler=args.scheduler, progress=True, **controls)
    if out is not None:
        result.save(out)
    if args.json:
        _print_json(result.to_json(file=args.file, out=out))
    else:
        j = result.to_json(file=args.file, out=out)
        print(f"{j['file']}: {j['edge']} maps by {j['method']}, {j['pixels']} pixels, {j['masked']['total']} masked "
              f"({j['pixels_per_s']:g} pixels/s)")
        for name, v in j["parameters"].items():
            if not name.endswith("_err") and v["median"] is not None:
                print(f"  {name:>10}: median {v['median']:.4g}  (5-95 %: {v['p05']:.4g} - {v['p95']:.4g})")
        print("\n".join(f"warning: {w}" for w in j["warnings"]))
        if out is not None:
            print(f"maps: {out}")


def cmd_demo(args):
    from .demo import run_demo

    check_output_dir(args.out, "--out")
    run_demo(out_dir=args.out)


def cmd_gui(args):
    from .gui import serve

    serve(host=args.host, port=args.port, max_upload_mb=args.max_upload_mb)


def cmd_train(args):
    from .nn.build import train_command

    summary = train_command(edge=args.edge, structure=args.structure, out=args.out, config=args.config,
                            samples=args.samples, seed=args.seed, kind=args.kind)
    if args.json:
        _print_json(summary)
    else:
        print(summary["text"])


def _sub(sub, name, help_text, func):
    s = sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES.get(name),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.set_defaults(func=func)
    return s


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = Parser(prog="exelfs", description="exelfs: local atomic structure (R, N, sigma2) from the extended fine "
               "structure of electron energy-loss spectra, with X-ray EXAFS as a cross-check",
               epilog="run 'exelfs COMMAND --help' for each command's options and examples")
    p.add_argument("--version", action="version", version=f"exelfs {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    s = _sub(sub, "identify", "find edges and rank element/edge candidates", cmd_identify)
    s.add_argument("file")
    s.add_argument("--at", type=float, action="append", metavar="EV",
                   help="an edge onset energy (eV) chosen by the operator; repeatable")
    s.add_argument("--json", action="store_true", help="print the result as JSON")

    s = _sub(sub, "structure", "propose the reference crystal structure and neighbour shells", cmd_structure)
    s.add_argument("spec", metavar="SPEC", help="element, formula or CIF path")
    s.add_argument("--absorber", metavar="EL", help="the absorbing element (default: the first cation)")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.add_argument("--image", metavar="OUT", help="write a 3D picture (.png or .html)")

    s = _sub(sub, "analyze", "extract chi(k) and fit neighbour shells (R, N, sigma2)", cmd_analyze)
    s.add_argument("file", nargs="+", help="one or more spectra (EELS or X-ray) or chi(k) files")
    s.add_argument("--edge", metavar="El_EDGE", help="edge to analyse, e.g. O_K (default: identified)")
    s.add_argument("--structure", metavar="SPEC", help="reference structure (default: proposed)")
    s.add_argument("--lowloss", metavar="FILE", help="EELS low-loss spectrum for plural-scattering removal")
    s.add_argument("--method", choices=["nn", "fit", "both"], default="fit", help="analysis method")
    s.add_argument("--json", action="store_true", help="print JSON (one object per line for several files)")
    s.add_argument("--table", metavar="OUT.csv", help="write one CSV row per shell and file")
    s.add_argument("--report", metavar="DIR", help="write figures, data, a Larch script and a page into DIR")
    s.add_argument("--rdf", action="store_true", help="add the partial RDF per kind of neighbour (1-6 A, with a "
                   "~95 %% band) from the RDF network, trained on demand and cached")
    for name, kind, metavar, text in CONTROLS:
        s.add_argument(f"--{name}", type=kind, metavar=metavar, help=f"{text} (default: automatic)")
    s.add_argument("--series", metavar="temperature=T1,T2,...",
                   help="analyse the files as a temperature series (K, one per file or Athena group) and fit "
                        "sigma2(T) of the first shell")
    s.add_argument("--series-model", choices=["einstein", "debye"], default="einstein",
                   help="sigma2(T) model of --series (default: einstein)")

    s = _sub(sub, "map", "maps of R, N and sigma2 over a spectrum image (nn or per-pixel fit, dask)", cmd_map)
    s.add_argument("file", help="EELS spectrum image (.dm3, .dm4, .hspy, .emd: read lazily)")
    s.add_argument("--edge", metavar="El_EDGE", help="edge to map, e.g. B_K (default: identified on the sum)")
    s.add_argument("--structure", metavar="SPEC", help="reference structure (default: proposed)")
    s.add_argument("--lowloss", metavar="FILE", help="low-loss spectrum or image for plural-scattering removal")
    s.add_argument("--method", choices=["nn", "fit"], default="nn", help="analysis method (default nn)")
    s.add_argument("--out", metavar="FILE.hspy", help="write the maps (value and error per parameter), PNGs beside")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.add_argument("--scheduler", metavar="ADDRESS", help="dask.distributed scheduler (default: local)")
    s.add_argument("--bin", metavar="2x2", help="sum pixels in blocks before the analysis (x first)")
    for name, kind, metavar, text in CONTROLS:
        s.add_argument(f"--{name}", type=kind, metavar=metavar, help=f"{text} (default: automatic)")

    s = _sub(sub, "train", "train a calibrated network for one edge and structure (the nn method)", cmd_train)
    s.add_argument("--edge", metavar="El_EDGE", help="edge, e.g. O_K (or from --config)")
    s.add_argument("--structure", metavar="SPEC", help="element, formula or CIF path (or from --config)")
    s.add_argument("--out", metavar="MODEL_DIR", help="folder to write the model into (default: the exelfs cache, "
                   "where analyze --method nn finds it)")
    s.add_argument("--config", metavar="FILE.toml", help="TOML file describing the whole run (see exelfs.nn.config)")
    s.add_argument("--samples", type=int, metavar="N", help="number of training spectra")
    s.add_argument("--seed", type=int, metavar="S", help="random seed")
    s.add_argument("--kind", choices=["eels", "xas"], help="data the model is for (default: xas above 3 keV, "
                   "else eels)")
    s.add_argument("--json", action="store_true", help="print the model's metadata summary as JSON")

    s = _sub(sub, "demo", "run the whole analysis on the embedded synthetic example", cmd_demo)
    s.add_argument("--out", default="exelfs-demo", help="folder for the demo's figures")

    s = _sub(sub, "gui", "the workbench in the browser: load a spectrum, click its edge, structure, analysis, "
             "report", cmd_gui)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8050, help="port to listen on (default 8050)")
    s.add_argument("--max-upload-mb", type=float, default=100.0, metavar="MB",
                   help="largest file a user may upload (default 100 MB)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .quiet import quiet_process

    quiet_process()
    try:
        args.func(args)
    except InputError as exc:
        print(f"exelfs: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a fault of the program: say so briefly, full trace on request
        if os.environ.get("EXELFS_DEBUG"):
            raise
        print(f"exelfs: internal error ({type(exc).__name__}: {exc}); "
              "set EXELFS_DEBUG=1 for the traceback", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
