"""The neural-network method: calibration on held-out synthetic data, model files with a checksum, seeded
reproducibility, the pipeline's nn method on a real spectrum, and bad configs. Tiny models throughout."""

import json

import numpy as np
import pytest

from exelfs.errors import InputError
from exelfs.nn import ModelFileError, TrainConfig, default_config, get_model, load_model, train
from exelfs.theory import feff_paths

TINY = {"samples": 10000, "epochs": 8, "calibration_samples": 4000, "seed": 3}


@pytest.fixture(scope="module")
def cu_paths():
    return feff_paths("Cu", "Cu", "K", rmax=5.0)


@pytest.fixture(scope="module")
def cu_model(cu_paths, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("EXELFS_CACHE", str(tmp_path_factory.mktemp("cache")))
    cfg = default_config("Cu", "Cu_K", "xas", **TINY)
    model, notes = get_model(cu_paths, cfg, progress=False)
    return model, notes


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_calibrated_on_held_out_synthetic_data(cu_model):
    model, notes = cu_model
    assert any("trained one on demand" in n for n in notes)
    scores = model.meta["scores"]
    for name in ("r1", "sigma2_1", "r2", "e0_shift"):
        assert abs(scores[name]["coverage_1sigma"] - 0.683) < 0.05, (name, scores[name])
        assert abs(scores[name]["coverage_2sigma"] - 0.954) < 0.05, (name, scores[name])
    # N and S0^2 trade off in the amplitude: their posteriors fill the bounded priors (not Gaussian), so the
    # calibrated 2-sigma interval errs on the wide side
    for name in ("n1", "s02"):
        assert abs(scores[name]["coverage_1sigma"] - 0.683) < 0.05 and scores[name]["coverage_2sigma"] > 0.93
    assert scores["r1"]["mae"] < 0.06  # a guess from the prior alone (+-10 % of 2.55 A) has MAE 0.13 A


def test_batch_contract_and_reconstruction(cu_model, cu_paths):
    from exelfs.nn.data import K_FINE, clean_chi
    from exelfs.theory.shells import group_shells

    model, _ = cu_model
    shells = group_shells(cu_paths)
    p = {"deltar": np.array([[0.02] + [0.02 * s["reff"] / shells[0]["reff"] for s in shells[1:]]]),
         "nscale": np.ones((1, len(shells))), "sigma2": np.full((1, len(shells)), 0.008),
         "s02": np.array([0.9]), "e0": np.array([2.0])}
    chi = clean_chi(cu_paths, shells, p)
    chi = np.vstack([chi, chi[:, ::-1] * 0 + 0.3 * np.sin(7 * K_FINE)[None]])  # a true one, then nonsense
    out = model.batch(cu_paths, K_FINE, chi, (3.0, 13.0))
    assert out["shells"][0]["scatterer"] == "Cu" and abs(out["shells"][0]["r_ref"] - 2.55) < 0.02
    assert abs(out["r1"][0] - (shells[0]["reff"] + 0.02)) < max(0.02, 2 * out["r1_err"][0])
    assert not out["ood"][0] and out["ood"][1]
    assert out["r1"].shape == out["ood"].shape == (2,)


def test_tampered_model_is_refused(cu_model, tmp_path):
    model, _ = cu_model
    folder = model.save(tmp_path / "m")
    assert load_model(folder).names == model.names
    data = bytearray((folder / "weights.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "weights.pt").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        load_model(folder)
    (folder / "meta.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="readable"):
        load_model(folder)


def test_seeded_training_is_reproducible(cu_paths):
    cfg = default_config("Cu", "Cu_K", "xas", samples=1500, epochs=2, calibration_samples=400, seed=11)
    a, b = train(cu_paths, cfg, progress=False), train(cu_paths, cfg, progress=False)
    x = np.random.default_rng(0).normal(size=(4, 103)).astype(np.float32)
    np.testing.assert_array_equal(a.moments(x)[0], b.moments(x)[0])
    assert a.meta["scores"] == b.meta["scores"]


def test_nn_method_on_real_cu_foil(cu_model, real_dir, manifest):
    from exelfs.io import read_spectrum
    from exelfs.pipeline import make_plan, run

    model, _ = cu_model
    entry = next(e for e in manifest if e["file"] == "xas_Cu_K_foil_rt_2016.xdi")
    data = read_spectrum(entry["path"])
    plan = make_plan(data, edge="Cu_K", structure="Cu")
    plan.__dict__["_nn_model"] = model
    res = run(plan, data, method="nn")
    first = res.shells[0]
    assert abs(first["r"] - entry["shells"]["Cu_K"][0]["r"]) < 0.03
    assert first["r_err"] >= 0.01 and first["n_err"] > 0
    j = res.to_json()
    assert j["method"] == "nn" and j["shells"][0]["scatterer"] == "Cu"


def test_bad_config_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('structure = "Cu"\nedge = "Cu_K"\nsamples = 10\n')
    with pytest.raises(InputError, match="samples"):
        TrainConfig.from_toml(bad)
    bad.write_text('structure = "Cu"\nedge = "Cu_K"\n[ranges]\nsigma2 = [0.03, 0.001]\n')
    with pytest.raises(InputError, match="lo <= hi"):
        TrainConfig.from_toml(bad)
    bad.write_text('structure = "Cu"\nedge = "Cu_K"\narchitecture = "transformer"\n')
    with pytest.raises(InputError, match="architecture"):
        TrainConfig.from_toml(bad)
    bad.write_text('structure = "Cu"\nedge = "Cu_K"\nwhatever = 1\n')
    with pytest.raises(InputError, match="unknown"):
        TrainConfig.from_toml(bad)
    bad.write_text("this is = not toml = ")
    with pytest.raises(InputError, match="TOML"):
        TrainConfig.from_toml(bad)
    good = tmp_path / "good.toml"
    good.write_text('structure = "NiO"\nedge = "o_k"\nseed = 4\n[artefacts]\nkmax = [6.0, 10.0]\n')
    cfg = TrainConfig.from_toml(good, samples=2000)
    assert (cfg.edge, cfg.samples, cfg.artefacts.kmax) == ("O_K", 2000, (6.0, 10.0))
    assert json.loads(json.dumps(cfg.to_dict()))["seed"] == 4


def test_train_command_matches_the_plans_paths():
    from exelfs.nn.build import FEFF_RMAX
    from exelfs.pipeline.plan import FEFF_RMAX as PLAN_RMAX

    assert FEFF_RMAX == PLAN_RMAX
