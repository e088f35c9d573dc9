"""One scoped silencer for the libraries exelfs drives (HyperSpy, exspy, RosettaSciIO, Larch, pymatgen).

They print warnings, log lines and progress bars that are noise next to exelfs's own warnings (and
hyperspy.api attaches a handler that writes to stdout, which would break ``--json``). ``quiet()`` silences
them inside a ``with`` block and restores everything as it was; ``quiet_process()`` is the command line's
process-wide switch. Nothing else in exelfs touches logging levels or warning filters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings

LIBRARIES = ("hyperspy", "exspy", "rsciio", "larch", "pymatgen", "matplotlib", "numexpr", "h5py")


@contextlib.contextmanager
def quiet(hyperspy: bool = False):
    """Silence library warnings and log records below ERROR inside the block; restore on exit.

    hyperspy: also switch off HyperSpy's progress-bar preference for the block (exspy's thickness and
    Fourier-ratio methods take no ``show_progressbar`` argument and print a tqdm bar otherwise)."""
    loggers = [logging.getLogger(n) for n in LIBRARIES]
    levels = [lg.level for lg in loggers]
    general, old_bar = None, None
    if hyperspy:
        import hyperspy.api as hs

        general = hs.preferences.General
        old_bar = general.show_progressbar
        general.show_progressbar = False
    for lg in loggers:
        lg.setLevel(max(lg.level, logging.ERROR))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lev in zip(loggers, levels):
            lg.setLevel(lev)
        if general is not None:
            general.show_progressbar = old_bar


def quiet_process() -> None:
    """The command line's switch: no library warnings or log records below ERROR for the whole process.

    hyperspy.api resets its logger on import and adds a stdout handler; Larch adds a root handler: only the
    global ``logging.disable`` holds whatever is imported later."""
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("MPLBACKEND", "Agg")
