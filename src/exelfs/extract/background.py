"""EELS pre-edge background: a data-driven fitting window and exspy's power law.

The power law A * E**-r itself is fitted by HyperSpy/exspy (``remove_background`` with a ``PowerLaw``
component); this module only chooses *where* to fit it (the longest clean stretch of falling intensity
before the onset, clear of a preceding edge and its fine structure) and reports how good the fit is.
Energies in eV throughout. (Placeholder channels are the reader's job: ``exelfs.io.validate``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..errors import InputError
from ..quiet import quiet


@dataclass
class PreEdgeFit:
    """A power-law pre-edge fit: window (eV), exponent r, amplitude A, quality figures and notes."""

    window: tuple[float, float]
    r: float
    A: float
    background: np.ndarray  # on the full energy axis, counts
    rms_rel: float  # rms of (data - fit)/fit in the window (relative units)
    noise_rel: float  # channel-to-channel relative noise in the window
    systematic: float  # rms of the smoothed residual / noise expected after smoothing (~1 = pure noise)
    notes: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"window_ev": [float(self.window[0]), float(self.window[1])], "r": float(self.r),
                "A": float(self.A), "rms_rel": float(self.rms_rel), "noise_rel": float(self.noise_rel),
                "systematic": float(self.systematic)}


def relative_noise(signal: np.ndarray) -> float:
    """Channel-to-channel relative noise (robust: MAD of second differences / sqrt(6))."""
    s = np.asarray(signal, float)
    if s.size < 5:
        return float("nan")
    d2 = (s[2:] - 2 * s[1:-1] + s[:-2]) / np.maximum(np.abs(s[1:-1]), 1e-300)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6.0))


def _smooth(y: np.ndarray, channels: float) -> np.ndarray:
    return gaussian_filter1d(np.asarray(y, float), max(channels, 0.5), mode="nearest")


def log_rises(energy: np.ndarray, signal: np.ndarray, width_ev: float = 4.0):
    """(energies eV, rise of the smoothed log intensity over ``width_ev`` ending there, noise of that rise)."""
    de = float(np.median(np.diff(energy)))
    sig = max(width_ev / de / 2.0, 1.0)
    positive = np.clip(signal, 1e-300, None)
    y = _smooth(np.log(positive), sig)
    step = max(int(round(width_ev / de)), 1)
    if y.size <= step:
        return np.array([]), np.array([]), float("nan")
    noise = relative_noise(signal) / np.sqrt(2 * sig) * np.sqrt(2)
    return energy[step:], y[step:] - y[:-step], noise


def rising_points(energy: np.ndarray, signal: np.ndarray, width_ev: float = 4.0,
                  min_rise: float = 0.0) -> np.ndarray:
    """Energies (eV) where the smoothed intensity rises by more than the noise (and than ``min_rise``, a
    relative rise) over ``width_ev``: a power-law background only falls, so a rise marks an edge (or a
    detector artefact)."""
    e_end, rise, noise = log_rises(energy, signal, width_ev)
    if not rise.size:
        return np.array([])
    thresh = max(5 * noise, 0.004, min_rise)
    return e_end[rise > thresh]


def choose_window(energy: np.ndarray, signal: np.ndarray, onset: float,
                  min_width: float = 20.0) -> tuple[float, float, list[str]]:
    """Pre-edge fitting window (a, b) in eV chosen from the data: ends a few eV before the onset and
    starts after the last rise of intensity (a preceding edge or a detector artefact) plus room for
    that edge's near-edge structure. Returns (a, b, notes)."""
    de = float(np.median(np.diff(energy)))
    notes = []
    width = 4.0
    gap = max(6.0, 3 * de)
    b = onset - gap
    # where the data themselves start to rise (chemical shift, pre-peak, instrumental broadening):
    # the run of rising points that reaches the tabulated onset
    near = energy <= onset + 5.0
    if near.sum() > 5:
        rises = rising_points(energy[near], signal[near], width)
        rises = rises[rises >= onset - 30.0]
        clusters = []
        for e in rises:
            if clusters and e - clusters[-1][-1] <= max(width, 2.5 * de):
                clusters[-1].append(e)
            else:
                clusters.append([e])
        reaching = [c for c in clusters if c[-1] >= onset - 5.0]
        if reaching:
            data_onset = reaching[0][0] - width
            if data_onset - max(2.0, 2 * de) < b:
                b = max(data_onset - max(2.0, 2 * de), onset - 30.0)
                notes.append(f"the data rise from ~{data_onset:.0f} eV, before the tabulated onset "
                             f"({onset:.0f} eV): pre-edge window ends at {b:.0f} eV")
    region = energy <= b
    if region.sum() < 5:
        raise InputError(f"no pre-edge region below the edge at {onset:.0f} eV (data start at "
                         f"{energy[0]:.0f} eV): record the spectrum from at least ~30 eV before the edge")
    e_reg, s_reg = energy[region], signal[region]
    rises = rising_points(e_reg, s_reg)
    a = float(e_reg[0])
    if rises.size:
        last = float(rises.max())
        # fine structure of a preceding edge extends some tens of eV; a detector roll-on much less
        is_edge = last - e_reg[0] > 8 * de and last - e_reg[0] > 15.0
        room = max(0.08 * last, 25.0) if is_edge else max(4 * de, 5.0)
        a = min(last + room, b - min_width)
        a = max(a, float(e_reg[0]))
        if is_edge:
            notes.append(f"pre-edge window starts after an intensity rise at {last:.0f} eV "
                         "(preceding edge or artefact) and its near-edge structure")
    if b - a < min_width:
        notes.append(f"short pre-edge window ({b - a:.0f} eV): background extrapolation is uncertain")
    return a, float(b), notes


def fit_power_law(spectrum_hs, energy: np.ndarray, signal: np.ndarray, window: tuple[float, float]
                  ) -> PreEdgeFit:
    """Fit A*E**-r over ``window`` (eV) with exspy/HyperSpy's ``remove_background`` (least squares,
    ``fast=False``) and evaluate it on the whole axis; quality against the channel-to-channel noise."""
    a, b = window
    inside = int(np.count_nonzero((energy >= a) & (energy <= b)))
    if inside < 5:
        raise InputError(f"the pre-edge window {a:.0f}-{b:.0f} eV holds {inside} channels (need 5 or more): "
                         "record the spectrum with finer channels or from further below the edge")
    with quiet(hyperspy=True):
        try:
            out, model = spectrum_hs.remove_background(
                signal_range=(float(a), float(b)), background_type="Power law", fast=False,
                zero_fill=False, plot_remainder=False, display=False, return_model=True,
                show_progressbar=False)
        except Exception as exc:  # noqa: BLE001 - exspy fails in many ways on pathological data
            raise InputError(f"the power-law pre-edge fit over {a:.0f}-{b:.0f} eV failed ({exc}); "
                             "check that the pre-edge region holds a falling background") from None
    background = np.asarray(spectrum_hs.data, float) - np.asarray(out.data, float)
    comp = model[0]
    A, r = float(comp.A.value), float(comp.r.value)
    win = (energy >= a) & (energy <= b)
    fit = background[win]
    resid = (signal[win] - fit) / np.maximum(np.abs(fit), 1e-300)
    rms_rel = float(np.sqrt(np.mean(resid ** 2)))
    noise = relative_noise(signal[win])
    m = max(3, int(win.sum() // 8))
    smooth = np.convolve(resid, np.ones(m) / m, mode="valid")
    systematic = float(np.sqrt(np.mean(smooth ** 2)) / max(noise / np.sqrt(m), 1e-12))
    return PreEdgeFit(window=(float(a), float(b)), r=r, A=A, background=background, rms_rel=rms_rel,
                      noise_rel=noise, systematic=systematic)


def fit_pre_edge(spectrum_hs, energy: np.ndarray, signal: np.ndarray, onset: float) -> PreEdgeFit:
    """Choose the window from the data, fit the power law, and if the residuals are systematic (a tail
    of a preceding edge, a roll-on) try shorter windows closer to the onset; keep the best. Notes in
    ``.notes`` say what was done and how good the fit is."""
    a, b, notes = choose_window(energy, signal, onset)
    best = fit_power_law(spectrum_hs, energy, signal, (a, b))
    tried = [best]
    de = float(np.median(np.diff(energy)))
    min_width = max(20.0, 10 * de)
    if best.systematic > 3.0:
        for frac in (0.25, 0.5, 0.7):
            a2 = a + frac * (b - a)
            if b - a2 < min_width:
                break
            tried.append(fit_power_law(spectrum_hs, energy, signal, (a2, b)))
        # prefer the longest window whose systematic residual is within 1.5x of the best one
        lowest = min(t.systematic for t in tried)
        best = next(t for t in tried if t.systematic <= 1.5 * lowest + 0.5)
        if best.window[0] != a:
            notes.append(f"pre-edge window shortened to {best.window[0]:.0f}-{best.window[1]:.0f} eV: "
                         "the longer window was not a clean power law")
    best.notes = notes
    if not 1.0 <= best.r <= 7.0:
        best.notes.append(f"unusual power-law exponent r = {best.r:.2f} (expected ~2-6): the pre-edge "
                          "window may hold another edge or artefacts")
    if best.systematic > 4.0:
        best.notes.append(f"pre-edge power-law fit leaves systematic residuals ({best.systematic:.1f}x "
                          "the noise after smoothing): the background under the edge is uncertain")
    return best
