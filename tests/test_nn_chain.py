"""Training through the EELS chain (exelfs.nn.chain): the training set's shapes and seeding, a tiny
chain-trained network reading R1 of synthetic EELS spectra, and the direct mode through the pipeline."""

import numpy as np
import pytest

from exelfs.errors import InputError
from exelfs.nn import default_config, train
from exelfs.nn.chain import make_chain_set
from exelfs.nn.data import K_INPUT
from exelfs.theory import feff_paths

TINY = {"samples": 3000, "epochs": 8, "calibration_samples": 1000, "seed": 5}


@pytest.fixture(scope="module")
def mgo_paths():
    return feff_paths("MgO", "O", "K", rmax=5.0)


def test_chain_set_shapes_and_seeding(mgo_paths):
    for mode in ("windowed", "direct"):
        cfg = default_config("MgO", "O_K", "eels", source="eels", input_mode=mode)
        a = make_chain_set(mgo_paths, cfg, 120, np.random.default_rng(1))
        b = make_chain_set(mgo_paths, cfg, 120, np.random.default_rng(1))
        c = make_chain_set(mgo_paths, cfg, 120, np.random.default_rng(2))
        assert a["x"].shape == (120, K_INPUT.size + 2) and a["xw"].shape == (120, K_INPUT.size)
        assert a["y"].shape == (120, len(a["names"])) and a["names"][0] == "r1" and a["noise"].shape == (120,)
        assert np.isfinite(a["x"]).all() and np.isfinite(a["y"]).all() and (a["noise"] > 0).all()
        np.testing.assert_array_equal(a["x"], b["x"])
        assert not np.allclose(a["x"], c["x"])
        # delta E0 is referred to the E0 the extraction finds: it stays within some eV of the prior's +-10
        e0 = a["y"][:, a["names"].index("e0_shift")]
        assert np.median(np.abs(e0)) < 8.0 and np.abs(e0).max() < 40.0


def test_config_switch_is_checked():
    with pytest.raises(InputError, match="direct"):
        default_config("MgO", "O_K", "eels", source="chi", input_mode="direct")
    assert default_config("MgO", "O_K", "eels").source == "eels"  # EELS networks learn through the chain
    assert default_config("Cu", "Cu_K", "xas").source == "chi"
    with pytest.raises(InputError, match="kind"):
        default_config("Cu", "Cu_K", "xas", source="eels")
    # the default recipe's name does not change with the new key
    assert "source" not in default_config("MgO", "O_K", "eels", source="chi").to_dict()


@pytest.fixture(scope="module")
def chain_model(mgo_paths):
    cfg = default_config("MgO", "O_K", "eels", source="eels", **TINY)
    return train(mgo_paths, cfg, progress=False)


def test_chain_model_reads_synthetic_eels_r1(chain_model, mgo_paths):
    """A network trained on 3000 chain spectra reads R1 of fresh synthetic EELS spectra (the forward model's
    nuisances: plural scattering, resolution, 1e3-1e6 counts, near-edge peaks; the batched extraction)
    with MAE below 0.095 A and 20 % below the prior's (R1 +-10 % +-0.05 A around 2.106 A: ~0.12 A); the
    full recipe (30000 spectra) reaches 0.062 A (benchmarks/nn_modes.py)."""
    test = make_chain_set(mgo_paths, chain_model.cfg, 600, np.random.default_rng(99))
    mean, sigma, _ = chain_model.moments(test["x"])
    err = np.abs(mean[:, 0] - test["y"][:, 0])
    prior = np.mean(np.abs(test["y"][:, 0] - np.median(test["y"][:, 0])))
    assert prior > 0.09
    assert np.mean(err) < min(0.095, 0.8 * prior), (np.mean(err), prior)
    assert 0.55 < np.mean(err <= sigma[:, 0]) < 0.82, np.mean(err <= sigma[:, 0])  # calibrated 1-sigma


def test_direct_mode_through_the_pipeline(mgo_paths):
    """A direct-mode network gets the power-law-subtracted spectrum from the pipeline and answers; given
    chi(k) alone it says what it needs."""
    from exelfs.nn.data import K_FINE, clean_chi
    from exelfs.pipeline import make_plan, run
    from exelfs.simulate.batch import training_config
    from exelfs.simulate.eels import eels_spectrum
    from exelfs.theory.shells import group_shells

    cfg = default_config("MgO", "O_K", "eels", source="eels", input_mode="direct",
                         **{**TINY, "samples": 2000, "epochs": 4})
    model = train(mgo_paths, cfg, progress=False)
    shells = group_shells(mgo_paths)
    p = {"deltar": np.zeros((1, len(shells))), "nscale": np.ones((1, len(shells))),
         "sigma2": np.full((1, len(shells)), 0.006), "s02": np.array([0.85]), "e0": np.array([0.0])}
    chi = clean_chi(mgo_paths, shells, p)[0]
    spec = eels_spectrum(K_FINE, chi, training_config(edge="O_K", e_before=100, e_after=700, channel_width=1.0,
                                                      counts=3e5, lowloss=False, t_lambda=0.3), seed=4)
    plan = make_plan(spec, edge="O_K", structure="MgO")
    plan.__dict__["_nn_model"] = model
    res = run(plan, spec, method="nn")
    first = (res.shells + res.undetermined_shells)[0]
    assert res.stats["network"]["input_mode"] == "direct"
    assert abs(first["r"] - 2.106) < 0.2 and first["r_err"] > 0
    with pytest.raises(InputError, match="direct mode"):
        model.batch(mgo_paths, K_FINE, chi[None], (2.0, 10.0))
