"""Tests of exelfs.simulate: agreement with Larch's ff2chi, EELS artefacts, data set reproducibility, disorder."""

import json
import logging
import warnings

import numpy as np
import pytest

from exelfs.errors import InputError
from exelfs.theory import group_shells
from exelfs.simulate import (EELSConfig, Recipe, XASConfig, chi_from_distances, chi_from_paths, disordered_ensemble,
                             eels_spectrum, gain_profile, load_dataset, lowloss_spectrum, make_dataset,
                             radial_distribution, rebin_counts, shell_statistics, shell_to_path_params,
                             standard_k, xas_spectrum)


@pytest.fixture(scope="module")
def cu_paths():
    from exelfs.theory import feff_paths

    paths = feff_paths("Cu", "Cu", edge="K", rmax=5.2)
    assert len(paths) >= 8 and any(p.nleg > 2 for p in paths)
    return paths


def larch_chi(paths, k, **pars):
    """Larch's own ff2chi on the same feffNNNN.dat files; per-path values may be arrays over paths."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from larch.xafs import feffpath, ff2chi
    groups = []
    for i, p in enumerate(paths):
        kw = {key: float(np.broadcast_to(v, (len(paths),))[i]) for key, v in pars.items()}
        groups.append(feffpath(p.filename, **kw))
    return ff2chi(groups, k=k).chi


# --------------------------------------------------------------------------------------------- chi(k)

def test_chi_matches_larch_cu(cu_paths):
    """Cu fcc, 14 paths (single and multiple scattering), nonzero e0, sigma2, deltar, s02 and c3."""
    k = standard_k(20.0)
    rng = np.random.default_rng(7)
    npth = len(cu_paths)
    sets = []
    for e0 in (-4.0, 3.5, 7.0):
        sets.append(dict(s02=0.83, e0=e0, deltar=rng.uniform(-0.05, 0.05, npth),
                         sigma2=rng.uniform(0.002, 0.012, npth), third=rng.uniform(-2e-4, 2e-4, npth)))
    batch = {key: np.stack([np.broadcast_to(s[key], (npth,)) for s in sets]) for key in ("deltar", "sigma2", "third")}
    batch["s02"] = np.array([s["s02"] for s in sets])
    batch["e0"] = np.array([s["e0"] for s in sets])
    ours64 = chi_from_paths(cu_paths, k, batch)
    ours32 = chi_from_paths(cu_paths, k, batch, dtype=np.float32)
    assert ours64.shape == (3, k.size) and ours32.dtype == np.float32
    for i, s in enumerate(sets):
        ref = larch_chi(cu_paths, k, **s)
        scale = np.abs(ref).max()
        assert np.abs(ours64[i] - ref).max() < 1e-4 * scale
        assert np.abs(ours32[i] - ref).max() < 1e-4 * scale
        # single parameter set -> 1-D result
        single = chi_from_paths(cu_paths, k, s)
        assert single.shape == k.shape and np.abs(single - ref).max() < 1e-4 * scale


def test_chi_fourth_cumulant_and_ei_match_larch(cu_paths):
    k = standard_k(16.0)
    pars = dict(s02=0.9, e0=2.0, deltar=0.02, sigma2=0.006, fourth=2e-5, ei=1.5)
    ref = larch_chi(cu_paths[:4], k, **pars)
    ours = chi_from_paths(cu_paths[:4], k, pars)
    assert np.abs(ours - ref).max() < 1e-4 * np.abs(ref).max()


def test_float32_chi_of_many_path_sets_stays_each_sets_own(cu_paths):
    # tables are cached and freed as path sets come and go (the RDF basis makes one per path); a float32
    # cast once kept by id(table) went to a new table that reused a freed one's id: wrong chi, or a crash
    from exelfs.simulate import exafs

    k = np.arange(0, 14, 0.05)
    for i in range(200):
        sub = [cu_paths[i % len(cu_paths)], cu_paths[(3 * i + 1) % len(cu_paths)]][: 1 + i % 2]
        if i % 50 == 0:
            exafs._TABLE_CACHE.clear()
        fast = chi_from_paths(sub, k, {"sigma2": 0.004, "e0": float(i % 7)}, dtype=np.float32)
        exact = chi_from_paths(sub, k, {"sigma2": 0.004, "e0": float(i % 7)})
        assert np.max(np.abs(fast - exact)) <= 1e-4 * np.max(np.abs(exact)) + 1e-7, i


def test_lattice_expansion_equals_deltar(cu_paths):
    k = standard_k(14.0)
    reff = np.array([p.reff for p in cu_paths])
    a = chi_from_paths(cu_paths, k, {"alpha": [0.01, -0.02], "sigma2": 0.005})
    b = chi_from_paths(cu_paths, k, {"deltar": np.stack([0.01 * reff, -0.02 * reff]), "sigma2": 0.005})
    assert np.allclose(a, b, atol=1e-10)


def test_shell_parameters_expand_to_paths(cu_paths):
    shells = group_shells(cu_paths)
    assert shells[0]["n"] == 12 and abs(shells[0]["reff"] - 2.5527) < 0.01
    pp = shell_to_path_params(cu_paths, {"deltar": np.array([[0.02] * len(shells)]),
                                         "sigma2": np.array([[0.004] * len(shells)])}, shells)
    assert pp["deltar"].shape == (1, len(cu_paths))
    reff = np.array([p.reff for p in cu_paths])
    ms = np.array([p.nleg > 2 for p in cu_paths])
    # MS paths follow the mean relative expansion of the shells
    expected = np.mean([0.02 / s["reff"] for s in shells]) * reff[ms]
    assert np.allclose(pp["deltar"][0, ms], expected)


def test_bad_parameters_raise_input_error(cu_paths):
    k = standard_k(10.0)
    with pytest.raises(InputError):
        chi_from_paths(cu_paths, k, {"sigma_2": 0.01})
    with pytest.raises(InputError):
        chi_from_paths(cu_paths, k, {"deltar": np.zeros(3)})
    with pytest.raises(InputError):
        chi_from_paths([], k, {})


# --------------------------------------------------------------------------------------------- EELS

def _cfg(**kw):
    base = dict(edge="O_K", noise=False, gain_steps=False, calibration=False, plural_scattering=False,
                resolution=True, resolution_fwhm=0.3, channel_width=0.1, background=False, white_lines=False,
                counts=1e4, lowloss=False, e_before=50.0, e_after=300.0)
    base.update(kw)
    return EELSConfig(**base)


@pytest.mark.parametrize("t_lambda", [0.2, 0.5, 1.0])
def test_zero_loss_to_plasmon_ratio_matches_t_lambda(t_lambda):
    cfg = _cfg(noise=False)
    ll = lowloss_spectrum(t_lambda, 22.0, 6.0, 0.8, 0.1, 0.0, cfg, np.random.default_rng(0), 1e7)
    zlp = np.abs(ll.energy) <= 3.0  # +-3 eV around zero: the zero-loss peak
    measured = np.log(ll.intensity.sum() / ll.intensity[zlp].sum())
    assert measured == pytest.approx(t_lambda, rel=0.04, abs=0.01)


def test_core_loss_with_plural_scattering_has_lowloss_with_same_t_lambda():
    core, ll = eels_spectrum(None, None, _cfg(plural_scattering=True, t_lambda=0.7, lowloss=True, noise=True),
                             seed=1)
    assert core.kind == "eels" and core.metadata["true"]["t_lambda"] == pytest.approx(0.7)
    zlp = np.abs(ll.energy) <= 3.0
    assert np.log(ll.intensity.sum() / ll.intensity[zlp].sum()) == pytest.approx(0.7, rel=0.04)


def test_poisson_noise_variance_equals_counts():
    expected = eels_spectrum(None, None, _cfg(counts=200.0), seed=0).intensity
    ratios = []
    for seed in range(10):
        noisy = eels_spectrum(None, None, _cfg(counts=200.0, noise=True), seed=seed).intensity
        ok = expected > 5
        ratios.append(np.mean((noisy[ok] - expected[ok]) ** 2 / expected[ok]))
        assert abs(np.mean(noisy[ok] - expected[ok])) < 5 * np.sqrt(np.mean(expected[ok]) / ok.sum())
    # variance / mean = 1 within statistics (~0.01 for ~30000 channels)
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.05)


def _onset(spec):
    d = np.gradient(spec.intensity, spec.energy)
    return spec.energy[np.argmax(d)]


@pytest.mark.parametrize("offset", [-2.5, 1.7])
def test_calibration_offset_shifts_onset(offset):
    ref = eels_spectrum(None, None, _cfg(), seed=0)
    moved = eels_spectrum(None, None, _cfg(calibration=True, calibration_offset=offset), seed=0)
    assert moved.metadata["true"]["calibration_offset"] == offset
    assert _onset(moved) - _onset(ref) == pytest.approx(offset, abs=0.15)


def test_gain_steps_produce_the_asked_jumps():
    plain = eels_spectrum(None, None, _cfg(background=True, background_ratio=1.0), seed=0)
    jump = 0.04
    stepped = eels_spectrum(None, None, _cfg(background=True, background_ratio=1.0, gain_steps=True,
                                             gain_segments=3, gain_jump=jump), seed=0)
    ratio = stepped.intensity / plain.intensity
    n = ratio.size
    b1, b2 = round(n / 3), round(2 * n / 3)
    assert ratio[b1 - 1] == pytest.approx(1.0) and ratio[b1] == pytest.approx(1 + jump)
    assert ratio[b2] / ratio[b2 - 1] == pytest.approx(1 + jump)
    assert stepped.metadata["true"]["gain_jumps"] == [jump, jump]
    assert np.allclose(gain_profile(10, 2, [0.1])[5:], 1.1)


def test_channel_width_resampling_conserves_counts():
    rng = np.random.default_rng(3)
    fine_edges = np.linspace(0, 100, 1001)
    fine = rng.uniform(0, 50, 1000)
    for width in (0.37, 1.0, 2.0):
        new_edges = np.arange(0, 100 + 1e-9, width)
        new = rebin_counts(fine_edges, fine, new_edges)
        inside = fine[fine_edges[1:] <= new_edges[-1]].sum() + 0.0
        partial = fine_edges[:-1] < new_edges[-1]
        assert new.sum() == pytest.approx(np.interp(new_edges[-1], fine_edges,
                                                    np.concatenate([[0], np.cumsum(fine)])), rel=1e-12)
        assert new.sum() >= inside - 1e-9 and partial.any()
    # spectra simulated at different channel widths carry the same counts per eV
    a = eels_spectrum(None, None, _cfg(background=True, channel_width=0.2), seed=0)
    b = eels_spectrum(None, None, _cfg(background=True, channel_width=1.0), seed=0)
    sel_a = (a.energy > 500) & (a.energy < 700)
    sel_b = (b.energy > 500) & (b.energy < 700)
    assert a.intensity[sel_a].sum() / 0.2 / sel_a.sum() == pytest.approx(b.intensity[sel_b].sum() / 1.0 / sel_b.sum(),
                                                                         rel=0.01)


def test_eels_spectrum_with_fine_structure_and_l_edges(cu_paths):
    k = standard_k(20.0)
    chi = chi_from_paths(cu_paths, k, {"sigma2": 0.008, "s02": 0.9})
    cfg = EELSConfig(edge="Cu_L3", white_lines=True, other_elements=("O",))
    core, ll = eels_spectrum(k, chi, cfg, seed=5)
    true = core.metadata["true"]
    assert core.kind == "eels" and ll.kind == "eels"
    assert true["l2_ev"] - true["l3_ev"] == pytest.approx(20.0, abs=1.0)
    assert np.all(np.isfinite(core.intensity)) and core.intensity.min() >= 0
    assert core.beam_energy_kev == 200.0 and json.dumps(core.metadata)  # metadata is JSON-able
    # the same seed gives the same spectrum
    again, _ = eels_spectrum(k, chi, cfg, seed=5)
    assert np.array_equal(core.intensity, again.intensity)


def test_xas_spectrum_edge_step(cu_paths):
    k = standard_k(20.0)
    chi = chi_from_paths(cu_paths, k, {"sigma2": 0.008})
    sp = xas_spectrum(k, chi, XASConfig(edge="Cu_K", edge_step=1.0, noise=(1e-4, 1e-4), pre_slope=0.0,
                                        pre_offset=0.0, post_curvature=0.0), seed=0)
    e0 = sp.metadata["e0"]
    assert sp.kind == "xas" and abs(e0 - 8979) < 3
    below = sp.intensity[(sp.energy < e0 - 30)].mean()
    above = sp.intensity[(sp.energy > e0 + 150) & (sp.energy < e0 + 700)].mean()
    assert above - below == pytest.approx(1.0, abs=0.05)


# --------------------------------------------------------------------------------------------- data sets

@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_dataset_is_reproducible(tmp_path, cu_paths, suffix):
    recipe = Recipe(structure="Cu", absorber="Cu", rmax=5.2, kind="eels", eels={"edge": "Cu_L3"})
    a = make_dataset(recipe, 3, seed=11, out_path=tmp_path / f"a{suffix}", paths=cu_paths)
    b = make_dataset(recipe.to_dict(), 3, seed=11, out_path=tmp_path / f"b{suffix}", paths=cu_paths)
    c = make_dataset(recipe, 3, seed=12, paths=cu_paths)
    ra, rb = load_dataset(tmp_path / f"a{suffix}"), load_dataset(tmp_path / f"b{suffix}")
    for key in ("chi", "spectra", "energy", "k"):
        assert np.array_equal(ra[key], rb[key], equal_nan=True)
    for key in ra["params"]:
        assert np.array_equal(ra["params"][key], rb["params"][key])
    assert np.array_equal(ra["chi"], a["chi"])
    assert not np.array_equal(a["chi"], c["chi"])
    assert ra["recipe"] == recipe.to_dict() and ra["seed"] == 11
    assert ra["spectra"].shape[0] == 3 and json.loads(ra["truth"][0])["edge"] == "Cu_L3"
    assert ra["params"]["r"].shape == (3, len(ra["shells"]))


def test_chi_dataset_batch(cu_paths):
    data = make_dataset(Recipe(rmax=5.2, n_shells=2), 200, seed=0, paths=cu_paths)
    assert data["chi"].shape == (200, data["k"].size) and data["chi"].dtype == np.float32
    r = data["params"]["r"]
    assert np.all(np.abs(r[:, 0] - 2.5527) <= 0.0801)
    with pytest.raises(InputError):
        make_dataset({"kind": "neutron"}, 2, paths=cu_paths)


# --------------------------------------------------------------------------------------------- disorder

def test_thermal_disorder_shell_statistics(cu_paths):
    from ase.build import bulk

    from exelfs.structure import cluster

    cl = cluster(bulk("Cu", "fcc", a=3.61), "Cu", 5.5)
    sigma2 = 0.008
    d, s, w = disordered_ensemble(cl, sigma2=sigma2, n_snapshots=300, rmax=5.0, seed=1)
    st = shell_statistics(d, w, 2.1, 3.0)
    r0 = 3.61 / np.sqrt(2)
    assert st["n"] == pytest.approx(12.0)
    # mean distance R0 + sigma2/R0: the two perpendicular components (variance sigma2 each) lengthen the bond
    assert st["r"] == pytest.approx(r0 + sigma2 / r0, abs=0.002)
    assert st["sigma2"] == pytest.approx(sigma2, rel=0.06)
    # g(r) target: integrates to the coordination number of the first shell
    r = np.linspace(1.5, 3.1, 801)
    n_r = radial_distribution(d, w, r, broadening=0.01)
    assert np.trapezoid(n_r, r) == pytest.approx(12.0, rel=0.01)
    # chi of the distribution ~ the cumulant (sigma2) expansion of the first shell
    k = standard_k(14.0)
    first = [p for p in cu_paths if p.nleg == 2 and p.reff < 3.0]
    sel = d < 3.0
    chi_dist = chi_from_distances(first, k, d[sel], s[sel], w[sel])
    chi_cum = chi_from_paths(first, k, {"sigma2": st["sigma2"], "deltar": st["r"] - first[0].reff})
    m = k > 3
    assert np.abs(chi_dist[m] - chi_cum[m]).max() < 0.05 * np.abs(chi_cum[m]).max()


def test_eels_spectrum_carries_chi(cu_paths):
    """Without background, plural scattering, resolution and noise, I/I_atomic - 1 is chi(k) of the edge."""
    from exelfs.units import KTOE

    k = standard_k(20.0)
    chi = chi_from_paths(cu_paths, k, {"s02": 0.9, "sigma2": 0.006})
    cfg = EELSConfig(edge="Mg_K", e_after=650, channel_width=0.5, resolution=False, plural_scattering=False,
                     background=False, noise=False, calibration=False, white_lines=False, lowloss=False, counts=1e4)
    with_chi = eels_spectrum(k, chi, cfg, seed=0)
    atomic = eels_spectrum(None, None, cfg, seed=0)
    kk = np.sqrt(np.clip(with_chi.energy - with_chi.metadata["true"]["onset_ev"], 0, None) / KTOE)
    sel = (kk > 2) & (kk < 14)
    extracted = with_chi.intensity[sel] / atomic.intensity[sel] - 1
    assert np.abs(extracted - np.interp(kk[sel], k, chi)).max() < 0.01 * np.abs(chi[k > 2]).max() + 2e-3


# ------------------------------------------------------------------------- edge physics (sweep defects)

def _steps(sp, rise_ev=4.0, rel=0.05):
    """Energies (eV) where the intensity rises by more than `rel` of the largest rise over `rise_ev`."""
    from scipy.signal import find_peaks

    n = int(round(rise_ev / 2 / sp.channel_width))
    jump = sp.intensity[2 * n:] - sp.intensity[:-2 * n]
    pk, _ = find_peaks(jump, height=rel * jump.max(), distance=4 * n)
    return sp.energy[pk + n], jump[pk] / jump.max()


@pytest.mark.parametrize("element", ["Cu", "Fe"])
def test_l_edge_has_one_l3_one_l2_one_l1_step(element):
    """exspy's L GOS holds the L1 term: the L2 copy must not add a second L1 step (L1 + L2-L3 shift)."""
    cfg = EELSConfig(edge=f"{element}_L3", e_before=50, e_after=600, fine_structure=False, white_lines=False,
                     background=False, plural_scattering=False, resolution=False, noise=False, calibration=False,
                     channel_width=0.5, lowloss=False, l2_weight=0.5)
    sp = eels_spectrum(None, None, cfg, seed=0)
    t = sp.metadata["true"]
    where, height = _steps(sp)
    assert len(where) == 3
    assert where == pytest.approx([t["l3_ev"], t["l2_ev"], t["l1_ev"]], abs=3.0)
    assert height[1] == pytest.approx(0.5, abs=0.1)  # L2 : L3 = l2_weight
    assert 0.1 < height[2] < 0.4  # hydrogenic L1 step, once


def test_bare_power_law_with_plural_scattering_has_no_false_step():
    """The cut-off of the single-scattering grid, copied upwards by plasmons, made steps in low windows."""
    from scipy.ndimage import median_filter

    for edge, before in (("B_K", 100.0), ("C_K", 150.0), ("O_K", 200.0)):
        cfg = EELSConfig(edge=edge, e_before=before, e_after=100, fine_structure=False, channel_width=1.0,
                         t_lambda=1.0, plasmon_energy=25.0, plasmon_width=5.0, resolution_fwhm=1.0,
                         noise=False, calibration=False, background_ratio=1.0, background_r=3.0, lowloss=False)
        sp = eels_spectrum(None, None, cfg, seed=0)
        sel = sp.energy < sp.metadata["true"]["onset_ev"] - 5
        d = np.diff(np.log(sp.intensity[sel]))  # smooth -r/E + plural terms: no local kink
        dev = np.abs(d - median_filter(d, 31, mode="nearest"))[15:-15]
        # 1e-3: Poisson noise of 1e6 counts per channel; the old grid gave 1.6e-2 for B K
        assert dev.max() < 1e-3, (edge, dev.max())


def test_other_edge_step_follows_cross_sections():
    """O K next to Al/Si L2,3: one O per absorber atom gives an O step of the cross-section ratio (< 1),
    not a x18-40 jump."""
    from exelfs.simulate.eels import edge_strength

    for edge in ("Si_L3", "Mg_K"):
        cfg = EELSConfig(edge=edge, e_before=50, e_after=700 if edge == "Si_L3" else 300, other_elements=("O",),
                         other_edge_weight=1.0, fine_structure=False, plural_scattering=False, noise=False,
                         calibration=False, background_ratio=1.0, lowloss=False)
        if edge == "Mg_K":
            cfg.e_before = 850
        sp = eels_spectrum(None, None, cfg, seed=1)
        (o,) = [e for e in sp.metadata["true"]["other_edges"] if e["edge"] == "O_K"]
        el, sh = edge.split("_")
        assert o["step_ratio"] == pytest.approx(edge_strength("O", "K") / edge_strength(el, sh))
        i = np.searchsorted(sp.energy, 532.0)
        below, above = sp.intensity[i - 20:i - 10].mean(), sp.intensity[i + 10:i + 20].mean()
        jump = above / below
        if edge == "Si_L3":
            assert o["step_ratio"] < 1 and jump < 5.0  # O K on the Si L tail: jump ratio ~2 as in SiO2
        else:
            assert o["step_ratio"] > 4  # O K per atom is ~8 Mg K at their own onsets


def test_m45_white_lines_dominate_the_step():
    cfg = EELSConfig(edge="La_M5", e_before=50, e_after=200, fine_structure=False, background=False,
                     plural_scattering=False, noise=False, calibration=False, resolution_fwhm=0.5, lowloss=False)
    sp = eels_spectrum(None, None, cfg, seed=3)
    t = sp.metadata["true"]
    peak = sp.intensity.max()
    tail = sp.intensity[np.searchsorted(sp.energy, t["onset_ev"] + 60)]
    assert peak / tail > 5  # white lines, not steps (the old default gave peaks of 1-4 steps)


def test_units_are_larchs():
    from larch.xafs.xafsutils import ETOK, KTOE

    from exelfs import units

    assert units.ETOK == pytest.approx(ETOK, rel=1e-9) and units.KTOE == pytest.approx(KTOE, rel=1e-9)
    assert units.k_from_e(units.e_from_k(10.0, 500.0), 500.0) == pytest.approx(10.0)
