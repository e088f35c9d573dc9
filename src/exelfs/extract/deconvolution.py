"""Plural-scattering removal (Fourier-ratio deconvolution) and relative thickness t/lambda, by exspy.

exspy's ``EELSSpectrum.fourier_ratio_deconvolution`` and ``estimate_thickness`` do the work. This module
prepares the low-loss spectrum so that they are valid: summed, zero-loss peak moved to 0 eV, resampled
onto the core-loss channel width (exspy does not check that the two axes agree), and cut before the
core edge and before the low-loss tail sinks into noise. Energies in eV.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..quiet import quiet
from ..spectrum import Spectrum


@dataclass
class LowLoss:
    """A prepared low-loss spectrum: energy (eV, ZLP at 0) and intensity on the core-loss channel width."""

    energy: np.ndarray
    intensity: np.ndarray
    zlp_shift: float  # eV the ZLP was moved by
    t_lambda: float
    threshold: float  # eV: end of the zero-loss peak (elastic intensity by truncation)
    notes: list = field(default_factory=list)

    def to_hyperspy(self):
        return Spectrum(self.energy, self.intensity, kind="eels").to_hyperspy()


def prepare_lowloss(lowloss: Spectrum, channel_width: float, edge_onset: float) -> LowLoss:
    """Sum, align the ZLP to 0 eV, resample to ``channel_width`` (eV) and cut the low-loss before the
    core edge and before its tail sinks into noise; estimate t/lambda by the log-ratio method."""
    if lowloss.kind != "eels":
        raise InputError("the low-loss spectrum must be an EELS spectrum, not X-ray absorption")
    ll = lowloss.summed()
    energy, intensity = np.asarray(ll.energy, float), np.asarray(ll.intensity, float)
    notes = []
    good = np.isfinite(intensity)
    energy, intensity = energy[good], intensity[good]
    if energy.size < 20 or energy[0] > 5.0 or energy[-1] < 20.0:
        raise InputError("the low-loss spectrum must contain the zero-loss peak at 0 eV and run to at "
                         f"least 20 eV (it spans {energy[0]:.0f}-{energy[-1]:.0f} eV)")
    izlp = int(np.argmax(intensity))
    zlp_pos = float(energy[izlp])
    if abs(zlp_pos) > 10.0:
        raise InputError(f"the low-loss maximum is at {zlp_pos:.1f} eV, not near 0 eV: give a low-loss "
                         "spectrum with a calibrated zero-loss peak")
    # sub-channel ZLP centre: centroid of the top of the peak
    top = slice(max(izlp - 2, 0), izlp + 3)
    w = np.clip(intensity[top], 0, None)
    centre = float(np.sum(energy[top] * w) / np.sum(w)) if w.sum() > 0 else zlp_pos
    energy = energy - centre
    if abs(centre) > 0.05 * channel_width:
        notes.append(f"low-loss zero-loss peak moved by {-centre:.2f} eV to 0 eV")

    # noise floor from the channels before the ZLP (dark/read-out noise), else from the tail scatter
    before = energy < -3.0
    if before.sum() > 10:
        noise = float(np.std(intensity[before]))
    else:
        tail = intensity[-max(20, intensity.size // 10):]
        noise = float(np.std(np.diff(tail)) / np.sqrt(2))
    # where the low-loss tail sinks into noise (smoothed over ~5 eV), beyond the plasmon region
    de_ll = float(np.median(np.diff(energy)))
    n_sm = max(int(round(5.0 / de_ll)), 1)
    smooth = np.convolve(intensity, np.ones(n_sm) / n_sm, mode="same")
    beyond = np.nonzero((energy > 30.0) & (smooth < 5.0 * noise / np.sqrt(n_sm)))[0]
    e_noise = float(energy[beyond[0]]) if beyond.size else float(energy[-1])
    cut = min(e_noise, edge_onset - 10.0, float(energy[-1]))
    if cut < float(energy[-1]) - de_ll:
        notes.append(f"low-loss cut at {cut:.0f} eV (before the core edge and the noise-dominated tail)")

    # resample onto the core-loss channel width when the axes differ (exspy assumes the same scale)
    if abs(de_ll - channel_width) > 1e-3 * channel_width:
        # rebin by the cumulative counts (conserves the counts; a coarser grid integrates the ZLP)
        new_e = np.arange(np.ceil(energy[0] / channel_width), np.floor(cut / channel_width) + 1) * channel_width
        edges_old = np.concatenate([energy - de_ll / 2, [energy[-1] + de_ll / 2]])
        cumulative = np.concatenate([[0.0], np.cumsum(intensity)])
        edges_new = np.concatenate([new_e - channel_width / 2, [new_e[-1] + channel_width / 2]])
        intensity = np.diff(np.interp(edges_new, edges_old, cumulative))
        energy = new_e
        notes.append(f"low-loss resampled from {de_ll:.3g} to {channel_width:.3g} eV/channel")
    else:
        keep = energy <= cut
        energy, intensity = energy[keep], intensity[keep]
    energy, intensity = _pad_before_zlp(energy, intensity, notes)
    t_lambda, threshold = estimate_t_lambda(energy, intensity)
    if not np.isfinite(t_lambda) or t_lambda < -0.05:
        raise InputError("could not estimate t/lambda from the low-loss spectrum (no clear zero-loss "
                         "peak): check the low-loss file")
    # a very thin sample: the low-loss is the zero-loss peak alone, ln(I/I0) ~ 0 (or a hair below, noise)
    t_lambda = max(float(t_lambda), 0.0)
    if t_lambda > 1.0:
        notes.append(f"thick sample: t/lambda = {t_lambda:.2f} > 1, plural scattering is strong and its "
                     "removal amplifies noise")
    return LowLoss(energy=energy, intensity=intensity, zlp_shift=-centre, t_lambda=t_lambda,
                   threshold=threshold, notes=notes)


def _pad_before_zlp(energy, intensity, notes):
    """Zero channels before the zero-loss peak so that exspy's Hanning taper (HyperSpy ``hanning_taper``:
    at least 20 channels, or 2 %, at each end) does not eat into the zero-loss peak: a low-loss recorded
    from -20 eV at 2 eV/channel has only 10 channels before it, and the tapered peak then rings through
    the whole deconvolved edge."""
    de = float(np.median(np.diff(energy)))
    top = float(intensity.max())
    rising = np.nonzero(intensity > 0.01 * top)[0]
    first = int(rising[0]) if rising.size else 0
    n_taper = max(20, int(round(0.02 * (energy.size + 30))))
    need = n_taper + 3 - first
    if need <= 0:
        return energy, intensity
    pad_e = energy[0] - de * np.arange(need, 0, -1)
    notes.append(f"low-loss padded with {need} empty channels below {energy[0]:.0f} eV (room for the "
                 "deconvolution's taper before the zero-loss peak)")
    return np.concatenate([pad_e, energy]), np.concatenate([np.zeros(need), intensity])


def estimate_t_lambda(energy: np.ndarray, intensity: np.ndarray) -> tuple[float, float]:
    """Relative thickness t/lambda = ln(I_total / I_zlp) by exspy ``estimate_thickness`` (ZLP intensity
    by truncation at the first minimum after the ZLP, ``estimate_elastic_scattering_threshold``).
    Returns (t/lambda, threshold in eV)."""
    sig = Spectrum(energy, intensity, kind="eels").to_hyperspy()
    with quiet(hyperspy=True):
        try:
            threshold = float(sig.estimate_elastic_scattering_threshold(window=10.0).data.ravel()[0])
        except Exception:  # noqa: BLE001 - exspy's smoothing window fails on few channels
            threshold = float("nan")
        if not np.isfinite(threshold):
            threshold = 3.0
        try:
            t = sig.estimate_thickness(threshold=threshold)
        except Exception:  # noqa: BLE001
            return float("nan"), threshold
    return float(np.asarray(t.data).ravel()[0]), threshold


def fourier_ratio(energy: np.ndarray, edge_signal: np.ndarray, lowloss: LowLoss) -> np.ndarray:
    """Single-scattering edge signal by exspy's Fourier-ratio deconvolution of the background-subtracted
    core-loss ``edge_signal`` (counts on ``energy``, eV) by the prepared low-loss.

    The core-loss may start far above 0 eV: the Fourier ratio only needs both spectra on the same
    channel width with the ZLP at 0 eV, which ``prepare_lowloss`` ensures. The core-loss is not
    power-law extrapolated (its background-subtracted tail can be negative, where exspy's power-law
    extrapolation fails); the zero padding exspy uses already avoids wrap-around."""
    cl = Spectrum(energy, edge_signal, kind="eels").to_hyperspy()
    ll = lowloss.to_hyperspy()
    tail = lowloss.intensity[-100:]
    extrapolate_ll = bool(lowloss.intensity.size > 200 and np.all(tail > 0))
    # FWHM of the zero-loss peak for the re-convolving Gaussian (exspy's own estimate needs a wide
    # smoothing window and fails on coarse channels): half-maximum crossings, at least one channel
    top = float(lowloss.intensity.max())
    above = np.nonzero(lowloss.intensity >= 0.5 * top)[0]
    de = float(np.median(np.diff(lowloss.energy)))
    fwhm = max(float(lowloss.energy[above[-1]] - lowloss.energy[above[0]]) + de, de)
    with quiet(hyperspy=True):
        try:
            out = cl.fourier_ratio_deconvolution(ll, fwhm=fwhm, threshold=lowloss.threshold,
                                                 extrapolate_lowloss=extrapolate_ll,
                                                 extrapolate_coreloss=False)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"Fourier-ratio deconvolution failed ({exc}): check that the low-loss "
                             "spectrum matches the core-loss acquisition") from None
    # exspy scales by the ZLP intensity I0 of the low-loss: the result is the single-scattering edge
    # in core-loss counts times exp(-t/lambda); chi = (mu - mu0)/mu0 does not depend on that scale
    return np.asarray(out.data, float)
