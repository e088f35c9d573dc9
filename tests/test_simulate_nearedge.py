"""The near-edge nuisance of the EELS forward model (EELSConfig.near_edge): random ELNES peaks confined to
the first near_edge_range eV, a pre-peak on O K, seeded, and no change at all when switched off."""

import numpy as np
import pytest

from exelfs.simulate import EELSConfig, eels_spectrum


def _cfg(**kw):
    base = dict(edge="O_K", noise=False, gain_steps=False, calibration=False, plural_scattering=False,
                resolution=True, resolution_fwhm=0.3, channel_width=0.25, background=False, white_lines=False,
                counts=1e4, lowloss=False, e_before=50.0, e_after=300.0)
    base.update(kw)
    return EELSConfig(**base)


def test_near_edge_peaks_stay_in_the_near_edge_range():
    # narrow peaks (FWHM 1 eV at the onset, 3 eV at 20 eV) keep clear of the counts reference at +45..55 eV
    plain = eels_spectrum(None, None, _cfg(), seed=3)
    elnes = eels_spectrum(None, None, _cfg(near_edge=True, near_edge_range=20.0, near_edge_width=1.0,
                                           pre_peak_height=0.0), seed=3)
    onset = plain.metadata["true"]["onset_ev"]
    diff = elnes.intensity - plain.intensity
    step = plain.intensity[np.searchsorted(plain.energy, onset + 50)]
    inside = (elnes.energy > onset) & (elnes.energy < onset + 20)
    far = elnes.energy > onset + 35
    assert diff[inside].max() > 0.05 * step  # peaks of up to ~1 edge step
    assert np.all(diff >= -1e-9 * step)  # ELNES adds intensity, it never removes it
    assert np.abs(diff[far]).max() < 1e-6 * step
    peaks = np.array(elnes.metadata["true"]["near_edge"])
    assert peaks.shape == (6, 3)
    assert np.all((peaks[:, 0] >= onset) & (peaks[:, 0] <= onset + 20))
    assert np.all((peaks[:, 2] >= 0) & (peaks[:, 2] <= 1))


def test_o_k_pre_peak_where_drawn():
    cfg = _cfg(near_edge=True, near_edge_height=0.0, pre_peak_height=3.0, pre_peak_width=1.0,
               pre_peak_position=0.0)
    sp = eels_spectrum(None, None, cfg, seed=1)
    plain = eels_spectrum(None, None, _cfg(), seed=1)
    onset = sp.metadata["true"]["onset_ev"]
    diff = sp.intensity - plain.intensity
    assert sp.energy[np.argmax(diff)] == pytest.approx(onset, abs=0.5)
    step = plain.intensity[np.searchsorted(plain.energy, onset + 50)]
    # a 1 eV Lorentzian of 3 steps, seen through 0.3 eV resolution and 0.25 eV channels
    assert 2.0 * step < diff.max() < 3.1 * step
    assert sp.metadata["true"]["pre_peak"] == [pytest.approx(onset), 1.0, 3.0]
    # Mg K has no pre-peak
    mg = eels_spectrum(None, None, _cfg(edge="Mg_K", near_edge=True), seed=1)
    assert "pre_peak" not in mg.metadata["true"]


def test_near_edge_is_seeded_and_off_by_default():
    a = eels_spectrum(None, None, _cfg(near_edge=True, noise=True), seed=9)
    b = eels_spectrum(None, None, _cfg(near_edge=True, noise=True), seed=9)
    c = eels_spectrum(None, None, _cfg(near_edge=True, noise=True), seed=10)
    assert np.array_equal(a.intensity, b.intensity) and not np.array_equal(a.intensity, c.intensity)
    assert EELSConfig().near_edge is False
    off = eels_spectrum(None, None, _cfg(noise=True), seed=9)
    assert "near_edge" not in off.metadata["true"]
