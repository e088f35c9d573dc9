"""One plan for the whole image: the pipeline's plan and the extraction choices of the image's sum
(pre-edge window, E0, end of range, k range, rbkg, low-loss), turned into the arrays that every pixel
shares (the k-grid and spline operators, the prepared low-loss). Units: eV, 1/angstrom, angstrom."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..extract import batch
from ..extract.chi import AUTOBK_KMIN

MIN_EDGE_SNR = 3.0  # edge step / pre-edge scatter per channel below which a pixel is too weak for an answer


@dataclass
class LowLossSetup:
    """The low-loss for the batch deconvolution: energy (eV, ZLP at 0, core-loss channel width), one
    spectrum (1, L) or None when a low-loss image is given per pixel, the channel window of each image row
    (zero channels put in front, raw channels used), FWHM (eV), threshold (eV), extrapolate flag."""

    energy: np.ndarray
    spectrum: np.ndarray | None
    fwhm: float
    threshold: float
    extrapolate: bool
    row_pad: int = 0
    row_count: int = 0


@dataclass
class MapSetup:
    """What every pixel shares. energy (eV), window (pre-edge, eV), e0, e_end (eV), k (1/A grid), k_range,
    kweight, r_range (A, the fit's window on the sum or None), l2_shift_ev, k_op_t (sparse (channels, k):
    mu_k = mu @ k_op_t),
    spline (mu0 operator on k), lowloss (LowLossSetup or None), method ('fit' or 'nn'), plan (the
    pipeline's), names (stored parameters), n_shells, min_snr, shells_ref (the modelled shells); for the
    fit: e0_start (eV, the sum's delta E0) and choice_spread (per shell, the sum's spread of r and sigma2
    over analysis choices, added to each pixel's errors)."""

    energy: np.ndarray
    window: tuple
    e0: float
    e_end: float
    k: np.ndarray
    k_range: tuple
    kweight: int
    r_range: tuple | None
    l2_shift_ev: float | None
    k_op_t: object
    spline: np.ndarray
    lowloss: LowLossSetup | None
    method: str
    plan: object
    n_shells: int
    min_snr: float = MIN_EDGE_SNR
    names: list = field(default_factory=list)
    shells_ref: list = field(default_factory=list)
    e0_start: float = 0.0
    choice_spread: list = field(default_factory=list)


def parameter_names(n_shells: int) -> list:
    """The stored maps in order: r, n, sigma2 of each shell with their 1-sigma errors, E0 shift, the
    edge-step SNR and the mask code."""
    names = []
    for i in range(1, n_shells + 1):
        names += [f"r{i}", f"r{i}_err", f"n{i}", f"n{i}_err", f"sigma2_{i}", f"sigma2_{i}_err"]
    return names + ["e0_shift", "e0_shift_err", "snr", "mask"]


def _lowloss_setup(lowloss_sum, energy, onset, image_rows: bool) -> LowLossSetup:
    from ..extract.deconvolution import prepare_lowloss

    de = float(np.median(np.diff(energy)))
    ll = prepare_lowloss(lowloss_sum, de, onset)
    top = float(ll.intensity.max())
    above = np.nonzero(ll.intensity >= 0.5 * top)[0]
    fwhm = max(float(ll.energy[above[-1]] - ll.energy[above[0]]) + de, de)
    extrapolate = bool(ll.intensity.size > 200 and np.all(ll.intensity[-100:] > 0))
    setup = LowLossSetup(energy=ll.energy, spectrum=None if image_rows else ll.intensity[None, :], fwhm=fwhm,
                         threshold=ll.threshold, extrapolate=extrapolate)
    if image_rows:
        raw = np.asarray(lowloss_sum.energy, float)
        if abs(float(np.median(np.diff(raw))) - de) > 1e-3 * de:
            raise InputError("a low-loss image must have the core-loss channel width "
                             f"({de:g} eV/channel): resample it, or give one low-loss spectrum")
        # each row is treated as the sum was: the same channels, the same zero padding in front (its own
        # zero-loss peak is then moved to 0 eV by batch.align_peaks)
        setup.row_pad = max(int(round((raw[0] + ll.zlp_shift - ll.energy[0]) / de)), 0)
        setup.row_count = min(ll.energy.size - setup.row_pad, raw.size)
    return setup


def make_setup(plan, result, image, lowloss_sum=None, lowloss_is_image=False, method="fit",
               min_snr=MIN_EDGE_SNR) -> MapSetup:
    """The MapSetup from the pipeline's plan and its Result on the image's sum (run with ``method``)."""
    from ..edges.tables import edge_entry
    from ..pipeline.run import l2_shift

    a = result.arrays
    if a.get("pre_edge_window") is None or a.get("e_end") is None:
        raise InputError("the image's sum gave no EELS extraction: maps need an EELS spectrum image")
    energy = np.asarray(image.energy, float)
    e0, e_end = float(result.e0_ev), float(a["e_end"])
    k = batch.k_grid(e0, e_end)
    spline = batch.spline_operator(k, AUTOBK_KMIN, float(k[-1]), plan.rbkg, result.kweight)
    entry = edge_entry(plan.element, plan.edge_kind)
    onset = entry.eels_onset if entry.eels_onset is not None else entry.energy
    ll = _lowloss_setup(lowloss_sum, energy, onset, lowloss_is_image) if lowloss_sum is not None else None
    if ll is not None and result.t_lambda is not None and result.t_lambda < 0.02:
        ll = None  # the pipeline's rule: plural scattering negligible, no deconvolution
    k_range = (float(result.k_range[0]), float(result.k_range[1]))
    sum_shells = sorted(result.shells + result.undetermined_shells, key=lambda sh: sh["r"])
    spread = [{"r": sh.get("error_budget", {}).get("r", {}).get("analysis_choices", 0.0),
               "sigma2": sh.get("error_budget", {}).get("sigma2", {}).get("analysis_choices", 0.0)}
              for sh in sum_shells]
    return MapSetup(energy=energy, window=tuple(float(x) for x in a["pre_edge_window"]), e0=e0, e_end=e_end, k=k,
                    k_range=k_range, kweight=int(result.kweight),
                    r_range=tuple(result.r_range) if (method == "fit" and result.r_range) else None,
                    l2_shift_ev=l2_shift(plan, k_range[1]), k_op_t=batch.k_operator(energy, e0, k).T.tocsr(),
                    spline=spline,
                    lowloss=ll, method=method, plan=plan, n_shells=0, min_snr=min_snr,
                    e0_start=float(result.stats.get("e0_shift") or 0.0), choice_spread=spread)
