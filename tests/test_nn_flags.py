"""The unseen-spectrum flag and the posterior-predictive check: it fires on chi(k) the model cannot make
(another structure, an unmodelled shell), stays quiet on held-out synthetic spectra, and a flagged spectrum
goes to undetermined_shells. The chi-level NiO O K network (source 'chi', trained on demand: ~40 s), its
threshold recomputed as predict does for models saved before the check existed. The default EELS networks,
trained through the chain, set far higher thresholds from the chain's own synthetic misfits, and their check
does not flag these cases: see benchmarks/nn_ppc.py and the README."""

import numpy as np
import pytest

from exelfs.nn import default_config, get_model, train
from exelfs.nn.data import K_FINE, clean_chi, make_set
from exelfs.theory import feff_paths
from exelfs.theory.shells import group_shells

N = 8


def nominal(paths, n, shift=0.0, seed=0):
    """chi(k) of ``paths`` at the crystal's distances (+ shift, A), sigma2 0.006 A^2, S0^2 0.9, E0 within
    +-3 eV, noise 1e-3."""
    rng = np.random.default_rng(seed)
    sh = group_shells(paths)
    p = {"deltar": np.full((n, len(sh)), shift), "nscale": np.ones((n, len(sh))),
         "sigma2": np.full((n, len(sh)), 0.006), "s02": np.full(n, 0.9), "e0": rng.uniform(-3, 3, n)}
    return clean_chi(paths, sh, p), rng


@pytest.fixture(scope="module")
def nio():
    paths = feff_paths("NiO", "O", "K", rmax=5.0)
    model, _ = get_model(paths, default_config("NiO", "O_K", "eels", source="chi"), progress=False)
    model.meta["thresholds"].pop("ppc", None)
    threshold = model.ppc_threshold(paths)  # from its own held-out synthetic spectra
    assert 2.0 < threshold < 40.0
    return model, paths


def test_flag_fires_on_another_structure(nio):
    model, paths = nio
    chi, rng = nominal(feff_paths("Fe", "Fe", "K", rmax=5.0), N)  # bcc Fe: R1 2.48 A, outside NiO's prior
    out = model.batch(paths, K_FINE, chi + 1e-3 * rng.standard_normal(chi.shape), (3.0, 10.0))
    assert out["ood"].mean() >= 0.85, out["flag_ppc"]
    assert all("no spectrum the model was trained on" in r for r in out["ood_reason"] if r)


def test_flag_fires_on_an_unmodelled_shell_not_on_the_crystal(nio):
    model, paths = nio
    chi, rng = nominal(paths, N)
    extra, _ = nominal(paths, N, shift=-0.3)  # every shell doubled 0.3 A shorter
    noise = 1e-3 * rng.standard_normal(chi.shape)
    out = model.batch(paths, K_FINE, np.vstack([chi + noise, chi + extra + noise]), (3.0, 10.0))
    assert not out["ood"][:N].any(), out["flag_ppc"][:N]
    assert out["ood"][N:].mean() >= 0.85, out["flag_ppc"][N:]
    assert np.all(out["flag_ppc"][N:] > 3 * out["flag_ppc"][:N].max())


def test_held_out_synthetic_spectra_are_rarely_flagged(nio):
    model, paths = nio
    held = make_set(paths, model.cfg, 1000, np.random.default_rng(2024), model.l2_shift_ev)
    stats = model.flag_statistics(paths, held["x"], held["xw"], held["noise"], held["p"]["kmin"], held["p"]["kmax"],
                                  refine_above=model.meta["thresholds"]["ppc"])
    flagged = np.mean([r is not None for r in model.ood_reasons(stats, 1000)])
    assert flagged < 0.03
    assert np.median(stats["residual_noise"]) < np.median(stats["misfit_noise"]) * 1.0001  # refining never worsens


def test_flagged_spectrum_is_undetermined_in_the_pipeline(nio):
    from exelfs.pipeline import make_plan, run
    from exelfs.spectrum import ChiData

    model, paths = nio
    fe, rng = nominal(feff_paths("Fe", "Fe", "K", rmax=5.0), 1, seed=5)
    good, _ = nominal(paths, 1, seed=5)
    answers = []
    for chi in (fe[0], good[0]):
        data = ChiData(K_FINE, np.where(K_FINE <= 10.5, chi + 1e-3 * rng.standard_normal(chi.shape), 0.0))
        plan = make_plan(data, edge="O_K", structure="NiO")
        plan.__dict__["_nn_model"] = model
        answers.append(run(plan, data, method="nn"))
    bad, ok = answers
    assert not bad.shells and bad.undetermined_shells[0]["reason"].startswith("unseen by the network")
    assert bad.stats["ppc"]["passed"] is False and bad.stats["ppc"]["statistic"] > bad.stats["ppc"]["threshold"]
    assert ok.shells and ok.stats["ppc"]["passed"] is True and abs(ok.shells[0]["r"] - 2.09) < 0.05


def test_training_stores_the_check_threshold():
    paths = feff_paths("MgO", "O", "K", rmax=5.0)
    cfg = default_config("MgO", "O_K", "eels", samples=4000, epochs=4, calibration_samples=1500, seed=2)
    model = train(paths, cfg, l2_shift_ev=cfg.l2_shift_ev, progress=False)
    t = model.meta["thresholds"]
    assert {"spread", "ppc", "refined_misfit"} <= set(t) and t["ppc"] > 1.0
    assert model.meta["flagged_fraction"] < 0.03
