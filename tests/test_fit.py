"""Shell fits (Larch feffit): recovery of known parameters, agreement with a plain Larch feffit, Cu foil."""

import numpy as np
import pytest
from ase.build import bulk

from exelfs.fit import choose_model, fit_shells, n_independent
from exelfs.theory import feff_paths, path_chi


@pytest.fixture(scope="module")
def cu_paths():
    return feff_paths(bulk("Cu", "fcc", a=3.615), "Cu", "K", rmax=4.0)


def _synthetic(paths, dr=0.02, sigma2=0.006, e0=2.0, s02=0.85, noise=0.002, seed=0, l2_shift=None):
    k = np.arange(0, 16, 0.05)
    chi = path_chi(paths[0], k, s02=s02, e0=e0, deltar=dr, sigma2=sigma2)
    chi += path_chi(paths[1], k, s02=s02, e0=e0, deltar=dr * paths[1].reff / paths[0].reff, sigma2=sigma2 * 1.3)
    if l2_shift:  # chi normalised by the L3 + L2 background: (chi_L3 + 0.5 chi_L2) / 1.5
        chi = (chi + 0.5 * path_chi(paths[0], k, s02=s02, e0=e0 + l2_shift, deltar=dr, sigma2=sigma2)) / 1.5
    rng = np.random.default_rng(seed)
    return k, chi + noise * rng.standard_normal(k.size)


def test_n_independent():
    assert n_independent((3, 13), (1, 3)) == pytest.approx(2 * 10 * 2 / np.pi)


def test_recovers_known_first_shell(cu_paths):
    k, chi = _synthetic(cu_paths)
    res = fit_shells(k, chi, cu_paths, (3, 14), kweight=2)
    s = res["shells"][0]
    assert s["scatterer"] == "Cu"
    assert s["r"] == pytest.approx(cu_paths[0].reff + 0.02, abs=0.005)
    assert abs(s["r"] - (cu_paths[0].reff + 0.02)) <= 2 * s["r_err"]
    assert s["sigma2"] == pytest.approx(0.006, abs=0.001)
    assert s["n"] == pytest.approx(12 * 0.85 / 0.9, rel=0.1)
    assert res["n_independent"] == pytest.approx(n_independent(res["k_range"], res["r_range"]), abs=0.01)
    assert res["e0_shift"] == pytest.approx(2.0, abs=1.0)


def test_l2_copy_is_modelled(cu_paths):
    k, chi = _synthetic(cu_paths, l2_shift=20.0)
    with_l2 = fit_shells(k, chi, cu_paths, (3, 14), l2_shift_ev=20.0)
    without = fit_shells(k, chi, cu_paths, (3, 14))
    truth = cu_paths[0].reff + 0.02
    assert abs(with_l2["shells"][0]["r"] - truth) < 0.006
    assert with_l2["chi2_reduced"] < without["chi2_reduced"]


def test_flat_data_warns_honestly(cu_paths):
    k = np.arange(0, 12, 0.05)
    rng = np.random.default_rng(1)
    chi = 0.01 * rng.standard_normal(k.size)  # noise only
    res = fit_shells(k, chi, cu_paths, (3, 11))
    assert res["warnings"], "a fit to pure noise must come with warnings"
    assert res["shells"][0]["r_err"] >= 0.03


def test_short_range_constrains_model(cu_paths):
    model, r_range, mode, nidp = choose_model(cu_paths, (3.0, 6.5))
    assert nidp < 4 + 2 and mode == "fixed_n"
    model, r_range, mode, nidp = choose_model(cu_paths, (3.0, 16.0))
    assert mode == "free"


def test_cu_reference_chi_agrees_with_plain_larch(real_dir, cu_paths):
    from larch import Group
    from larch.fitting import guess, param_group
    from larch.xafs import feffit, feffit_dataset, feffit_transform, feffpath

    from exelfs.io import read_spectrum

    data = read_spectrum(real_dir / "xas_Cu_K_foil_10K_reference_chi.chi")
    k_range = (3.0, 16.0)
    ours = fit_shells(data.k, data.chi, cu_paths, k_range, kweight=2, outer=False)  # the first path alone
    s = ours["shells"][0]
    assert abs(s["r"] - 2.556) <= 0.015
    assert abs(s["r"] - 2.556) <= 2 * s["r_err"]

    # the same fit done by hand with Larch
    pars = param_group(amp=guess(0.9), del_e0=guess(0.0), sig2=guess(0.005), del_r=guess(0.0))
    path = feffpath(cu_paths[0].filename, s02="amp", e0="del_e0", sigma2="sig2", deltar="del_r")
    tr = feffit_transform(kmin=k_range[0], kmax=k_range[1], kweight=2, dk=1, window="hanning",
                          rmin=ours["r_range"][0], rmax=ours["r_range"][1])
    out = feffit(pars, feffit_dataset(data=Group(k=data.k, chi=data.chi), paths={"p1": path}, transform=tr))
    r_larch = cu_paths[0].reff + out.params["del_r"].value
    assert s["r"] == pytest.approx(r_larch, abs=0.002)
