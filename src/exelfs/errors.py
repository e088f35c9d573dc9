"""Error types. ``InputError`` means the input or the request is unusable: the command line prints its
message as one line on stderr and exits with status 2.

:func:`number` turns a value given by a user (command line or Python) into a finite float in a range, or
raises InputError with the sentence the command line prints: bad values never surface as TypeError or
OverflowError."""

from __future__ import annotations

import math


class InputError(ValueError):
    """The input data or request cannot be used; the message says what is wrong and what to do."""


def number(value, what: str, lo: float | None = None, hi: float | None = None) -> float:
    """`value` as a finite float within [lo, hi]; InputError naming `what` (e.g. 'rmax (angstrom)')."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what} must be a number, not {str(value)[:40]!r}") from None
    if not math.isfinite(x):
        raise InputError(f"{what} must be a finite number, not {x}")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        span = f"from {lo:g} to {hi:g}" if lo is not None and hi is not None else (
            f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
        raise InputError(f"{what} = {x:g} is out of range: give a value {span}")
    return x
