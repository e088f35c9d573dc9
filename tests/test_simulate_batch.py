"""The batched EELS forward model (exelfs.simulate.eels_batch): the same spectra as eels_spectrum where
nothing changed (noiseless rows, noise statistics, ensembles over drawn parameters), seeded, and each
solid-state nuisance of training_config doing what it claims."""

import numpy as np
import pytest

from exelfs.errors import InputError
from exelfs.simulate import EELSConfig, eels_batch, eels_spectrum, standard_k, training_config

K = standard_k(20.0)
CHI = 0.2 * np.sin(2 * 2.3 * K) * np.exp(-0.01 * K**2)


def _fixed(**kw):
    """Every artefact at a fixed value (no draws), noise off."""
    base = dict(edge="Cu_L3", lowloss=False, noise=False, resolution_fwhm=1.0, t_lambda=0.4, plasmon_energy=20.0,
                plasmon_width=5.0, calibration_offset=1.3, background_r=3.0, background_ratio=1.0, counts=1e4,
                white_line_height=2.0, white_line_width=2.0, white_line_ratio=2.2, e_after=500.0,
                other_edge_weight=1.0)
    base.update(kw)
    return EELSConfig(**base)


@pytest.mark.parametrize("edge", ["Cu_L3", "O_K", "Ni_L3"])
def test_noiseless_rows_equal_the_single_spectrum_path(edge):
    cfg = _fixed(edge=edge, other_elements=("O",) if edge != "O_K" else ("Ni",))
    one = eels_spectrum(K, CHI, cfg, seed=0)
    energy, counts, truth = eels_batch(K, np.stack([CHI, CHI]), cfg, seed=0)
    assert np.allclose(energy, one.energy)
    rel = np.abs(counts[1] - one.intensity) / one.intensity.max()
    assert rel.max() < 0.02 and np.median(rel) < 1e-3  # 0.25 eV float32 grid against 0.1 eV float64
    assert np.array_equal(counts[0], counts[1])
    assert truth["t_lambda"][0] == 0.4


@pytest.mark.parametrize("level", [40.0, 3e3])
def test_noise_is_poisson_at_low_and_high_counts(level):
    # expected counts per channel ~20-60 (exact Poisson) or ~1500-4500 (normal approximation)
    fixed = dict(counts=level, t_lambda=0.0, calibration_offset=0.0)
    clean = eels_spectrum(None, None, _fixed(**fixed), seed=0).intensity
    _, counts, _ = eels_batch(None, None, _fixed(noise=True, **fixed), seed=1, n=600)
    mean, var = counts.mean(0), counts.var(0, ddof=1)
    assert np.median(mean / clean) == pytest.approx(1.0, abs=0.01)
    assert np.median(var / clean) == pytest.approx(1.0, abs=0.08)
    assert np.all(counts == np.rint(counts)) and counts.min() >= 0


def test_ensemble_over_drawn_parameters_matches_the_single_path():
    # today's default ranges (t/lambda, plasmon, resolution, offset, background, counts, white lines)
    cfg = EELSConfig(edge="Ti_L3", lowloss=False, e_after=400.0, noise=False)
    n_single = 60
    single = np.array([eels_spectrum(K, CHI, cfg, seed=s).intensity for s in range(n_single)])
    _, batch, truth = eels_batch(K, np.tile(CHI, (600, 1)), cfg, seed=5)
    # compare per-channel log-intensity mean and spread, normalised by each spectrum's pre-edge level
    norm = lambda a: np.log(a[:, 40:] / a[:, 20:30].mean(1, keepdims=True))  # noqa: E731
    ls, lb = norm(single), norm(batch)
    se = ls.std(0) / np.sqrt(n_single)
    assert np.median(np.abs(ls.mean(0) - lb.mean(0)) / se) < 1.5
    assert np.median(lb.std(0) / ls.std(0)) == pytest.approx(1.0, abs=0.2)
    assert 0.0 <= truth["t_lambda"].min() and truth["t_lambda"].max() <= 1.2


def test_seeded_runs_are_bit_identical():
    cfg = training_config(edge="O_K", other_elements=("Ni",), edge_shift=(-1.0, 1.0))
    chi = np.tile(CHI, (300, 1))  # > one chunk: chunks run in threads
    a, b, c = (eels_batch(K, chi, cfg, seed=s)[1] for s in (7, 7, 8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.isfinite(a).all()


def test_bad_input_is_refused():
    with pytest.raises(InputError):
        eels_batch(None, None, EELSConfig(channel_width=(0.2, 1.0)), n=2)
    with pytest.raises(InputError):
        eels_batch(K ** 1.5, np.tile(CHI, (2, 1)), EELSConfig(), seed=0)
    with pytest.raises(InputError):
        eels_batch(None, None, EELSConfig(), seed=0)


# ---------------------------------------------------------------------------------------------------
# solid-state nuisances


def _bare(**kw):
    base = dict(edge="Ni_L3", lowloss=False, noise=False, plural_scattering=False, resolution_fwhm=0.3,
                calibration=False, background=False, counts=1e4, channel_width=0.25, e_before=60.0, e_after=300.0,
                near_edge=False, l1_weight=0.0, solid_state=True, continuum_decay=1.5, hydrogenic_mix=0.0,
                continuum_tilt=0.0,
                white_line_height=4.0, white_line_width=1.5, white_line_ratio=3.0)
    base.update(kw)
    return EELSConfig(**base)


def _row(cfg, seed=0):
    energy, counts, truth = eels_batch(None, None, cfg, seed=seed, n=1)
    return energy, counts[0].astype(float), truth


def test_white_lines_have_the_stated_l3_l2_ratio_and_height():
    e, lines, _ = _row(_bare())
    _, plain, _ = _row(_bare(white_lines=False))
    diff = lines - plain
    e3, e2 = 855.0, 872.0
    a3 = diff[(e > e3 - 8) & (e < e3 + 8)].sum()
    a2 = diff[(e > e2 - 8) & (e < e2 + 8)].sum()
    assert a3 / a2 == pytest.approx(3.0, rel=0.08)  # tails of the other line included
    step = plain[np.searchsorted(e, e3 + 50)]
    # L3 white-line peak: 4 x the L2,3 edge step (as in eels_spectrum), seen through 0.3 eV resolution
    assert diff.max() / step == pytest.approx(4.0, rel=0.15)
    # the same white lines on another element's edge (Ni L2,3 beside the O K absorber)
    cfg = _bare(edge="O_K", other_elements=("Ni",), e_after=400.0, other_edge_weight=1.0)
    e, with_ni, t = _row(cfg)
    _, legacy, _ = _row(_bare(edge="O_K", other_elements=("Ni",), e_after=400.0, other_edge_weight=1.0,
                              solid_state=False))
    at = (e > 852) & (e < 862)
    assert "Ni_white_line_height" in t and with_ni[at].max() > 2.0 * legacy[at].max()


def test_solid_continuum_is_a_flat_step_not_a_delayed_hump():
    e, hyd, _ = _row(_bare(solid_state=False, white_lines=False))
    _, flat, _ = _row(_bare(white_lines=False))
    at = lambda arr, x: arr[np.searchsorted(e, x)]  # noqa: E731
    # hydrogenic 2p of Ni at 200 kV: a delayed maximum ~65 eV past L3
    assert at(hyd, 920.0) > 1.5 * at(hyd, 862.0) and at(hyd, 920.0) > at(hyd, 880.0)
    # solid state: the full step right after L2, then (E / (onset + 50))^-1.5
    assert at(flat, 880.0) > at(flat, 920.0) > at(flat, 1000.0)
    assert at(flat, 1050.0) / at(flat, 950.0) == pytest.approx((1050.0 / 950.0) ** -1.5, rel=0.03)


def test_l1_weight_is_small_in_training_config():
    cfg = training_config(edge="Ni_L3", lowloss=False, noise=False, background=False, plural_scattering=False,
                          calibration=False, near_edge=False, white_lines=False, e_after=300.0,
                          hydrogenic_mix=0.0, continuum_decay=1.0)
    _, _, t = eels_batch(None, None, cfg, seed=0, n=400)
    assert t["l1_weight"].max() <= 0.08
    jump = {}
    for w in (1.0, 0.08):
        e, row, _ = _row(_bare(l1_weight=w, white_lines=False, continuum_decay=1.0))
        below, above = row[(e > 990) & (e < 1005)].mean(), row[(e > 1012) & (e < 1027)].mean()
        jump[w] = above / below - 1.0
    assert jump[1.0] > 0.05  # exspy's hydrogenic L1: a visible step at 1008 eV
    assert jump[0.08] < 0.2 * jump[1.0]


def test_near_edge_peaks_stay_in_the_first_40_ev_and_pre_peak_on_ti_l3():
    cfg = _bare(edge="O_K", near_edge=True, near_edge_width=(1.0, 2.0), pre_peak_height=0.0)
    e, elnes, t = _row(cfg)
    _, plain, _ = _row(_bare(edge="O_K"))
    diff = elnes - plain
    step = plain[np.searchsorted(e, 582.0)]
    assert diff[(e > 532) & (e < 572)].max() > 0.02 * step
    assert np.abs(diff[e > 532 + 40 + 12]).max() < 1e-3 * step  # 40 eV + the widest peak's reach
    peaks = t["near_edge"][0]
    assert peaks.shape == (6, 3) and np.all((peaks[:, 0] >= 532) & (peaks[:, 0] <= 572))
    ti = _bare(edge="Ti_L3", near_edge=True, near_edge_height=0.0, pre_peak_height=2.0, pre_peak_position=-3.0,
               white_lines=False)
    e, row, t = _row(ti)
    _, plain, _ = _row(_bare(edge="Ti_L3", white_lines=False))
    assert e[np.argmax(row - plain)] == pytest.approx(456.0 - 3.0, abs=0.3)
    pos, fwhm, height = t["pre_peak"][0]
    assert pos == pytest.approx(453.0) and 0.4 <= fwhm <= 1.5 and height == 2.0


def test_training_config_turns_the_nuisances_on_and_single_path_follows():
    cfg = training_config()
    assert cfg.solid_state and cfg.near_edge and EELSConfig().solid_state is False
    one = eels_spectrum(K, CHI, training_config(edge="O_K", other_elements=("Ni",), lowloss=False), seed=2)
    assert "near_edge" in one.metadata["true"] and "Ni_white_line_height" in one.metadata["true"]


def test_training_data_set_uses_the_batched_model_with_nuisances(tmp_path):
    from exelfs.simulate import Recipe, load_dataset, make_dataset
    from exelfs.theory import feff_paths

    paths = feff_paths("Cu", "Cu", edge="K", rmax=5.2)
    recipe = Recipe(structure="Cu", absorber="Cu", rmax=5.2, kind="eels-train",
                    eels={"edge": "Cu_L3", "other_elements": ["O"]})
    a = make_dataset(recipe, 5, seed=3, out_path=tmp_path / "a.h5", paths=paths)
    b = load_dataset(tmp_path / "a.h5")
    assert np.array_equal(a["spectra"], b["spectra"]) and a["spectra"].shape[0] == 5
    assert np.array_equal(make_dataset(recipe, 5, seed=3, paths=paths)["spectra"], a["spectra"])
    truth = __import__("json").loads(str(b["truth"][0]))
    assert "near_edge" in truth and truth["l1_weight"] <= 0.08 and 0.0 <= truth["white_line_height"] <= 8.0
    assert np.isfinite(a["spectra"]).all() and (a["spectra"] >= 0).all()


def test_continuum_tilt_multiplies_past_the_onset():
    e, flat, _ = _row(_bare(edge="O_K", e_after=400.0))
    _, tilted, t = _row(_bare(edge="O_K", e_after=400.0, continuum_tilt=1.0))
    assert t["continuum_tilt"][0] == 1.0
    for x in (600.0, 800.0):  # (E / 532)^1, the counts scale fixed at the onset + 50 eV (no background)
        i = np.searchsorted(e, x)
        assert tilted[i] / flat[i] == pytest.approx(x / 582.0, rel=0.01)
    below = e < 525.0
    assert np.allclose(tilted[below], flat[below] * 532.0 / 582.0, rtol=1e-3, atol=1e-3)


def test_split_white_lines_keep_their_intensity():
    e, one, _ = _row(_bare())
    _, two, t = _row(_bare(white_line_split=2.0))
    _, plain, _ = _row(_bare(white_lines=False))
    near3 = (e > 845) & (e < 866)
    # the same L3 intensity, in two lines 2 eV apart (the upper one carrying the drawn share)
    assert (two - plain)[near3].sum() == pytest.approx((one - plain)[near3].sum(), rel=0.03)
    assert 0.2 <= t["white_line_share"][0] <= 0.8 and t["white_line_split"][0] == 2.0
    assert (two - plain).max() < (one - plain).max()
