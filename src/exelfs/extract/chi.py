"""From a spectrum (EELS or X-ray absorption) to chi(k) and its Fourier transform.

EELS: sum a spectrum image; drop placeholder channels; power-law pre-edge background (exspy) over a
window chosen from the data; optional Fourier-ratio deconvolution with a low-loss spectrum (exspy) and
t/lambda; E0 from the data; usable range up to the next edge or the end of the data; smooth post-edge
background mu0 by Larch ``autobk`` (rbkg ~ 1 angstrom); chi = (mu - mu0) / mu0, because the EELS edge
cross-section falls steeply with energy (a constant edge step would leave that fall in chi), averaged
over the channels of each k bin (Larch interpolates one channel per k point: at high k, where several
channels share a bin, that throws most of the counts away).
X-ray: Larch ``pre_edge`` + ``autobk``; chi normalised by the edge step as Larch does.

k = sqrt(ETOK * (E - E0)) with Larch's ETOK (0.2624682917 eV^-1 angstrom^-2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..edges.tables import SPIN_ORBIT, all_edges, edge_entry, parse_edge
from ..errors import InputError
from ..quiet import quiet
from ..spectrum import Spectrum
from . import batch
from .background import PreEdgeFit, fit_pre_edge, log_rises, rising_points
from .fourier import fourier_transform

MIN_EXTENDED_EV = 150.0  # eV of usable data past E0 needed for EXELFS/EXAFS
MIN_K_SPAN = 3.0  # 1/angstrom
AUTOBK_KMIN = 1.0  # 1/angstrom: the EELS spline need not follow the near-edge peaks below
NOISE_FACTOR = 1.0  # usable while the filtered chi envelope exceeds this many times the local noise
EELS_KMIN_K = 2.0  # 1/A: K edges, past the near-edge structure
EELS_KMIN_L = 2.5  # 1/A: L and M edges (white lines, delayed maxima)
THIN_T_LAMBDA = 0.02  # below this t/lambda the Fourier-ratio deconvolution is skipped (nothing to remove)
FS_RISE_FACTOR = 1.2  # a next edge rises more steeply than this times the fine structure near the edge
PARTNER_OVERLAP_EV = 60.0  # closer than this, the partner overlaps the EXELFS instead of ending it


def etok_const() -> float:
    """Larch's energy-to-k constant (eV^-1 angstrom^-2): k = sqrt(ETOK * (E - E0))."""
    from larch.xafs.xafsutils import ETOK

    return float(ETOK)


@dataclass
class Extraction:
    """Everything from one extraction, in the units a spectroscopist checks.

    energy (eV), signal (summed counts or mu(E)), pre_edge (power-law background for EELS, Larch's
    pre-edge line for X-ray, on ``energy``), pre_edge_window (eV), mu (edge signal: background-subtracted,
    deconvolved where a low-loss was given; raw mu(E) for X-ray), mu0 (smooth post-edge background on
    ``energy``, NaN outside [e0, e_end]), post_edge and edge_step (X-ray: Larch's post-edge line and edge
    step), e0 and e0_err (eV), k (1/angstrom, uniform 0.05 grid), chi,
    k_range (usable kmin, kmax), kweight, t_lambda (None without low-loss), r (angstrom) and chir
    (complex) / chir_mag of k^kweight chi over k_range, warnings (list of str).
    """

    kind: str
    edge: str
    energy: np.ndarray
    signal: np.ndarray
    pre_edge: np.ndarray
    pre_edge_window: tuple | None
    mu: np.ndarray
    mu0: np.ndarray
    e0: float
    e0_err: float
    k: np.ndarray
    chi: np.ndarray
    k_range: tuple
    kweight: int
    t_lambda: float | None
    r: np.ndarray
    chir: np.ndarray
    chir_mag: np.ndarray
    warnings: list = field(default_factory=list)
    e_end: float | None = None  # eV: end of the usable extended range
    range_limit: str = ""  # what ended the range ('end of data', 'Mg_K edge', 'noise', ...)
    noise_chi: float | None = None  # estimated noise in chi(k) (Larch estimate_noise epsilon_k)
    pre_edge_fit: dict | None = None  # power-law r, A, residual figures (EELS)
    partner_edges: list = field(default_factory=list)  # [{"edge": "Ni_L2", "energy_ev", "shift_ev"}]
    deconvolved: bool = False
    e0_estimates: dict = field(default_factory=dict)  # eV, per estimator
    post_edge: np.ndarray | None = None  # X-ray: Larch's post-edge line on ``energy`` (None for EELS)
    edge_step: float | None = None  # X-ray: Larch's edge step (mu units)

    def __getitem__(self, name):  # group-like access: ext["chi"]
        return getattr(self, name)

    def ft_peak(self, rmin: float = 1.0, rmax: float = 6.0) -> float:
        """R (angstrom, not phase-corrected) of the highest |chi(R)| peak between rmin and rmax."""
        sel = (self.r >= rmin) & (self.r <= rmax)
        if not sel.any():
            return float("nan")
        return float(self.r[sel][np.argmax(self.chir_mag[sel])])

    def first_peak(self, rmin: float = 1.0, rmax: float = 6.0, rel: float = 0.5) -> float:
        """R (angstrom) of the first local maximum of |chi(R)| above ``rmin`` reaching ``rel`` times the
        highest peak in [rmin, rmax]: the first coordination shell, ~0.2-0.5 angstrom below its true
        distance (phase shift)."""
        sel = (self.r >= rmin) & (self.r <= rmax)
        r, m = self.r[sel], self.chir_mag[sel]
        if r.size < 3:
            return float("nan")
        top = m.max()
        for i in range(1, r.size - 1):
            if m[i] >= m[i - 1] and m[i] >= m[i + 1] and m[i] >= rel * top:
                return float(r[i])
        return float(r[np.argmax(m)])

    def summary(self) -> dict:
        """Scalars as plain JSON-ready values."""
        return {
            "kind": self.kind, "edge": self.edge, "e0_ev": float(self.e0), "e0_err_ev": float(self.e0_err),
            "k_range": [float(self.k_range[0]), float(self.k_range[1])], "kweight": self.kweight,
            "e_end_ev": None if self.e_end is None else float(self.e_end), "range_limit": self.range_limit,
            "t_lambda": None if self.t_lambda is None else float(self.t_lambda),
            "pre_edge_window_ev": None if self.pre_edge_window is None else [float(x) for x in self.pre_edge_window],
            "pre_edge_fit": self.pre_edge_fit, "noise_chi": self.noise_chi, "deconvolved": self.deconvolved,
            "partner_edges": self.partner_edges, "ft_peak_r": self.ft_peak(), "first_peak_r": self.first_peak(),
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------------
def extract_chi(spectrum: Spectrum, edge: str, lowloss: Spectrum | None = None, e0: float | None = None,
                kweight: int = 2, rbkg: float = 1.0, elements=None) -> Extraction:
    """chi(k) of one edge of ``spectrum`` (EELS or X-ray; a spectrum image is summed first).

    edge: 'O_K', 'Ni_L3', ... ; lowloss: EELS low-loss for Fourier-ratio deconvolution and t/lambda;
    e0: edge energy (eV) to use instead of the one found in the data; kweight for the transform;
    rbkg (angstrom): the post-edge background spline follows nothing above rbkg in chi(R);
    elements: the elements of the sample when known (e.g. from the structure): a tabulated edge only
    ends the EELS range when it belongs to one of them (any major edge when None).
    InputError when the edge lies outside the data or too little extended range is usable."""
    if not isinstance(spectrum, Spectrum):
        raise InputError("extract_chi needs a Spectrum (an energy-loss or absorption spectrum), "
                         f"not {type(spectrum).__name__}")
    element, shell = parse_edge(edge)
    name = f"{element}_{shell}"
    if rbkg <= 0 or rbkg > 3:
        raise InputError(f"rbkg = {rbkg} angstrom is outside (0, 3]: use ~1 angstrom")
    if spectrum.kind == "xas":
        if lowloss is not None:
            raise InputError("a low-loss spectrum only applies to EELS: leave it out for X-ray absorption data")
        return _extract_xas(spectrum.summed(), element, shell, name, e0, kweight, rbkg)
    if spectrum.kind != "eels":
        raise InputError(f"unknown spectrum kind '{spectrum.kind}': expected 'eels' or 'xas'")
    with quiet():
        return _extract_eels(spectrum.summed(), element, shell, name, lowloss, e0, kweight, rbkg, elements)


# --------------------------------------------------------------------------------------------------
def _check_inside(energy, onset, name):
    if not energy[0] < onset < energy[-1]:
        raise InputError(f"the {name} edge ({onset:.0f} eV) lies outside the data "
                         f"({energy[0]:.0f}-{energy[-1]:.0f} eV): choose an edge inside the spectrum")


def _partner_and_next(element, shell, onset, e_hi, kind):
    """(partners overlapping the EXELFS, next same-element edges that end the range) above ``onset``."""
    from ..edges.tables import _table  # all edges of one element

    partners, enders = [], []
    for (el, ed), entry in _table().items():
        if el != element or ed == shell:
            continue
        en = entry.eels_onset if (kind == "eels" and entry.eels_onset) else entry.energy
        if en is None or not onset + 1.0 < en < e_hi:
            continue
        if SPIN_ORBIT.get(shell) == ed and en - onset < PARTNER_OVERLAP_EV:
            partners.append({"edge": entry.name, "energy_ev": float(en), "shift_ev": float(en - onset)})
            continue
        # EELS: minor edges (L1, M1...) are too weak to show; X-ray: every edge counts
        if kind == "eels" and entry.relevance != "Major":
            continue
        enders.append((float(en), entry.name))
    return partners, sorted(enders)


def _background_already_removed(energy, intensity, onset) -> bool:
    """True when the pre-edge holds ~no counts while the edge does (a background-subtracted spectrum
    such as a processed edge from a publication): then no power law is fitted."""
    energy = np.asarray(energy, float)
    intensity = np.asarray(intensity, float)
    pre = (energy < onset - 10) & np.isfinite(intensity)
    post = (energy > onset + 10) & (energy < onset + 80) & np.isfinite(intensity)
    if pre.sum() < 5 or post.sum() < 5:
        return False
    level = float(np.median(intensity[post]))
    return level > 0 and abs(float(np.median(intensity[pre]))) < 0.03 * level


def _powerlaw_excess(energy, signal, ec):
    """Mean relative excess of the data over [ec+5, ec+50] eV above a power law fitted on
    [ec-60, ec-5] eV (an edge, sharp or delayed, shows as a positive excess)."""
    pre = (energy >= max(ec - 60, 1.0)) & (energy <= ec - 5)
    post = (energy >= ec + 5) & (energy <= ec + 50)
    if pre.sum() < 5 or post.sum() < 3 or np.any(signal[pre] <= 0):
        return float("nan"), None
    p = np.polyfit(np.log(energy[pre]), np.log(signal[pre]), 1)
    ratio = np.zeros_like(signal)
    pos = energy > 0  # a spectrum may include the zero-loss region (negative losses)
    ratio[pos] = signal[pos] / np.exp(np.polyval(p, np.log(energy[pos]))) - 1.0
    return float(np.mean(ratio[post])), ratio


def _detect_next_edge(energy, signal, start, stop, tabulated=True, e0=None, elements=None):
    """First edge in the data between start and stop (eV): a sharp rise of the smoothed intensity, or a
    tabulated major edge where the data exceed the extrapolated power law by > 6 %. Returns
    (energy where the rise starts, label) or None.

    The fine structure itself makes the intensity rise and fall; with many counts those rises stand far
    above the noise. A rise counts as an edge only when it is sharper than FS_RISE_FACTOR times the
    steepest rise of the fine structure at e0 + 15-90 eV (at least one oscillation; it only weakens
    further out). Tabulated edges count only for ``elements`` when given (the sample's elements)."""
    found = []
    sel = (energy >= start) & (energy <= stop)
    min_rise = 0.0
    if e0 is not None:
        ref = (energy >= e0 + 15.0) & (energy <= e0 + 90.0)
        if ref.sum() > 10:
            _, rise, _ = log_rises(energy[ref], signal[ref], 4.0)
            if rise.size:
                min_rise = FS_RISE_FACTOR * max(float(rise.max()), 0.0)
    if sel.sum() > 10:
        rises = rising_points(energy[sel], signal[sel], 4.0, min_rise=min_rise)
        if rises.size:
            found.append((float(rises[0]) - 4.0, f"intensity jump at {rises[0]:.0f} eV"))
    for entry in (all_edges(start, stop) if tabulated else []):
        if entry.relevance != "Major" or entry.energy is None:
            continue
        if elements and entry.element not in elements:
            continue
        excess, ratio = _powerlaw_excess(energy, signal, entry.energy)
        if not excess > 0.06:
            continue
        # the same figure just below, where no edge is, measures what the fine structure alone gives
        ref = [abs(_powerlaw_excess(energy, signal, entry.energy - d)[0]) for d in (55.0, 75.0)
               if e0 is None or entry.energy - d - 60.0 >= e0 + 15.0]
        ref = [x for x in ref if np.isfinite(x)]
        if ref and not excess > 2.0 * max(ref):
            continue
        # locate the rise: first point past ec-5 where the excess reaches half its mean value
        idx = np.nonzero((energy >= entry.energy - 5) & (ratio > 0.5 * excess))[0]
        at = float(energy[idx[0]]) if idx.size else entry.energy
        found.append((at, f"an edge near {at:.0f} eV (e.g. {entry.name})"))
        break
    if not found:
        return None
    return min(found)


def _estimate_e0(energy, mu, onset, shape, threshold, de):
    """E0 (eV) from the edge signal and its uncertainty: maximum derivative of the smoothed edge and
    half-rise energy; for delayed edges without a white line the half rise of a wider window."""
    sigma = max(1.0 / de, 1.0)
    sm = gaussian_filter1d(mu, sigma, mode="nearest")
    delayed = "Delayed" in shape and "Sharp" not in threshold
    hi_win = 50.0 if delayed else 20.0
    win = (energy >= onset - 15.0) & (energy <= onset + hi_win)
    if win.sum() < 3:
        win = (energy >= onset - 15.0) & (energy <= onset + hi_win + 3 * de)
    ew, sw = energy[win], sm[win]
    deriv = np.gradient(sw, ew)
    e_md = float(ew[np.argmax(deriv)])
    below = (energy >= onset - 30.0) & (energy <= onset - 10.0)
    lo = float(np.median(sm[below])) if below.sum() >= 2 else float(sw[0])
    hi = float(sw.max())
    cross = np.nonzero(sw >= lo + 0.5 * (hi - lo))[0]
    e_hh = float(ew[cross[0]]) if cross.size else e_md
    estimates = {"max_derivative": e_md, "half_rise": e_hh, "tabulated_onset": float(onset)}
    if delayed:
        # a delayed maximum rises over tens of eV: its steepest point and half height lie well past the
        # threshold; take the first quarter of the rise as E0 (the fit refines it)
        quarter = np.nonzero(sw >= lo + 0.25 * (hi - lo))[0]
        e0 = float(ew[quarter[0]]) if quarter.size else e_md
        estimates["quarter_rise"] = e0
        err = max(de, 0.5, 0.5 * (max(e_md, e_hh, e0) - min(e_md, e_hh, e0)))
    else:
        e0 = e_md
        err = max(de, 0.5, 0.5 * abs(e_md - e_hh))
    return e0, err, estimates


def _autobk_chi(energy, mu, e0, e_end, rbkg, kweight, normalise_by_mu0):
    """Larch autobk on [e0 - 30 eV, e_end]; returns (k, chi, mu0 on energy, edge_step).

    normalise_by_mu0: chi = (mu - mu0)/mu0 (EELS) instead of (mu - mu0)/edge_step (Larch, X-ray)."""
    from larch import Group
    from larch.xafs import autobk

    etok = etok_const()
    sel = (energy >= e0 - 30.0) & (energy <= e_end)
    en, m = energy[sel], mu[sel]
    post = (en >= e0 + 10) & (en <= e0 + 60)
    edge_step = float(np.median(m[post])) if post.sum() else float(np.median(m[en >= e0]))
    if not edge_step > 0:
        raise InputError("the edge signal after background removal is not positive above E0: the "
                         "pre-edge background is wrong or the edge is absent")
    group = Group()
    kmax = np.sqrt(etok * (e_end - e0))
    _run_autobk(en, m, group, rbkg=rbkg, e0=e0, edge_step=edge_step, kweight=kweight, kmax=kmax,
                kmin=AUTOBK_KMIN)
    k = np.asarray(group.k, float)
    chi_step = np.asarray(group.chi, float)
    mu0 = np.full(energy.shape, np.nan)
    bkg = np.asarray(group.bkg, float)
    above = en >= e0
    mu0_sel = np.where(above, bkg, np.nan)
    mu0[sel] = mu0_sel
    if normalise_by_mu0:
        bkg_k = np.interp(e0 + k ** 2 / etok, en, bkg)
        floor = 0.05 * np.nanmedian(bkg_k[k > 2]) if np.any(k > 2) else 0.05 * edge_step
        chi = chi_step * edge_step / np.maximum(bkg_k, max(floor, 1e-300))
        # Larch interpolates mu at each k point, using one channel in several where the channels are
        # finer than the k grid (high k): average the channels of each k bin instead (same chi, less noise)
        chi_e = (m - bkg) / np.maximum(bkg, max(floor, 1e-300))
        chi = _bin_average_k(k, chi, np.sqrt(etok * np.clip(en[above] - e0, 0.0, None)), chi_e[above])
    else:
        chi = chi_step
    return k, chi, mu0, edge_step


def _bin_average_k(k, chi, k_channels, chi_channels, min_channels=2):
    """chi on the uniform grid k (1/angstrom): the mean of the channels falling in each bin
    [k - dk/2, k + dk/2) where a bin holds at least ``min_channels`` channels, ``chi`` elsewhere."""
    dk = float(k[1] - k[0]) if k.size > 1 else 0.05
    idx = np.floor((k_channels - k[0]) / dk + 0.5).astype(int)
    ok = (idx >= 0) & (idx < k.size) & np.isfinite(chi_channels)
    count = np.bincount(idx[ok], minlength=k.size)
    total = np.bincount(idx[ok], weights=chi_channels[ok], minlength=k.size)
    out = np.array(chi, float, copy=True)
    many = count >= min_channels
    out[many] = total[many] / count[many]
    return out


def _run_autobk(energy, mu, group, **kws):
    """Larch autobk; Larch indexes a missing covariance matrix when its least-squares converges badly
    (TypeError): retry with another start of the spline range, then give up with an InputError."""
    from larch.xafs import autobk

    for attempt in ({}, {"kmin": 0.0}, {"kmin": 0.5, "nknots": 6}):
        try:
            with quiet():
                autobk(energy, mu, group=group, **{**kws, **attempt})
            return group
        except (TypeError, ValueError, IndexError):
            continue
    raise InputError("the smooth post-edge background (Larch autobk) could not be fitted: the edge signal "
                     "is too noisy or too short")


def _noise_kmax(k, chi, kmin, kmax, kweight):
    """(epsilon_k, kmax_noise): the noise in chi(k) from the high-R part of chi(R) (Larch
    ``estimate_noise``), and the highest k where the Fourier-filtered chi (R 1-6 angstrom, Larch
    xftf/xftr) still stands above 1.5 epsilon_k. Larch's own ``kmax_suggest`` stops at the first dip of
    the envelope, i.e. at a beat node between two shells, which cuts EXELFS ranges far too early."""
    from larch import Group
    from larch.xafs import estimate_noise, xftf, xftr

    group = Group()
    try:
        with quiet():
            estimate_noise(k, chi, group=group, kweight=kweight, kmin=kmin, kmax=kmax)
            eps = float(group.epsilon_k)
    except Exception:  # noqa: BLE001 - Larch indexes an empty array when chi never sinks into noise
        eps = getattr(group, "epsilon_k", None)
        if eps is None:
            return None, kmax
        eps = float(eps)
    tmp = Group()
    xftf(k, chi, group=tmp, kmin=kmin, kmax=kmax, kweight=kweight, dk=0.5, window="hanning", rmax_out=12)
    xftr(tmp.r, tmp.chir, group=tmp, rmin=1.0, rmax=6.0, dr=0.5, window="hanning")
    q = np.asarray(tmp.q)
    chiq = np.asarray(tmp.chiq)
    weight = np.maximum(q, 1e-6) ** kweight
    envelope = np.abs(chiq) / weight
    # local noise: rms of what the 1-6 angstrom filter leaves out, in +-0.5 1/angstrom windows (EELS
    # noise grows with k as the edge signal falls, which the single epsilon_k does not capture)
    low = Group()
    xftr(tmp.r, tmp.chir, group=low, rmin=0.0, rmax=6.0, dr=0.5, window="hanning")
    n = min(q.size, k.size, np.asarray(low.q).size)
    chi_q = np.interp(q[:n], k, chi)
    resid = chi_q - np.asarray(low.chiq).real[:n] / weight[:n]
    half = max(int(round(0.5 / (q[1] - q[0]))), 1)
    local = np.sqrt(np.convolve(resid ** 2, np.ones(2 * half + 1) / (2 * half + 1), mode="same"))
    noise = np.maximum(local, eps)
    sel = (q[:n] >= kmin + 1.0) & (q[:n] <= kmax - 0.5)
    above = np.nonzero(sel & (envelope[:n] > NOISE_FACTOR * noise))[0]
    if not above.size:
        return eps, kmin + 1.0
    return eps, float(q[above[-1]])


def _finish(ext_kwargs, k, chi, kmin, k_end, kweight, warnings, range_limit, noise_limit=True):
    """Noise-limited kmax, minimum-range checks and the Fourier transform."""
    eps_k, kmax_noise = _noise_kmax(k, chi, kmin, k_end, kweight)
    kmax = k_end
    if noise_limit and eps_k is not None and kmax_noise < k_end - 1.0:
        kmax = float(kmax_noise)
        range_limit = "noise"
        warnings.append(f"chi(k) sinks into noise above k = {kmax:.1f} 1/A (noise {eps_k:.3g} from "
                        "high-R chi(R), Larch estimate_noise): k range ends there")
    if kmax - kmin < MIN_K_SPAN:
        raise InputError(f"usable k range {kmin:.1f}-{kmax:.1f} 1/A is shorter than {MIN_K_SPAN:.0f} 1/A "
                         f"({range_limit}): record a longer extended range past the edge")
    dk = 1.0
    r, chir = fourier_transform(k, chi, kmin, kmax, kweight=kweight, dk=dk, window="hanning")
    return Extraction(k=k, chi=chi, k_range=(float(kmin), float(kmax)), kweight=kweight, r=r, chir=chir,
                      chir_mag=np.abs(chir), warnings=warnings, range_limit=range_limit,
                      noise_chi=eps_k, **ext_kwargs)


def _usable_channels(spectrum, name, warnings):
    """(energy, counts) with the reader's channel clean-up (placeholder runs, start-up ramp, corrupted end
    channels: ``exelfs.io.validate.trim_channels``, a no-op on spectra read by ``read_spectrum``, which
    already did it) for spectra built in Python; NaN/inf or empty spectra are refused as the reader does."""
    from ..io.validate import check_finite, trim_channels

    energy = np.asarray(spectrum.energy, float)
    signal = np.asarray(spectrum.intensity, float)
    check_finite(signal, "the spectrum")
    energy, signal, _ = trim_channels(energy, signal, warnings)
    if not np.any(signal > 0):
        raise InputError("the spectrum holds no positive counts: give raw energy-loss counts")
    if signal.size < 20:
        raise InputError("the spectrum has fewer than 20 usable channels: nothing to extract")
    return energy, signal


# --------------------------------------------------------------------------------------------------
def _extract_eels(spectrum, element, shell, name, lowloss, e0_user, kweight, rbkg, elements=None):
    from .deconvolution import fourier_ratio, prepare_lowloss

    etok = etok_const()
    warnings = list(spectrum.metadata.get("warnings", []))
    entry = edge_entry(element, shell)
    onset = entry.eels_onset if entry.eels_onset is not None else entry.energy
    _check_inside(spectrum.energy, onset, name)
    subtracted = _background_already_removed(spectrum.energy, spectrum.intensity, onset)
    if subtracted:
        ok = np.isfinite(spectrum.intensity)
        energy, signal = spectrum.energy[ok], spectrum.intensity[ok]
        warnings.append("the pre-edge intensity is ~0: the spectrum is taken as background-subtracted "
                        "and no power law is removed")
    else:
        energy, signal = _usable_channels(spectrum, name, warnings)
    _check_inside(energy, onset, name)
    de = float(np.median(np.diff(energy)))
    if onset - energy[0] < max(10.0, 5 * de):
        raise InputError(f"the {name} edge ({onset:.0f} eV) is too close to the start of the data "
                         f"({energy[0]:.0f} eV) for a pre-edge background: record from ~30 eV below it")
    if onset + MIN_EXTENDED_EV > energy[-1]:
        raise InputError(f"only {energy[-1] - onset:.0f} eV of data past the {name} edge ({onset:.0f} eV); "
                         f"EXELFS needs at least {MIN_EXTENDED_EV:.0f} eV: record a longer range")

    # pre-edge power law (exspy), window from the data
    if subtracted:
        b = onset - max(6.0, 3 * de)
        fit = PreEdgeFit(window=(float(energy[0]), float(b)), r=0.0, A=0.0,
                         background=np.zeros_like(signal), rms_rel=float("nan"),
                         noise_rel=float("nan"), systematic=float("nan"))
    else:
        sig_hs = spectrum.with_intensity(signal, energy=energy).to_hyperspy()
        fit = fit_pre_edge(sig_hs, energy, signal, onset)
        warnings += fit.notes
    mu = signal - fit.background
    # is there an edge at all? the edge signal just above the onset against the pre-edge scatter
    post = (energy >= onset + 5) & (energy <= onset + 60)
    pre = (energy >= fit.window[0]) & (energy <= fit.window[1])
    scatter = float(np.std(mu[pre])) if pre.sum() > 3 else 0.0
    if post.sum() < 3 or not np.median(mu[post]) > max(3 * scatter, 0.0):
        raise InputError(f"no {name} edge is visible at {onset:.0f} eV above the pre-edge background: "
                         "check the edge name (exelfs identify lists the edges in the file)")

    # Fourier-ratio deconvolution with the low-loss (exspy), t/lambda by log-ratio
    t_lambda, deconvolved, taper_end = None, False, energy[-1]
    if lowloss is not None:
        ll = prepare_lowloss(lowloss, de, onset)
        warnings += ll.notes
        t_lambda = ll.t_lambda
        if t_lambda < THIN_T_LAMBDA:
            warnings.append(f"t/lambda = {t_lambda:.3f}: plural scattering is negligible, no deconvolution")
        else:
            edge_only = np.where(energy >= fit.window[1], mu, 0.0)  # below the window end: no edge signal
            mu = fourier_ratio(energy, edge_only, ll)
            deconvolved = True
            n_taper = max(20, int(round(0.02 * energy.size)))  # exspy's Hanning taper at the end
            taper_end = energy[max(-2 * n_taper, -energy.size + 1)]

    # E0
    if e0_user is not None:
        e0 = float(e0_user)
        if not energy[0] < e0 < energy[-1]:
            raise InputError(f"e0 = {e0:.1f} eV lies outside the data ({energy[0]:.0f}-{energy[-1]:.0f} eV)")
        e0_err, e0_est = de, {"given": e0}
    else:
        e0, e0_err, e0_est = _estimate_e0(energy, mu, onset, entry.shape, entry.threshold, de)
    if abs(e0 - onset) > 15:
        warnings.append(f"E0 = {e0:.1f} eV is {e0 - onset:+.0f} eV from the tabulated {name} onset "
                        f"({onset:.0f} eV)")

    # usable extended range: end of data, next edge of the same element, any edge seen in the data
    e_end, limit = float(min(energy[-1], taper_end)) - 2 * de, "end of data"
    partners, enders = _partner_and_next(element, shell, onset, e_end + 1, "eels")
    for p in partners:
        warnings.append(f"the {name} EXELFS overlaps the {p['edge']} edge {p['shift_ev']:.0f} eV above: its "
                        "signal adds a copy of chi shifted by that energy (model it in the fit)")
    margin = max(8.0, 4 * de)
    if enders and enders[0][0] - margin < e_end:
        e_end, limit = enders[0][0] - margin, f"the {enders[0][1]} edge at {enders[0][0]:.0f} eV"
    search_from = e0 + 45.0 + (max(p["shift_ev"] for p in partners) if partners else 0.0)
    found = _detect_next_edge(energy, signal, search_from, e_end + margin, tabulated=not subtracted, e0=e0,
                              elements=elements)
    if found is not None and found[0] - margin < e_end:
        e_end, limit = found[0] - margin, found[1]
    # where the edge signal fades into the uncertainty of the extrapolated background
    faded = float(batch.fade_energy(energy, mu, fit.background, e0, e_end)[0])
    if faded < e_end:
        e_end, limit = faded, "the edge signal fading below 10 % of its near-edge level"
    if e_end - e0 < MIN_EXTENDED_EV:
        raise InputError(f"only {max(e_end - e0, 0):.0f} eV of usable data past the {name} edge at "
                         f"{e0:.0f} eV (range ends at {limit}); EXELFS needs at least "
                         f"{MIN_EXTENDED_EV:.0f} eV: this spectrum holds near-edge structure only")
    if limit != "end of data":
        warnings.append(f"extended range ends at {e_end:.0f} eV, before {limit}")

    k, chi, mu0, _ = _autobk_chi(energy, mu, e0, e_end, rbkg, kweight, normalise_by_mu0=True)
    kmin = EELS_KMIN_L if shell.startswith(("L", "M")) else EELS_KMIN_K  # past the near-edge structure
    k_end = float(np.sqrt(etok * (e_end - e0)))
    return _finish(dict(kind="eels", edge=name, energy=energy, signal=signal, pre_edge=fit.background,
                        pre_edge_window=fit.window, mu=mu, mu0=mu0, e0=e0, e0_err=e0_err,
                        t_lambda=t_lambda, e_end=e_end, pre_edge_fit=fit.as_dict(),
                        partner_edges=partners, deconvolved=deconvolved, e0_estimates=e0_est),
                   k, chi, kmin, k_end, kweight, warnings, limit)


# --------------------------------------------------------------------------------------------------
def _extract_xas(spectrum, element, shell, name, e0_user, kweight, rbkg):
    from larch import Group
    from larch.xafs import find_e0, pre_edge

    etok = etok_const()
    warnings = list(spectrum.metadata.get("warnings", []))
    order = np.argsort(spectrum.energy)
    energy = np.asarray(spectrum.energy, float)[order]
    mu = np.asarray(spectrum.intensity, float)[order]
    ok = np.isfinite(mu) & np.isfinite(energy)
    energy, mu = energy[ok], mu[ok]
    keep = np.concatenate([[True], np.diff(energy) > 0])
    energy, mu = energy[keep], mu[keep]
    if energy.size < 20:
        raise InputError("the absorption spectrum has fewer than 20 usable points")
    entry = edge_entry(element, shell)
    edge_en = entry.xray_energy if entry.xray_energy is not None else entry.energy
    _check_inside(energy, edge_en, name)

    group = Group()
    with quiet():
        e0_larch = float(find_e0(energy, mu))
    e0_meta = spectrum.metadata.get("e0")
    if e0_user is not None:
        e0 = float(e0_user)
        if not energy[0] < e0 < energy[-1]:
            raise InputError(f"e0 = {e0:.1f} eV lies outside the data ({energy[0]:.0f}-{energy[-1]:.0f} eV)")
        e0_est = {"given": e0, "larch_find_e0": e0_larch}
    else:
        e0 = e0_larch
        e0_est = {"larch_find_e0": e0_larch}
        if abs(e0 - edge_en) > 50:
            warnings.append(f"Larch's E0 ({e0:.1f} eV) is far from the tabulated {name} energy "
                            f"({edge_en:.1f} eV): using the tabulated energy")
            e0 = float(edge_en)
    if e0_meta is not None:
        try:
            e0_est["metadata"] = float(e0_meta)
        except (TypeError, ValueError):
            pass
    with quiet():
        pre_edge(energy, mu, group=group, e0=e0)
    # E0 spread: Larch's maximum derivative vs the half-step crossing of the normalised edge
    norm = np.asarray(group.norm, float)
    near = (energy >= e0 - 20) & (energy <= e0 + 20)
    cross = np.nonzero(near & (norm >= 0.5))[0]
    e_half = float(energy[cross[0]]) if cross.size else e0
    e0_est["half_step"] = e_half
    i0 = int(np.searchsorted(energy, e0))
    local_step = float(np.median(np.diff(energy[max(i0 - 3, 0):i0 + 4]))) if energy.size > 7 else 1.0
    e0_err = max(local_step, 0.5 * abs(e_half - e0), 0.25)

    # usable range: end of data, next edge of the same element (every edge counts in X-ray data)
    e_end, limit = float(energy[-1]), "end of data"
    partners, enders = _partner_and_next(element, shell, edge_en, e_end + 1, "xas")
    enders = enders + [(p["energy_ev"], p["edge"]) for p in partners]  # no overlap trick for X-ray
    enders.sort()
    if enders and enders[0][0] - 10 < e_end:
        e_end, limit = enders[0][0] - 10.0, f"the {enders[0][1]} edge at {enders[0][0]:.0f} eV"
        warnings.append(f"extended range ends at {e_end:.0f} eV, before {limit}")
    if e_end - e0 < MIN_EXTENDED_EV:
        raise InputError(f"only {max(e_end - e0, 0):.0f} eV of usable data past the {name} edge at "
                         f"{e0:.0f} eV; EXAFS needs at least {MIN_EXTENDED_EV:.0f} eV")
    sel = energy <= e_end
    k, chi, mu0_sel, _ = _autobk_larch(energy[sel], mu[sel], group, e0, rbkg, kweight)
    mu0 = np.full(energy.shape, np.nan)
    mu0[sel] = mu0_sel
    k_end = float(np.sqrt(etok * (e_end - e0)))
    return _finish(dict(kind="xas", edge=name, energy=energy, signal=mu, pre_edge=np.asarray(group.pre_edge),
                        pre_edge_window=(float(e0 + group.pre_edge_details.pre1),
                                         float(e0 + group.pre_edge_details.pre2)),
                        mu=mu, mu0=mu0, e0=e0, e0_err=e0_err, t_lambda=None, e_end=e_end,
                        pre_edge_fit=None, partner_edges=[], deconvolved=False, e0_estimates=e0_est,
                        post_edge=np.asarray(group.post_edge, float), edge_step=float(group.edge_step)),
                   k, chi, 2.0, k_end, kweight, warnings, limit)


def _autobk_larch(energy, mu, pre_group, e0, rbkg, kweight):
    """Larch autobk with Larch's own edge step (X-ray): (k, chi, mu0 on energy >= e0, NaN below, step)."""
    from larch import Group
    from larch.xafs import autobk

    group = Group()
    _run_autobk(energy, mu, group, rbkg=rbkg, e0=e0, edge_step=float(pre_group.edge_step),
                kweight=kweight)
    bkg = np.where(energy >= e0, np.asarray(group.bkg, float), np.nan)
    return np.asarray(group.k, float), np.asarray(group.chi, float), bkg, float(pre_group.edge_step)
