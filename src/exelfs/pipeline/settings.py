"""The controls an expert sets (all automatic by default) and the record of every choice made.

Units: k in 1/angstrom, energies in eV, R in angstrom.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from ..errors import InputError


@dataclass(frozen=True)
class Settings:
    """User controls of one analysis; None means "chosen automatically from the data".

    kmin, kmax: k range of the analysis (1/A); kweight: k weighting of the fit and transform (0-3);
    e0: edge energy (eV); rbkg: background spline cut-off in R (A); rmin, rmax: fit window in R (A);
    s02: amplitude reduction factor S0^2 used to turn amplitudes into N; shells: how many shells to fit."""

    kmin: float | None = None
    kmax: float | None = None
    kweight: int | None = None
    e0: float | None = None
    rbkg: float | None = None
    rmin: float | None = None
    rmax: float | None = None
    s02: float | None = None
    shells: int | None = None

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{f.name} = {value!r} is not a finite number: give a number or leave it out")
        self._check_ranges()

    def _check_ranges(self):
        def bad(name, why):
            raise InputError(f"{name} = {getattr(self, name)} {why}")

        if self.kmin is not None and not 0 <= self.kmin < 25:
            bad("kmin", "is outside 0-25 1/A")
        if self.kmax is not None and not 1 < self.kmax <= 30:
            bad("kmax", "is outside 1-30 1/A")
        if self.kmin is not None and self.kmax is not None and self.kmax - self.kmin < 2:
            bad("kmax", f"leaves less than 2 1/A above kmin = {self.kmin}: widen the k range")
        if self.kweight is not None and (self.kweight != int(self.kweight) or not 0 <= self.kweight <= 3):
            bad("kweight", "is not one of 0, 1, 2, 3")
        if self.rbkg is not None and not 0 < self.rbkg <= 3:
            bad("rbkg", "is outside (0, 3] angstrom: use about half the first-shell distance")
        if self.rmin is not None and not 0 <= self.rmin < 10:
            bad("rmin", "is outside 0-10 angstrom")
        if self.rmax is not None and not 0.5 < self.rmax <= 10:
            bad("rmax", "is outside 0.5-10 angstrom")
        if self.rmin is not None and self.rmax is not None and self.rmax - self.rmin < 0.3:
            bad("rmax", f"leaves less than 0.3 angstrom above rmin = {self.rmin}: widen the R window")
        if self.s02 is not None and not 0.1 <= self.s02 <= 1.5:
            bad("s02", "is outside 0.1-1.5 (S0^2 of real data lies near 0.7-1.0)")
        if self.shells is not None and (self.shells != int(self.shells) or not 1 <= self.shells <= 6):
            bad("shells", "is not a whole number from 1 to 6")
        if self.e0 is not None and not 0 < self.e0 < 1e6:
            bad("e0", "is not an edge energy in eV")

    @classmethod
    def from_kwargs(cls, **controls) -> "Settings":
        """Settings from keyword controls; an unknown keyword is an InputError naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(controls) - known)
        if unknown:
            raise InputError(f"unknown control {unknown[0]!r}: the controls are {', '.join(sorted(known))}")
        return cls(**{k: v for k, v in controls.items() if v is not None})

    def given(self) -> dict:
        """The controls the user set."""
        return {k: v for k, v in asdict(self).items() if v is not None}


class Choices:
    """Every choice of an analysis with who made it: {name: {"value", "set_by": "user"|"auto", "reason"}}."""

    def __init__(self):
        self.items: dict[str, dict] = {}

    def user(self, name: str, value):
        self.items[name] = {"value": value, "set_by": "user", "reason": "given"}

    def auto(self, name: str, value, reason: str):
        self.items[name] = {"value": value, "set_by": "auto", "reason": reason}

    def as_dict(self) -> dict:
        return {k: dict(v) for k, v in self.items.items()}

    def copy(self) -> "Choices":
        """An independent copy (a run adds its own choices to the plan's)."""
        new = Choices()
        new.items = self.as_dict()
        return new
