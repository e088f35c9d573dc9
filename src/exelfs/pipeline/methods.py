"""The registry of analysis methods: one signature, ``method(plan, data) -> MethodOutput``.

``fit`` (Larch feffit shell fit) is registered here; the neural networks' ``nn`` registers the same way.
Units: k in 1/angstrom, R in angstrom, sigma2 in angstrom^2, energies in eV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError

METHODS: dict[str, Callable] = {}
PLANNED = {"nn": "neural-network analysis is not available yet: use --method fit"}


@dataclass
class ChiInput:
    """What a method analyses: chi(k) (k in 1/A, any grid), the k range chosen for it, the k weight, the
    R window the user set (None: automatic), the data kind, E0 (eV) and, for L3 edges of EELS, the L2-L3
    spacing (eV) when the L2 fine structure overlaps the range."""

    k: np.ndarray
    chi: np.ndarray
    k_range: tuple
    kweight: int
    kind: str
    r_range: tuple | None = None
    e0: float | None = None
    l2_shift_ev: float | None = None


@dataclass
class MethodOutput:
    """What a method returns: shells (contract keys plus ``error_budget`` and honesty ``flags``), warnings,
    the fit statistics (``n_independent``, ``n_parameters``, ``r_factor``, ``k_range``, ``r_range``, ...),
    model curves on the method's own grids (``k``, ``chi``, ``chi_model``, ``kwin``, ``r``, ``chir``,
    ``chir_model``, ``rwin``) and the model as data (for reports and scripts that redo it)."""

    shells: list
    warnings: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)


def register(name: str):
    """Decorator: register ``func(plan, data: ChiInput) -> MethodOutput`` as method ``name``."""
    def deco(func):
        METHODS[name] = func
        return func
    return deco


def get_method(name: str) -> Callable:
    """The registered method ``name``; InputError for a planned or unknown one."""
    name = (name or "fit").lower()
    if name in METHODS:
        return METHODS[name]
    if name in PLANNED:
        raise InputError(PLANNED[name])
    raise InputError(f"unknown method '{name}': use one of {', '.join(sorted(METHODS))}")


@register("fit")
def fit_method(plan, data: ChiInput) -> MethodOutput:
    """Least-squares shell fit (Larch feffit in R space) with the plan's FEFF paths."""
    from ..fit import fit_shells

    s = plan.settings
    out = fit_shells(data.k, data.chi, plan.paths, data.k_range, r_range=data.r_range, kweight=data.kweight,
                     l2_shift_ev=data.l2_shift_ev, max_shells=s.shells, s02=s.s02)
    stats = {k: out[k] for k in ("n_independent", "n_parameters", "e0_shift", "e0_shift_err", "r_factor",
                                 "chi2_reduced", "n_from", "k_range", "r_range", "kweight", "bounds_hit")}
    stats["fit_mode"] = out["mode"]
    return MethodOutput(shells=out["shells"], warnings=out["warnings"], stats=stats, curves=out["curves"],
                        model={**out["model"], "kweight": out["kweight"], "dk": out["dk"], "window": out["window"],
                               "k_range": out["k_range"], "r_range": out["r_range"]})
