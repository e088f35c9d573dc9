"""The ``exelfs`` command line: a thin layer over the public functions (see DESIGN.md for the contract).

Exit status: 0 done; 2 the input or request is unusable (one line on stderr); 1 a fault of the program.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings

from .errors import InputError
from .outputs import check_output_dir, check_output_file


def _quiet_libraries():
    """HyperSpy, RosettaSciIO and Larch print warnings that are noise on a command line."""
    warnings.filterwarnings("ignore")
    # hyperspy.api resets its logger on import and attaches a handler writing to stdout (which would
    # break --json); Larch adds a root handler. Disabling WARNING and below globally is the only switch
    # that holds whatever is imported later.
    logging.disable(logging.WARNING)
    os.environ.setdefault("MPLBACKEND", "Agg")


def _print_json(obj):
    print(json.dumps(obj, indent=2, default=float))


def cmd_identify(args):
    from .edges import identify, format_identification
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


def cmd_analyze(args):
    from .analysis import analyze, format_analysis
    from .io import read_spectrum

    check_output_dir(args.report, "--report")
    spectrum = read_spectrum(args.file)
    lowloss = read_spectrum(args.lowloss) if args.lowloss else None
    result = analyze(spectrum, edge=args.edge, structure=args.structure, lowloss=lowloss,
                     method=args.method, report_dir=args.report)
    result = {"file": args.file, **result}
    if args.json:
        _print_json(result)
    else:
        print(format_analysis(result))


def cmd_demo(args):
    from .demo import run_demo

    check_output_dir(args.out, "--out")
    run_demo(out_dir=args.out)


class OneLineParser(argparse.ArgumentParser):
    """argparse with the contract's error output: one line ``exelfs: error: ...`` on stderr, exit 2."""

    def error(self, message):
        self.exit(2, f"exelfs: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="exelfs", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    s = sub.add_parser("identify", help="find edges and rank element/edge candidates")
    s.add_argument("file")
    s.add_argument("--at", type=float, action="append", metavar="EV",
                   help="an edge onset energy (eV) chosen by the operator; repeatable")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_identify)

    s = sub.add_parser("structure", help="propose the reference crystal structure and neighbour shells")
    s.add_argument("spec", metavar="SPEC", help="element, formula or CIF path")
    s.add_argument("--absorber", metavar="EL")
    s.add_argument("--json", action="store_true")
    s.add_argument("--image", metavar="OUT", help="write a 3D picture (.png or .html)")
    s.set_defaults(func=cmd_structure)

    s = sub.add_parser("analyze", help="extract chi(k) and fit neighbour shells")
    s.add_argument("file")
    s.add_argument("--edge", metavar="El_EDGE")
    s.add_argument("--structure", metavar="SPEC")
    s.add_argument("--lowloss", metavar="FILE")
    s.add_argument("--method", choices=["nn", "fit", "both"], default="fit")
    s.add_argument("--json", action="store_true")
    s.add_argument("--report", metavar="DIR")
    s.set_defaults(func=cmd_analyze)

    s = sub.add_parser("demo", help="run the whole analysis on the embedded synthetic example")
    s.add_argument("--out", default="exelfs-demo", help="folder for the demo's figures")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    try:
        args.func(args)
    except InputError as exc:
        print(f"exelfs: error: {exc}", file=sys.stderr)
        return 2
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
