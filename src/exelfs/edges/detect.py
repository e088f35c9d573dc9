"""Automatic detection of core-loss (EELS) and absorption (X-ray) edge onsets.

Method (energies in eV throughout):

* EELS: the background under an edge is close to a power law, i.e. a straight line in log(I) vs log(E).
  At every channel E a straight line is fitted to log(I) over a pre-edge window just below E and
  extrapolated over a post-edge window just above it; the mean excess of log(I) over the
  extrapolation (``delta``, the log of the jump ratio) measures how much signal starts at E. It is
  divided by its uncertainty (the noise of the data, estimated from the channel-to-channel scatter,
  plus the misfit of the pre-edge fit), and the resulting t-values are rescaled by their own robust
  spread over the whole spectrum so that fine structure does not read as significant: ``z``. The noise
  is scaled for the detector's point-spread (channel-to-channel scatter underestimates the noise of
  means over many channels: :func:`correlated_noise_factor`), and where one edge fills most of a short
  spectrum the spread of t is not taken from that edge (:func:`_t_spread`). Edges are local maxima of
  z above a threshold with a minimum relative jump, separated by at least a post-edge window, and
  significant also against the fine structure around them (:func:`_local_spread`, e.g. the EXELFS of a
  stronger edge just below).
* Edges in the tail of another (e.g. Cr L3 43 eV above O K), whose normal pre-edge window straddles that
  edge: a second pass with the pre-edge window starting after the edge below has settled; they must be
  sharp (a step or a white line) and jump by a good part of the edge below (:func:`_edges_in_tails`).
* Edges riding further up the tail of a stronger edge (e.g. O K 76-190 eV above the Ti, Sc or Ca L2,3
  white lines), where the background is that edge's tail with its fine structure and no power law over
  the normal window follows it: a third pass over every channel above a detected edge once its
  near-edge region is over, with a local step fit (a quadratic plus a step, over a short window on each
  side; :func:`step_profile`), significant against the noise and the fine structure around it and at
  least a tenth of what the edges below add there (:func:`_edges_on_tails`).
* Onsets: where the edge signal first stays above 20 % of its first maximum; for delayed edges (slow
  rise, e.g. Ga L3) the knee of a ramp fitted to the lower part of the rise (:func:`_ramp_onset`).
* Spectra that are not positive (background already removed) and X-ray mu(E) are handled the same
  way on a linear intensity scale (a straight pre-edge line in E), ``delta`` then being the excess as
  a fraction of the spectrum's range.

Windows scale with the energy (edges get broader and more delayed at higher energy): pre-edge
``clip(0.08 E, 15, 120)`` eV, post-edge ``clip(0.04 E, 8, 60)`` eV, each at least a few channels.
The zero-loss/low-loss region below 50 eV, the first/last few channels, empty placeholder channels,
channels where the counts run out at the high-energy end, and spliced acquisitions (a jump up by more
than ``SPLICE_RATIO`` within a few channels, unless it stays below ``SPLICE_EDGE_MAX`` with the data
below it a decaying power law: a strong edge) are excluded and reported as warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..spectrum import Spectrum

LOW_LOSS_EV = 50.0  # EELS: nothing below this is a core-loss edge (zero loss, plasmons)
EDGE_CHANNELS = 3  # channels dropped at each end (often placeholders or overflow counters)
SPLICE_RATIO = 8.0  # a rise by this factor within a few channels is an acquisition splice, not an edge...
SPLICE_EDGE_MAX = 40.0  # ...unless it stays below this and the data below decay like a power law (a strong edge)
Z_MIN = 5.0  # detection threshold on the robust significance z
DELTA_MIN_LOG = 0.015  # minimum jump, log(I_post / I_extrapolated) (1.5 %)
MISFIT_WEIGHT = 0.25  # fraction of the pre-edge fit's systematic misfit (variance) counted as extrapolation error
RAMP_LEVEL = 0.2  # a delayed edge's onset ramp is fitted up to this fraction of its maximum
TAIL_JUMP_FRACTION = 0.3  # an edge in the tail of another must jump by at least this fraction of that one's jump
TAIL_STEP_FRACTION = 0.1  # ...one further up its tail, by this fraction of what the edges below add there
DELTA_MIN_LIN = 0.04  # minimum jump as a fraction of the spectrum's range (linear mode)


def pre_window(e):
    """Pre-edge fit window width at energy e, eV."""
    return np.clip(0.08 * np.asarray(e, float), 15.0, 120.0)


def post_window(e):
    """Post-edge (jump measurement) window width at energy e, eV."""
    return np.clip(0.04 * np.asarray(e, float), 8.0, 60.0)


@dataclass
class Prepared:
    """The usable part of a spectrum for edge detection."""

    energy: np.ndarray  # eV
    signal: np.ndarray  # log(I) (mode 'log') or I (mode 'linear')
    raw: np.ndarray  # intensity
    mode: str  # 'log' or 'linear'
    kind: str  # 'eels' or 'xas'
    scale: float  # linear mode: the range that delta is a fraction of
    warnings: list = field(default_factory=list)


@dataclass
class Profile:
    """Edge-likelihood curves on the prepared energy axis."""

    energy: np.ndarray
    delta: np.ndarray  # mean excess over the extrapolated background (log ratio, or fraction of range)
    z: np.ndarray  # robust significance of delta
    slope: np.ndarray  # pre-edge slope (d log I / d log E in log mode)
    misfit: np.ndarray  # pre-edge fit rms / noise (1 for a clean power law)
    noise: np.ndarray  # per-channel noise of the signal
    k_factor: float  # robust spread of the t-values (>= 1): correlated noise/structure inflation


@dataclass
class DetectedEdge:
    """One detected onset with the measurements identification uses."""

    onset_ev: float
    z: float
    delta: float
    shape: str  # 'sharp' (white line / sharp peak), 'abrupt' (step), 'delayed' (maximum well after onset)
    peak_ratio: float  # early maximum of the excess / its later mean (white-line strength)
    rise_ev: float  # energy from onset to the maximum of the smoothed excess, eV
    peak_ev: float  # energy of the maximum of the smoothed excess, eV
    floor_ev: float | None = None  # its pre-edge window was cut to start here (in the tail of an edge below)


def _as_single(spectrum: Spectrum) -> Spectrum:
    if not isinstance(spectrum, Spectrum):
        raise InputError("edge detection needs an energy-loss or absorption spectrum, not chi(k) data")
    return spectrum.summed() if spectrum.nav_shape else spectrum


def prepare(spectrum: Spectrum) -> Prepared:
    """Select the usable channels of a (summed) spectrum and choose log or linear mode."""
    s = _as_single(spectrum)
    energy = np.asarray(s.energy, float)
    inten = np.asarray(s.intensity, float)
    warnings = []
    good = np.isfinite(energy) & np.isfinite(inten)
    energy, inten = energy[good], inten[good]
    if energy.size < 4 * EDGE_CHANNELS + 10:
        raise InputError(f"the spectrum has only {energy.size} usable channels: too few to look for edges")
    order = np.argsort(energy)
    energy, inten = energy[order], inten[order]
    lo, hi = EDGE_CHANNELS, energy.size - EDGE_CHANNELS
    kind = s.kind if s.kind in ("eels", "xas") else "eels"
    if kind == "eels":
        lo = max(lo, int(np.searchsorted(energy, LOW_LOSS_EV)))
        if energy[0] < LOW_LOSS_EV <= energy[-1]:
            warnings.append(f"ignored the low-loss region below {LOW_LOSS_EV:g} eV")
    # Leading/trailing placeholder channels: a run of one repeated value (e.g. 0.1 or -1) or non-positive.
    lo = _skip_placeholders(inten, lo, hi, +1)
    hi = _skip_placeholders(inten, hi - 1, lo, -1) + 1
    if hi - lo < 20:
        raise InputError("the spectrum has too few valid channels (above the low-loss region) to look for edges")
    positive = inten[lo:hi] > 0
    if kind == "eels" and positive.mean() <= 0.995:
        # counts that run out towards the high-energy end (a steep background recorded with few counts):
        # the usable part is where they do not, on the log scale
        end = _counts_run_out(positive)
        if end is not None and end >= 40:
            warnings.append(f"ignored the channels above {energy[lo + end]:.0f} eV: too few counts (empty "
                            "channels) to follow the background there")
            hi = lo + end
            positive = positive[:end]
    mode = "log" if (kind == "eels" and positive.mean() > 0.995) else "linear"
    if kind == "eels" and mode == "log":
        new_lo = _after_splice(energy, inten, lo, hi)
        if new_lo > lo:
            warnings.append(
                f"the intensity jumps by more than x{SPLICE_RATIO:g} at {energy[new_lo]:.0f} eV (a gain change, "
                f"spliced acquisition or the end of empty channels): looked for edges above it only")
            lo = new_lo
    if kind == "eels" and mode == "linear":
        warnings.append("the spectrum is not positive everywhere (background already subtracted?): "
                        "edges searched on a linear intensity scale")
    energy, inten = energy[lo:hi], inten[lo:hi]
    energy, inten = _uniform(energy, inten)
    if mode == "log":
        inten = np.clip(inten, np.min(inten[inten > 0]), None)
        signal = np.log(inten)
        scale = 1.0
    else:
        signal = inten.copy()
        p_lo, p_hi = np.percentile(inten, [2, 98])
        scale = float(p_hi - p_lo) or 1.0
    return Prepared(energy, signal, inten, mode, kind, scale, warnings)


def _counts_run_out(positive) -> int | None:
    """Where a spectrum whose channels are positive in its lower part starts having empty (<= 0)
    channels for good: the first channel of the first 20-channel stretch with more than 10 % of them,
    provided 98 % of the channels below it are positive. None otherwise (e.g. a spectrum with its
    background subtracted, non-positive all over)."""
    n = positive.size
    if n < 40:
        return None
    bad = np.concatenate([[0], np.cumsum(~positive)])
    w = 20
    frac = (bad[w:] - bad[:-w]) / w
    over = np.flatnonzero(frac > 0.1)
    if over.size == 0:
        return None
    end = int(over[0])
    if end < 20 or bad[end] > 0.02 * end:
        return None
    return end


def _uniform(energy, inten):
    """Resample a non-uniform energy grid (X-ray scans: fine steps at the edge, k steps above it) onto a
    uniform one, so that windows and smoothing widths mean the same everywhere."""
    steps = np.diff(energy)
    keep = np.concatenate([[True], steps > 0])
    energy, inten = energy[keep], inten[keep]
    steps = np.diff(energy)
    if steps.size == 0 or steps.max() <= 1.5 * steps.min():
        return energy, inten
    step = max(float(np.percentile(steps, 25)), (energy[-1] - energy[0]) / 20000.0)
    grid = np.arange(energy[0], energy[-1] + 0.5 * step, step)
    grid = grid[grid <= energy[-1]]
    return grid, np.interp(grid, energy, inten)


def _skip_placeholders(inten, start, stop, step):
    """Index of the first channel, walking from start by step, that is not a placeholder.

    Placeholders: a run of >= 3 channels holding one repeated value (e.g. 0.1 or -1), and non-positive
    channels in an otherwise positive spectrum."""
    i = start
    limit = inten.size // 4
    positive = _mostly_positive(inten)
    for _ in range(limit):
        if (i - stop) * step >= 0:
            break
        run = 1
        while 0 <= i + run * step < inten.size and inten[i + run * step] == inten[i] and run <= limit:
            run += 1
        if run >= 3:
            i += run * step
        elif positive and inten[i] <= 0:
            i += step
        else:
            break
    return i


def _mostly_positive(inten):
    return np.mean(inten > 0) > 0.9


def _after_splice(energy, inten, lo, hi):
    """First channel after the last big rise (x SPLICE_RATIO in a few channels) in the low part of the data.

    Core-loss edges rarely more than double the intensity in a few channels; a much bigger rise means
    the channels below belong to something else (empty channels, another gain, the low-loss)."""
    y = np.log(np.clip(inten[lo:hi], 1e-30, None))
    m = min(8, max(2, int(round(10.0 / max(np.median(np.diff(energy)), 1e-6)))))
    if y.size <= 2 * m:
        return lo
    rise = y[m:] - y[:-m]
    big = np.flatnonzero(rise > np.log(SPLICE_RATIO))
    # only in the first half: a splice late in the spectrum would leave nothing useful anyway
    big = big[big < y.size // 2]
    # a strong edge (jump ratio up to ~SPLICE_EDGE_MAX, e.g. the O K or C K of a thin film) on a
    # decaying power-law background is not a splice
    if big.size:
        runs = np.split(big, np.flatnonzero(np.diff(big) > 1) + 1)  # each rise: judged from where it starts
        big = np.concatenate([r for r in runs if not _edge_like_rise(energy[lo:hi], y, int(r[0]), m)]
                             or [np.array([], int)])
    if big.size == 0:
        return lo
    j = big[-1] + m
    # continue to the top of the rise
    top = j + int(np.argmax(y[j:j + 2 * m + 1]))
    return lo + top + 1


def _edge_like_rise(energy, y, i, m) -> bool:
    """Whether a rise of log intensity y starting at channel i (over m channels) could be a core-loss
    edge: at most x SPLICE_EDGE_MAX above y[i] over the next 3 m channels, with a decaying power-law
    background (log-log slope below -0.5, a straight line within the noise) over the 10+ channels below
    it."""
    if np.max(y[i:i + 3 * m + 1]) - y[i] > np.log(SPLICE_EDGE_MAX) or i < 10:
        return False
    sel = slice(max(0, i - max(20, 2 * m)), i + 1)
    x, v = np.log(energy[sel]), y[sel]
    coef = np.polyfit(x, v, 1)
    resid = v - np.polyval(coef, x)
    noise = float(np.median(np.abs(np.diff(v)))) + 1e-12
    return coef[0] < -0.5 and float(np.std(resid)) < 3.0 * noise + 0.02


def _window_bounds(energy, left_e, right_e):
    """Index bounds [a, b) of channels with left_e <= E < right_e, vectorised."""
    return np.searchsorted(energy, left_e, "left"), np.searchsorted(energy, right_e, "left")


def _running_median(a, width):
    from scipy.ndimage import median_filter
    width = max(3, int(width) | 1)
    return median_filter(a, size=width, mode="nearest")


def noise_of(signal):
    """Per-channel noise of a signal from its channel-to-channel scatter (robust, running)."""
    r = np.zeros_like(signal)
    r[1:-1] = signal[1:-1] - 0.5 * (signal[:-2] + signal[2:])
    r[0], r[-1] = r[1], r[-2]
    sig = 1.4826 * _running_median(np.abs(r), min(101, max(15, signal.size // 20))) / np.sqrt(1.5)
    floor = 1e-4 * (np.ptp(signal) or 1.0)
    return np.maximum(sig, floor)


def edge_profile(prep: Prepared, floor=None, k_factor: float | None = None) -> Profile:
    """Jump (delta) and robust significance (z) of an edge starting at each channel.

    ``floor`` (eV, per channel, optional): the pre-edge window never starts below it (so that the
    background under an edge in the tail of another is fitted on that tail only); ``k_factor``: use this
    spread of the t-values instead of estimating it."""
    e = prep.energy
    x = np.log(e) if prep.mode == "log" else (e - e.mean()) / (np.ptp(e) or 1.0)
    y = prep.signal
    x0, y0 = x.mean(), y.mean()
    xc, yc = x - x0, y - y0
    cum = [np.concatenate([[0.0], np.cumsum(v)]) for v in (np.ones_like(xc), xc, yc, xc * xc, xc * yc, yc * yc)]
    # channel-to-channel scatter underestimates the noise of means over many channels where the detector
    # spreads counts over neighbouring channels: scale it by the inflation measured at ~2 eV blocks
    # (EELS counts only: X-ray mu(E) is smooth, often interpolated, and has no such detector)
    k_noise = max(correlated_noise_factor(y, float(np.median(np.diff(e)))), 1.0)
    noise = noise_of(y) * (k_noise if prep.kind == "eels" else 1.0)
    cnoise2 = np.concatenate([[0.0], np.cumsum(noise ** 2)])
    de = np.median(np.diff(e))
    gap = np.maximum(de, 0.5)
    wpre = np.maximum(pre_window(e), 8 * de)
    wpost = np.maximum(post_window(e), 5 * de)
    left = e - gap - wpre
    min_pre = 0.4 * wpre
    if floor is not None:
        floor = np.asarray(floor, float)
        cut = floor > left
        left = np.where(cut, floor, left)
        # a shortened window: enough for a local power law, not less than a few eV
        min_pre = np.where(cut, np.maximum(np.minimum(min_pre, 8.0), 6 * de), min_pre)
    a, b = _window_bounds(e, left, e - gap)
    c, d = _window_bounds(e, e, e + wpost)

    def sums(lo, hi):
        return [cs[hi] - cs[lo] for cs in cum]

    n, sx, sy, sxx, sxy, syy = sums(a, b)
    m, px, py, _, _, _ = sums(c, d)
    valid = (n >= 5) & (m >= 3) & ((b - a) * de >= min_pre) & ((d - c) * de >= 0.6 * wpost)
    n_ = np.where(valid, n, 10.0)
    m_ = np.where(valid, m, 10.0)
    sxx_c = sxx - sx * sx / n_
    sxx_c = np.where(sxx_c > 1e-30, sxx_c, 1e-30)
    slope = (sxy - sx * sy / n_) / sxx_c
    intercept = (sy - slope * sx) / n_
    rss = np.maximum(syy - sy * sy / n_ - slope * (sxy - sx * sy / n_), 0.0)
    s_fit2 = rss / np.maximum(n_ - 2, 1)
    xbar_post = px / m_
    pred = intercept + slope * xbar_post
    excess = py / m_ - pred
    noise_pre2 = (cnoise2[b] - cnoise2[a]) / n_
    noise_post2 = (cnoise2[d] - cnoise2[c]) / m_
    # statistical error of the extrapolated background, plus the systematic misfit of the pre-edge fit
    # (structure that is not a power law, e.g. the tail of an edge just below, does not average out)
    systematic2 = np.maximum(s_fit2 - noise_pre2, 0.0)
    var = (np.maximum(s_fit2, noise_pre2) * (1.0 / n_ + (xbar_post - sx / n_) ** 2 / sxx_c)
           + MISFIT_WEIGHT * systematic2 + noise_post2 / m_)
    t = np.where(valid, excess / np.sqrt(var), 0.0)
    delta = np.where(valid, excess / prep.scale, 0.0)
    k = (_t_spread(e, t, valid, wpre, wpost, 1.0 if prep.kind == "eels" else k_noise)
         if k_factor is None else float(k_factor))
    if prep.mode == "log":
        slope_out = slope
    else:
        slope_out = slope / (np.ptp(e) or 1.0)
    misfit = np.sqrt(s_fit2 / np.maximum(noise_pre2, 1e-300))
    return Profile(e, delta, t / k, np.where(valid, slope_out, np.nan), np.where(valid, misfit, np.nan),
                   noise, k)


def _t_spread(e, t, valid, wpre, wpost, k_edge_dominated: float) -> float:
    """Spread of the t-values of noise and fine structure alone (>= 1): correlated noise and fine
    structure inflate it above 1.

    The robust spread (MAD) of t over the spectrum, leaving out the channels whose windows straddle the
    strongest edge (in a short spectrum it can fill half of them and its t-values are no measure of the
    noise). Where it fills most of the spectrum (fine channels, e.g. 2048 x 0.1 eV, its pre- and
    post-edge windows covering more than 3/4 of the channels) ``k_edge_dominated`` stands in: 1 for EELS,
    whose noise is already scaled for the detector's correlation (:func:`correlated_noise_factor`), that
    correlation factor for X-ray data."""
    n_valid = int(valid.sum())
    if n_valid <= 20:
        return 1.0
    tv = t[valid]
    i = int(np.flatnonzero(valid)[np.argmax(tv)])
    zone = (e >= e[i] - 1.2 * wpost[i]) & (e <= e[i] + 1.2 * wpre[i] + wpost[i])
    rest = valid & ~zone
    if t[i] >= Z_MIN * k_edge_dominated:
        if np.count_nonzero(rest) < max(30, 0.25 * n_valid):
            return k_edge_dominated
        tv = t[rest]
    return max(1.4826 * float(np.median(np.abs(tv - np.median(tv)))), 1.0)


def correlated_noise_factor(signal, channel: float) -> float:
    """How much the noise of means over a few eV exceeds white noise of the channel-to-channel scatter.

    Robust spread of second differences of block means (blocks of m channels, ~2 eV) against the
    white-noise expectation from single channels; 1 for independent channels, >1 with a detector
    point-spread. Robust (medians), so edges and fine structure barely count."""
    y = np.asarray(signal, float)
    m = int(np.clip(round(2.0 / max(channel, 1e-6)), 2, 16))
    d1 = y[2:] - 2 * y[1:-1] + y[:-2]
    s1 = 1.4826 * float(np.median(np.abs(d1))) / np.sqrt(6.0)
    n = y.size - 3 * m + 1
    if n < 20 or s1 <= 0:
        return 1.0
    c = np.concatenate([[0.0], np.cumsum(y)])
    i = np.arange(n)
    dm = (c[i + m] - c[i] - 2 * (c[i + 2 * m] - c[i + m]) + c[i + 3 * m] - c[i + 2 * m]) / m
    sm = 1.4826 * float(np.median(np.abs(dm))) / np.sqrt(6.0 / m)
    return float(sm / s1)


def _excess_curve(prep: Prepared, e_at: float, linear: bool = False, floor: float | None = None):
    """Data minus the background extrapolated from the pre-edge window below e_at, on the prepared axis.

    Log mode: log(I / background) by default; with ``linear``, (I - background) / background(e_at), the
    edge signal relative to the background at the edge (its shape is not distorted by the background's
    decay, which makes every edge look delayed on a log scale). Linear mode: (I - background) / range."""
    e = prep.energy
    gap = max(np.median(np.diff(e)), 0.5)
    wpre = max(float(pre_window(e_at)), 8 * np.median(np.diff(e)))
    sel = (e >= max(e_at - gap - wpre, floor if floor is not None else -np.inf)) & (e < e_at - gap)
    if sel.sum() < 5:
        return None
    x = np.log(e) if prep.mode == "log" else e
    coef = np.polyfit(x[sel], prep.signal[sel], 1)
    if prep.mode == "log" and linear:
        bg = np.exp(np.polyval(coef, x))
        return (np.exp(prep.signal) - bg) / float(np.exp(np.polyval(coef, np.log(e_at))))
    return (prep.signal - np.polyval(coef, x)) / prep.scale


def _smooth(y, width_ch):
    from scipy.ndimage import gaussian_filter1d
    return gaussian_filter1d(y, max(width_ch, 0.5), mode="nearest")


def characterise(prep: Prepared, e_det: float, z: float, delta: float, floor: float | None = None) -> DetectedEdge:
    """Refine the onset of an edge detected near e_det and classify its shape.

    Shapes, from the edge signal (data minus extrapolated background, on a linear scale):
    'sharp': a white line, the first maximum at least 3x the level 0.5-1 span later;
    'peaked': a near-edge peak 1.4-3x that level (e.g. pi* or pre-peaks of K edges);
    'delayed': the maximum comes late and the signal just after the onset is well below it;
    'abrupt': a step (sawtooth) without a strong peak."""
    e = prep.energy
    de = float(np.median(np.diff(e)))
    pw = float(post_window(e_det))
    fallback = DetectedEdge(float(e_det), float(z), float(delta), "abrupt", 1.0, 0.0, float(e_det), floor)
    e_fit = e_det - 0.5 * pw
    if floor is not None:
        e_fit = max(e_fit, min(e_det, floor + 6 * de + max(de, 0.5)))
    r = _excess_curve(prep, e_fit, linear=True, floor=floor)
    if r is None:
        return fallback
    span = max(3.0 * pw, 30.0)
    rs = _smooth(r, 1.0 / de)  # ~1 eV smoothing for the onset
    win = (e >= e_fit) & (e <= e_det + span)
    idx = np.flatnonzero(win)
    if idx.size < 5:
        return fallback
    # the first maximum: the top of the first feature after the detected position
    near = idx[e[idx] <= e_det + max(pw, 4 * de)]
    i_peak = near[np.argmax(rs[near])] if near.size else idx[0]
    top = rs[i_peak]
    # onset: the earliest channel before the first maximum from which the excess stays clearly up
    # (above 20 % of that maximum and the noise, never falling back to the background on the way)
    pre = (e >= max(e_det - float(pre_window(e_det)), floor or -np.inf)) & (e < e_fit)
    noise = 1.4826 * float(np.median(np.abs(rs[pre] - np.median(rs[pre])))) if pre.sum() > 5 else 0.0
    hi_thr, lo_thr = max(0.2 * top, 4 * noise), max(0.05 * top, 2 * noise)
    i = i_peak
    for k in idx[idx <= i_peak]:
        if rs[k] > hi_thr and np.min(rs[k:i_peak + 1]) > lo_thr:
            i = k
            break
    while i > idx[0] and rs[i] > hi_thr:
        i -= 1
    onset = e[i] if (i == idx[0] or i + 1 >= e.size or rs[i + 1] <= rs[i]) else float(
        np.interp(hi_thr, [rs[i], rs[i + 1]], [e[i], e[i + 1]]))
    if prep.kind == "xas":
        # X-ray convention: E0 at the steepest rise of mu(E) near the detected position
        seg = np.flatnonzero((e >= min(onset, e_det) - pw) & (e <= e_det + pw))
        if seg.size >= 3:
            slope = np.gradient(_smooth(prep.signal, 0.5 / de)[seg], e[seg])
            onset = float(e[seg[np.argmax(slope)]])
    # shape: the early maximum against the later level
    after = (e >= onset) & (e <= onset + span)
    if after.sum() < 5:
        return DetectedEdge(float(onset), float(z), float(delta), "abrupt", 1.0, 0.0, float(e[i_peak]), floor)
    ea, ra = e[after], rs[after]
    rb = _smooth(r, 3.0 / de)[after]
    late = rb[(ea >= onset + 0.5 * span)]
    late_level = float(np.mean(late)) if late.size else float(rb[-1])
    early_w = max(12.0, 0.02 * onset)
    early = ra[ea <= onset + early_w]
    early_max = float(np.max(early)) if early.size else float(ra[0])
    i_max = int(np.argmax(rb))
    peak_ev = float(ea[i_max])
    rise = peak_ev - onset
    peak_ratio = early_max / late_level if late_level > 0 else 10.0
    just_after = rb[ea <= onset + max(5.0, 3 * de)]
    if peak_ratio >= 3.0:
        shape = "sharp"
    elif peak_ratio >= 1.4:
        shape = "peaked"
    elif rise > max(0.3 * span, 15.0) and just_after.size and np.max(just_after) < 0.6 * rb[i_max]:
        shape = "delayed"
    else:
        shape = "abrupt"
    if shape == "delayed" and prep.kind == "eels":
        # a slow rise crosses any threshold late: the onset is where a ramp fitted to the lower half of
        # the rise meets the background
        ramp = _ramp_onset(e, r, e_fit, onset, float(rb[i_max]), de)
        if ramp is not None and onset - pw <= ramp < onset:
            rise += onset - ramp
            onset = ramp
    return DetectedEdge(float(onset), float(z), float(delta), shape, float(min(peak_ratio, 10.0)),
                        float(rise), peak_ev, floor)


def _ramp_onset(e, r, e_lo: float, onset: float, top: float, de: float) -> float | None:
    """Onset (eV) of a slowly rising edge signal r: the knee E0 of a hinge c + a max(0, E - E0)
    fitted (least squares, E0 on the channel grid) from e_lo to where r first reaches RAMP_LEVEL of its
    maximum ``top`` after ``onset``; None when the rise is too short to fit."""
    rs = _smooth(r, 1.0 / de)
    after = np.flatnonzero((e >= onset) & (rs >= RAMP_LEVEL * top))
    if after.size == 0:
        return None
    e_hi = float(e[after[0]])
    sel = np.flatnonzero((e >= e_lo) & (e <= e_hi))
    if sel.size < 8 or e_hi - onset < 2 * de:
        return None
    x, y = e[sel], r[sel]
    best, e0_best = np.inf, None
    for e0 in x[2:-2]:
        h = np.maximum(x - e0, 0.0)
        a = np.vstack([np.ones_like(x), h]).T
        coef, res, *_ = np.linalg.lstsq(a, y, rcond=None)
        rss = float(np.sum((a @ coef - y) ** 2))
        if coef[1] > 0 and rss < best:
            best, e0_best = rss, float(e0)
    return e0_best


def _zone(e, e_edge):
    """Channels whose pre- or post-edge window contains an edge at e_edge (eV): a boolean mask."""
    wpre, wpost = float(pre_window(e_edge)), float(post_window(e_edge))
    return (e >= e_edge - 1.2 * wpost) & (e <= e_edge + 1.2 * wpre + wpost)


def _local_spread(prof: Profile, i: int, stronger: list[int]) -> float:
    """Robust spread of z near channel i (within two window lengths), in units of the global spread,
    leaving out the windows of the edge at i itself and of the stronger edges already taken.

    Above 1 where fine structure (e.g. the EXELFS of a strong edge just below) makes wiggles of the
    size of the candidate common there; 1 where too few channels are left to tell."""
    e = prof.energy
    reach = 2.0 * float(pre_window(e[i]) + post_window(e[i]))
    sel = (np.abs(e - e[i]) <= reach) & np.isfinite(prof.slope) & ~_zone(e, e[i])
    for j in stronger:
        sel &= ~_zone(e, e[j])
    zs = prof.z[sel]
    if zs.size < 20:
        return 1.0
    return 1.4826 * float(np.median(np.abs(zs - np.median(zs))))


def find_edges(spectrum: Spectrum, z_min: float = Z_MIN, prepared: Prepared | None = None,
               profile: Profile | None = None) -> list[DetectedEdge]:
    """Detected edges with their onsets (eV), significance, jump and shape, in rising energy."""
    prep = prepared or prepare(spectrum)
    prof = profile or edge_profile(prep)
    e, z, delta = prof.energy, prof.z, prof.delta
    dmin = DELTA_MIN_LOG if prep.mode == "log" else DELTA_MIN_LIN
    ok = (z >= z_min) & (delta >= dmin)
    # a background must decrease (EELS, log mode): a pre-edge window that rises is inside a previous edge
    if prep.mode == "log" and prep.kind == "eels":
        ok &= ~(prof.slope > 0.5)
    cand = np.flatnonzero(ok)
    order = cand[np.argsort(-z[cand])]
    taken: list[int] = []
    for i in order:
        sep = max(float(post_window(e[i])), 3 * np.median(np.diff(e)))
        if any(abs(e[i] - e[j]) < sep for j in taken):
            continue
        # against the fine structure around it (e.g. the EXELFS of a stronger edge below), not only
        # against the spectrum-wide spread
        if z[i] / max(_local_spread(prof, i, taken), 1.0) < z_min:
            continue
        taken.append(i)
    edges = _merge([characterise(prep, e[i], z[i], delta[i]) for i in sorted(taken)])
    if prep.mode == "log" and prep.kind == "eels" and edges:
        edges = _merge(edges + _edges_in_tails(prep, prof, edges, z_min, dmin))
        edges = _merge(edges + _edges_on_tails(prep, prof, edges, z_min, dmin))
    return edges


def _merge(edges: list[DetectedEdge]) -> list[DetectedEdge]:
    """Edges in rising onset, detections whose refined onsets collapsed onto each other merged."""
    merged: list[DetectedEdge] = []
    for edge in sorted(edges, key=lambda d: d.onset_ev):
        if merged and edge.onset_ev - merged[-1].onset_ev < 0.5 * float(post_window(edge.onset_ev)):
            if edge.z > merged[-1].z:
                merged[-1] = edge
            continue
        merged.append(edge)
    return merged


def settle_ev(edge: DetectedEdge) -> float:
    """Energy (eV) from an edge's onset after which the data are its slowly varying tail (the white
    lines or near-edge peaks are over): where an edge above it may fit its background from."""
    pw = float(post_window(edge.onset_ev))
    return float(np.clip(edge.rise_ev + 3.0, pw, 1.5 * pw))


def _edges_in_tails(prep: Prepared, prof: Profile, edges: list[DetectedEdge], z_min: float,
                    dmin: float) -> list[DetectedEdge]:
    """Edges hidden in the tail of a stronger edge just below (e.g. Cr L3 43 eV above O K): their
    normal pre-edge window straddles that edge. Second pass with the pre-edge window cut to start
    after the edge below has settled (:func:`settle_ev`), the same spread of t as the first pass."""
    e = prof.energy
    floor = np.full(e.size, -np.inf)
    jump_below = np.zeros(e.size)  # jump (delta) of the edge whose tail each channel is in
    for d in edges:
        f = d.onset_ev + settle_ev(d)
        later = (e > f) & (f > floor)
        floor = np.where(later, f, floor)
        jump_below = np.where(later, d.delta, jump_below)
    cut = floor > e - np.maximum(pre_window(e), 0.0) - max(float(np.median(np.diff(e))), 0.5)
    if not cut.any():
        return []
    prof2 = edge_profile(prep, floor=np.where(cut, floor, -np.inf), k_factor=prof.k_factor)
    z2, delta2 = prof2.z, prof2.delta
    # fine structure (EXELFS) of the edge below reaches ~10-20 % of its jump: an edge in its tail must
    # jump by a good part of it (and, with its short window, be sharp: see below) to be told apart
    # (a rising pre-edge window is allowed here: it is the slow rise of the edge below, and a straight
    # line extrapolates a concave rise too high, not too low)
    ok = cut & (z2 >= z_min) & (delta2 >= np.maximum(dmin, TAIL_JUMP_FRACTION * jump_below))
    cand = np.flatnonzero(ok)
    known = [int(np.argmin(np.abs(e - d.onset_ev))) for d in edges]
    taken: list[int] = []
    for i in cand[np.argsort(-z2[cand])]:
        sep = max(float(post_window(e[i])), 3 * np.median(np.diff(e)))
        if any(abs(e[i] - e[j]) < sep for j in taken + known):
            continue
        if z2[i] / max(_local_spread(prof2, i, taken + known), 1.0) < z_min:
            continue
        taken.append(i)
    found = [characterise(prep, e[i], z2[i], delta2[i], floor=float(floor[i])) for i in sorted(taken)]
    # a slow rise on a short background window in the tail of another edge cannot be told from that
    # edge's own fine structure (or the extrapolation error of the short window): only sharp onsets
    # (steps, white lines, near-edge peaks) count there
    return [d for d in found if _sharp_onset(prep, d)]


def tail_window(e):
    """Width (eV) of each side of the local step fit for an edge on the tail of another, at energy e:
    short against the period of the fine structure of the edge below (a half period is 20-30 eV)."""
    return np.clip(0.03 * np.asarray(e, float), 8.0, 30.0)


def step_profile(prep: Prepared, left) -> Profile:
    """Significance of a step at each channel E from a local least-squares fit of the signal over
    [left, E - gap) and [E, E + tail_window(E)): a quadratic in E (the tail of an edge below with its
    slow fine structure, plus the background, whatever their shapes) and a step at E.

    ``left`` (eV, per channel; -inf: no fit there) is where the data may start (after the near-edge
    region of the edge below); a full window of data above it is required. ``delta``: the step (log
    ratio in log mode); ``z``: its t-value against the noise (or the fit's misfit, if larger), divided by
    the robust spread of those t-values (:func:`_step_spread`)."""
    e, y = prep.energy, prep.signal
    de = float(np.median(np.diff(e)))
    gap = max(de, 0.5)
    k_noise = max(correlated_noise_factor(y, de), 1.0) if prep.kind == "eels" else 1.0
    noise = noise_of(y) * k_noise
    width = np.maximum(tail_window(e), 5 * de)
    left = np.asarray(left, float)
    rows = np.flatnonzero(np.isfinite(left))
    left = np.maximum(left, e - gap - width)
    delta, t = np.zeros(e.size), np.zeros(e.size)
    misfit, valid = np.full(e.size, np.nan), np.zeros(e.size, bool)
    if rows.size:
        off = np.arange(-int(np.ceil(np.max(width[rows] + gap) / de)) - 1, int(np.ceil(np.max(width) / de)) + 1)
        for chunk in np.array_split(rows, rows.size * off.size // 400_000 + 1):  # bounded memory
            j = chunk[:, None] + off[None, :]
            idx = np.clip(j, 0, e.size - 1)
            ee, e0 = e[idx], e[chunk][:, None]
            inside = (j >= 0) & (j < e.size)
            pre = inside & (ee >= left[chunk][:, None]) & (ee < e0 - gap)
            post = inside & (ee >= e0) & (ee < e0 + width[chunk][:, None])
            w, po = (pre | post).astype(float), post.astype(float)
            u = (ee - e0) / width[chunk][:, None]
            yy = (y[idx] - y[chunk][:, None]) * w  # about the value at E (numerically safe sums)
            uk = [w, w * u]
            uk += [uk[1] * u, uk[1] * u * u, uk[1] * u * u * u]
            s_ = [v.sum(1) for v in uk]  # sums of u^0..u^4 over the fitted channels
            p_ = [po.sum(1), (po * u).sum(1), (po * u * u).sum(1)]  # ... over the post-step channels
            a = np.stack([np.stack([s_[0], s_[1], s_[2], p_[0]], -1), np.stack([s_[1], s_[2], s_[3], p_[1]], -1),
                          np.stack([s_[2], s_[3], s_[4], p_[2]], -1), np.stack([p_[0], p_[1], p_[2], p_[0]], -1)], 1)
            b = np.stack([yy.sum(1), (yy * u).sum(1), (yy * u * u).sum(1), (yy * po).sum(1)], -1)
            n_pre = pre.sum(1)
            ok = (n_pre >= 5) & (post.sum(1) >= 3) & (n_pre * de >= 0.9 * width[chunk])
            a[~ok] = np.eye(4)
            inv = np.linalg.inv(a)
            coef = np.einsum("nij,nj->ni", inv, b)
            rss = np.maximum((yy * yy).sum(1) - np.einsum("ni,ni->n", coef, b), 0.0)
            npts = np.maximum(w.sum(1), 5)
            s2 = rss / (npts - 4)
            n2 = ((noise[idx] ** 2) * w).sum(1) / npts
            delta[chunk] = np.where(ok, coef[:, 3], 0.0)
            t[chunk] = np.where(ok, coef[:, 3] / np.sqrt(np.maximum(s2, n2) * inv[:, 3, 3]), 0.0)
            misfit[chunk] = np.where(ok, np.sqrt(s2 / np.maximum(n2, 1e-300)), np.nan)
            valid[chunk] = ok
    k_factor = _step_spread(e, t, valid)
    return Profile(e, delta / prep.scale, t / k_factor, np.where(valid, 0.0, np.nan), misfit, noise, k_factor)


def _step_spread(e, t, valid) -> float:
    """Robust spread (>= 1) of the step t-values, leaving out the windows around the largest (an edge
    there would fill a good part of a short tail); 1 where too few channels are fitted to tell."""
    if valid.sum() <= 20:
        return 1.0
    i = int(np.argmax(np.where(valid, t, -np.inf)))
    rest = valid & ~_zone(e, e[i])
    tv = t[rest] if rest.sum() > 20 else t[valid]
    return max(1.4826 * float(np.median(np.abs(tv - np.median(tv)))), 1.0)


def _edges_on_tails(prep: Prepared, prof: Profile, edges: list[DetectedEdge], z_min: float,
                    dmin: float) -> list[DetectedEdge]:
    """Edges riding on the tail of a stronger edge further below (e.g. O K 76-190 eV above the Ti, Sc or
    Ca L2,3 white lines): there the background is that edge's tail with its fine structure (and the
    plural scattering of its white lines), which a power law fitted over the normal pre-edge window does
    not follow. A pass over every channel above a detected edge once its near-edge region is over (a
    pre-edge window length, or :func:`settle_ev` if longer), with a local step fit
    (:func:`step_profile`). The step must be significant against the noise and the fine structure
    around it (:func:`_local_spread`), and at least TAIL_STEP_FRACTION of what the edges below add to the
    intensity there (their fine structure scales with it). Its onset is where the step fits best."""
    e = prof.energy
    floor = np.full(e.size, -np.inf)  # -inf: below the first edge or inside a near-edge region
    for d in sorted(edges, key=lambda d: d.onset_ev):
        f = d.onset_ev + max(settle_ev(d), float(pre_window(d.onset_ev)))
        floor = np.where(e > d.onset_ev, np.where(e > f, f, -np.inf), floor)
    if not np.isfinite(floor).any():
        return []
    prof2 = step_profile(prep, floor)
    below = _tail_level(prep, edges, floor)
    ok = (prof2.z >= z_min) & (prof2.delta >= np.maximum(dmin, TAIL_STEP_FRACTION * below))
    cand = np.flatnonzero(ok)
    known = [int(np.argmin(np.abs(e - d.onset_ev))) for d in edges]
    taken: list[int] = []
    for i in cand[np.argsort(-prof2.z[cand])]:
        sep = max(float(post_window(e[i])), 3 * np.median(np.diff(e)))
        if any(abs(e[i] - e[j]) < sep for j in taken + known):
            continue
        if prof2.z[i] / max(_local_spread(prof2, i, taken + known), 1.0) < z_min:
            continue
        taken.append(i)
    left = np.maximum(floor, e - max(float(np.median(np.diff(e))), 0.5) - tail_window(e))
    found = []
    for i in sorted(taken):
        d = characterise(prep, e[i], prof2.z[i], prof2.delta[i], floor=float(left[i]))
        d.onset_ev = float(e[i])  # the shape is measured on a short background; the step fit places the onset
        found.append(d)
    return found


def _tail_level(prep: Prepared, edges: list[DetectedEdge], floor) -> np.ndarray:
    """What the detected edges below add to the intensity just below each channel above ``floor``:
    the log excess of the data over the background extrapolated from below the highest of them, smoothed
    over ~10 eV and read half a step-fit window lower (0 where no edge is below)."""
    e = prep.energy
    de = float(np.median(np.diff(e)))
    level = np.zeros(e.size)
    for d in sorted(edges, key=lambda d: d.onset_ev):
        r = _excess_curve(prep, d.onset_ev - 0.5 * float(post_window(d.onset_ev)))
        if r is not None:
            level = np.where(e > d.onset_ev, np.maximum(_smooth(r * prep.scale, 10.0 / de), 0.0), level)
    read_at = np.interp(e - 0.5 * tail_window(e), e, level)
    return np.where(np.isfinite(floor), read_at, 0.0)


def _sharp_onset(prep: Prepared, edge: DetectedEdge) -> bool:
    """Whether the edge signal is up within the first 30 % of the post-edge window: its mean there at
    least half its mean over the last 30 % (a step or a white line; not a slow rise)."""
    e = prep.energy
    pw = float(post_window(edge.onset_ev))
    de = float(np.median(np.diff(e)))
    e_fit = edge.onset_ev - 0.5 * pw
    if edge.floor_ev is not None:
        e_fit = max(e_fit, min(edge.onset_ev, edge.floor_ev + 6 * de + max(de, 0.5)))
    r = _excess_curve(prep, e_fit, linear=True, floor=edge.floor_ev)
    if r is None:
        return False
    early = r[(e >= edge.onset_ev) & (e <= edge.onset_ev + 0.3 * pw)]
    late = r[(e >= edge.onset_ev + 0.7 * pw) & (e <= edge.onset_ev + pw)]
    if early.size == 0 or late.size == 0:
        return False
    return float(np.mean(early)) >= 0.5 * max(float(np.mean(late)), 0.0) and float(np.mean(early)) > 0


def detect_edges(spectrum: Spectrum) -> list[float]:
    """Edge onsets found in a spectrum (or the sum of a spectrum image), eV, rising."""
    return [edge.onset_ev for edge in find_edges(spectrum)]
