"""The partial-RDF network: training targets, a tiny network's first peak, and ``analyze --rdf --json``."""

import json
from functools import partial

import numpy as np
import pytest

from exelfs.errors import InputError
from exelfs.nn import rdf as nn_rdf
from exelfs.simulate.ensembles import draw_ensembles, ensemble_rdf
from exelfs.theory import feff_paths, group_shells

TINY = {"samples": 3000, "epochs": 6, "calibration_samples": 400, "seed": 2}


@pytest.fixture(scope="module")
def cu_paths():
    return feff_paths("Cu", "Cu", "K", rmax=nn_rdf.FEFF_RMAX)


@pytest.fixture(scope="module")
def tiny(cu_paths, tmp_path_factory):
    """A tiny Cu K RDF network, trained through the cache that analyze uses (EXELFS_CACHE set by the tests)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EXELFS_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.setattr(nn_rdf, "default_rdf_config", partial(nn_rdf.default_rdf_config, **TINY))
    model, notes = nn_rdf.get_rdf_model(cu_paths, nn_rdf.default_rdf_config("Cu", "Cu_K", "xas"))
    yield model, notes
    mp.undo()


def test_targets_integrate_to_the_coordination_numbers():
    paths = feff_paths("NiO", "O", "K", rmax=nn_rdf.FEFF_RMAX)
    shells = group_shells(paths)
    rng = np.random.default_rng(0)
    r = np.arange(1.0, 6.0001, 0.025)
    crystal = draw_ensembles(shells, 50, rng, families=["crystal"], lattice=(0.0, 0.0), mixed_fraction=0.0)
    g = ensemble_rdf(crystal, r)
    sel = (r > 1.5) & (r < 2.5)
    assert np.trapezoid(g[:, 0, sel], r[sel], axis=1) == pytest.approx(np.full(50, 6.0), rel=0.01)  # 6 Ni
    assert np.abs(np.trapezoid(g[:, 1, sel], r[sel], axis=1)).max() < 1e-3  # no O in the first shell
    mixed = draw_ensembles(shells, 200, rng, families=["small_particle"], lattice=(0.0, 0.0), mixed_fraction=1.0)
    gm = ensemble_rdf(mixed, r)
    first = np.trapezoid(gm[:, :, sel], r[sel], axis=2).sum(axis=1)  # Ni + O swapped in: still the shell's N
    assert first == pytest.approx(mixed["atoms"][:, 0].sum(axis=(1, 2)), rel=0.01)
    assert np.all(first < 6.0) and np.trapezoid(gm[:, 1, sel], r[sel], axis=1).max() > 0.5
    with pytest.raises(InputError):
        draw_ensembles(shells, 5, rng, families=["liquid"])


def test_tiny_network_puts_the_first_peak_at_the_true_distance(tiny, cu_paths):
    from exelfs.simulate.exafs import chi_from_paths, shell_to_path_params

    model, notes = tiny
    assert any("trained one on demand" in n for n in notes)
    scores = model.meta["scores"]
    assert 0.6 < scores["coverage_1sigma"] < 0.77 and 0.9 < scores["coverage_band"] < 0.99
    k = np.arange(0, 15, 0.05)
    shells = group_shells(cu_paths)
    dr = 0.02
    chi = chi_from_paths(cu_paths, k, shell_to_path_params(cu_paths, {"s02": 0.9, "deltar": np.full(len(shells), dr),
                                                                      "sigma2": np.full(len(shells), 0.006)}, shells))
    out = model.predict(cu_paths, k, chi, (3.0, 13.0))
    assert out["unseen"] is False and out["unseen_reason"] is None
    assert set(out) >= {"r", "g", "lo", "hi"} and list(out["g"]) == ["Cu"]
    first = nn_rdf.peaks(out["r"], out["g"]["Cu"], nn_rdf.shell_windows(cu_paths, "Cu")[:1])[0]
    assert abs(first["r"] - (shells[0]["reff"] + dr)) < 0.04  # tolerance of the tiny network
    assert abs(first["n"] / 12.0 - 1) < 0.3
    assert np.all(np.array(out["lo"]["Cu"]) <= np.array(out["hi"]["Cu"]))


def test_analyze_rdf_json_contract(tiny, tmp_path, capsys):
    from exelfs.cli import main
    from exelfs.simulate.exafs import chi_from_paths, shell_to_path_params

    paths = feff_paths("Cu", "Cu", "K", rmax=5.0)
    shells = group_shells(paths)
    k = np.arange(0, 16, 0.05)
    chi = chi_from_paths(paths, k, shell_to_path_params(paths, {"s02": 0.9, "sigma2": np.full(len(shells), 0.005)},
                                                        shells))
    f = tmp_path / "cu.chi"
    np.savetxt(f, np.column_stack([k, chi]), header="k chi")
    main(["analyze", str(f), "--edge", "Cu_K", "--structure", "Cu", "--method", "nn", "--rdf", "--json",
          "--report", str(tmp_path / "rep")])
    j = json.loads(capsys.readouterr().out)
    rdf = j["rdf"]
    assert set(rdf) >= {"r", "g", "lo", "hi"} and set(rdf["g"]) == set(rdf["lo"]) == set(rdf["hi"]) == {"Cu"}
    assert len(rdf["g"]["Cu"]) == len(rdf["r"]) and rdf["r"][0] == 1.0 and rdf["r"][-1] == 6.0
    assert not any("trained one on demand" in w for w in j["warnings"])  # the fixture's cached network
    assert rdf["unseen"] is False and set(rdf["checks"]) == {"spread", "recon"}
    assert rdf["checks"]["recon"]["statistic"] < rdf["checks"]["recon"]["threshold"]
    assert (tmp_path / "rep" / "rdf.png").stat().st_size > 5000


def test_damaged_rdf_model_is_refused(tiny, tmp_path):
    model, _ = tiny
    folder = model.save(tmp_path / "m")
    assert nn_rdf.load_rdf_model(folder).kinds == ["Cu"]
    (folder / "weights.pt").write_bytes((folder / "weights.pt").read_bytes()[:-10] + b"0123456789")
    with pytest.raises(InputError, match="damaged"):
        nn_rdf.load_rdf_model(folder)


def test_unseen_flag_passes_held_out_spectra_and_flags_foreign_ones(tiny, cu_paths):
    model, _ = tiny
    t = model.meta["thresholds"]
    assert t["spread"] > 0 and t["recon"] > 1 and model.meta["flagged_fraction"] < 0.03
    held = nn_rdf.make_rdf_set(cu_paths, model.cfg, 100, np.random.default_rng(77))
    stats = model.flag_statistics(cu_paths, held["x"], held["xw"], held["noise"], held["p"]["kmin"],
                                  held["p"]["kmax"])
    assert np.mean([model.ood_reason(stats, i) is not None for i in range(100)]) < 0.05
    k = np.arange(0, 15, 0.05)
    sine = model.predict(cu_paths, k, 0.3 * np.sin(2 * 1.7 * k) / np.maximum(k, 1), (3.0, 13.0))
    assert sine["unseen"] and "does not explain" in sine["unseen_reason"]
    assert sine["checks"]["recon"]["statistic"] > 1.3 * sine["checks"]["recon"]["threshold"]
    assert "empty" in model.predict(cu_paths, k, np.zeros_like(k), (3.0, 13.0))["unseen_reason"]
    assert "outside the trained" in model.predict(cu_paths, k, np.sin(k), (3.0, 5.0))["unseen_reason"]


def test_unseen_rdf_figure_is_marked(tiny, cu_paths):
    from exelfs.pipeline.rdf_figure import draw_rdf
    import matplotlib.pyplot as plt

    model, _ = tiny
    k = np.arange(0, 15, 0.05)
    rdf = model.predict(cu_paths, k, 0.3 * np.sin(2 * 1.7 * k) / np.maximum(k, 1), (3.0, 13.0))
    fig, ax = plt.subplots()
    draw_rdf(ax, rdf)
    assert ax.get_title().startswith("UNRELIABLE") and any("UNSEEN" in t.get_text() for t in ax.texts)
    plt.close(fig)


def test_peak_errors_grow_with_noise_and_the_rule_drops_an_unsupported_peak(tiny, cu_paths):
    from exelfs.pipeline.rdf import add_systematic_errors, judge_peaks
    from exelfs.simulate.exafs import chi_from_paths, shell_to_path_params

    model, _ = tiny
    k = np.arange(0, 15, 0.05)
    shells = group_shells(cu_paths)
    chi = chi_from_paths(cu_paths, k, shell_to_path_params(cu_paths, {"s02": 0.9, "sigma2": np.full(len(shells), 0.006)},
                                                           shells))
    clean = model.predict(cu_paths, k, chi, (3.0, 13.0))
    noisy = model.predict(cu_paths, k, chi + 0.3 * np.random.default_rng(5).standard_normal(k.size) / np.maximum(k, 1) ** 2,
                          (3.0, 7.0))
    first, rough = clean["shells"][0]["peaks"][0], noisy["shells"][0]["peaks"][0]
    # the first-shell prior: lattice +-8 % of 2.55 A and +-0.03 A own shift, uniform: half its central
    # 68 % range about 0.14 A
    assert 0.1 < first["r_prior_width"] < 0.16
    assert 0.003 < first["r_err"] < 0.5 * first["r_prior_width"] and abs(first["r"] - shells[0]["reff"]) < 3 * first["r_err"]
    assert rough["r_err"] > 1.3 * first["r_err"]  # noisier and shorter: less said about the distance
    # an E0 known to +-12 eV only (a delayed EELS edge's estimators disagree so): E0 spread hypot(8, 12) eV
    loose = model.predict(cu_paths, k, chi, (3.0, 13.0), e0_err=12.0)
    assert loose["e0_spread_ev"] == pytest.approx(14.42, abs=0.01) and clean["e0_spread_ev"] == 8.0
    assert loose["shells"][0]["peaks"][0]["r_err"] > 1.2 * first["r_err"] and "E0 spread +-14.4 eV" in loose["peak_errors_from"]
    assert "peak_errors_from" in clean
    fake = [{"scatterer": "Cu", "peaks": [dict(first), {**first, "r_ref": 3.61, "r_err": 0.9 * first["r_prior_width"]}]}]
    notes = judge_peaks(fake)
    assert [p["r_ref"] for p in fake[0]["peaks"]] == [first["r_ref"]]
    assert fake[0]["undetermined_peaks"][0]["r_ref"] == 3.61 and "do not determine" in fake[0]["undetermined_peaks"][0]["reason"]
    assert any("undetermined_peaks" in n for n in notes)
    # the error quoted adds what no simulation varies (FEFF's phase, an EELS energy scale known to 1 %);
    # the rule still judges what the network reads from the data
    eels = [{"scatterer": "Cu", "peaks": [{**first, "r_err": 0.02}, {**first, "r_ref": 3.61, "r": 3.6,
                                                                     "r_err": 0.6 * first["r_prior_width"]}]}]
    add_systematic_errors(eels, "eels")
    quoted = eels[0]["peaks"][0]
    assert quoted["r_err"] == pytest.approx(np.sqrt(0.02 ** 2 + 0.010 ** 2 + (0.01 * quoted["r"]) ** 2), abs=1e-4)
    assert quoted["r_err_network"] == 0.02 and set(quoted["error_budget"]["r"]) == {"network", "feff_phase",
                                                                                   "eels_energy_scale"}
    judge_peaks(eels)
    assert len(eels[0]["peaks"]) == 2   # 0.6 of the prior's width by the network: answered, whatever is added

