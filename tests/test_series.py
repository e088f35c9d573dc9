"""Temperature series: sigma2(T) with Larch's Einstein / correlated-Debye models, and the real Cu foil at
10, 50 and 150 K (Athena project)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from ase.build import bulk

from exelfs.cli import main
from exelfs.errors import InputError
from exelfs.fit.series import fit_series_joint, fit_sigma2_series
from exelfs.io import read_spectrum
from exelfs.pipeline.series import parse_series
from exelfs.theory import feff_paths, group_shells
from exelfs.simulate.exafs import chi_from_paths
from exelfs.theory.thermal import sigma2_expression, sigma2_thermal

CU_THETA_E = 232.0   # K: Einstein temperature of Cu's first shell from EXAFS (e.g. Fornasini et al.)


@pytest.fixture(scope="module")
def cu_path():
    return group_shells(feff_paths(bulk("Cu", "fcc", a=3.61), "Cu", "K", rmax=3.0))[0]["paths"][0]


def test_einstein_zero_point_of_copper(cu_path):
    # hbar^2 / (2 k_B theta mu) with mu = m_Cu / 2: 24.25 A^2 K amu / (232 K * 31.77 amu) = 0.00329 A^2
    assert sigma2_thermal("einstein", 1.0, CU_THETA_E, cu_path) == pytest.approx(0.00329, abs=2e-5)
    high = sigma2_thermal("einstein", np.array([600.0, 1200.0]), CU_THETA_E, cu_path)
    assert high[1] / high[0] == pytest.approx(2.0, rel=0.02)   # classical limit: linear in T


@pytest.mark.parametrize("model, theta", [("einstein", 232.0), ("debye", 315.0)])
def test_series_fit_recovers_theta_and_static(cu_path, model, theta):
    t = np.array([10.0, 80.0, 150.0, 220.0, 300.0])
    s2 = 0.0007 + sigma2_thermal(model, t, theta, cu_path)
    noise = np.random.default_rng(3).normal(0, 1e-5, t.size)
    out = fit_sigma2_series(t, s2 + noise, np.full(t.size, 1e-5), cu_path, model=model)
    assert out["theta_k"] == pytest.approx(theta, abs=3 * out["theta_err"] + 1)
    assert out["theta_err"] < 10
    assert out["sigma2_static"] == pytest.approx(0.0007, abs=1e-4)


def test_series_fit_refuses_bad_input(cu_path):
    with pytest.raises(InputError, match="at least two"):
        fit_sigma2_series([10.0], [0.003], [1e-4], cu_path)
    with pytest.raises(InputError, match="not all the same"):
        fit_sigma2_series([10.0, 10.0], [0.003, 0.003], [1e-4, 1e-4], cu_path)
    for bad in ("temp=10,20", "temperature=", "temperature=10,x", "temperature=-5,10"):
        with pytest.raises(InputError):
            parse_series(bad)
    assert parse_series("temperature=10,50,150") == ("temperature", [10.0, 50.0, 150.0])


def test_real_cu_foil_einstein_temperature(real_dir, capsys, tmp_path):
    prj = real_dir / "xas_Cu_K_foil_10-50-150K_athena.prj"
    assert read_spectrum(prj, group="cu150k_dat").source.endswith("#cu150k_dat")
    assert main(["analyze", str(prj), "--edge", "Cu_K", "--structure", "Cu", "--series",
                 "temperature=10,50,150", "--json", "--report", str(tmp_path / "series")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [line["temperature_k"] for line in lines[:3]] == [10.0, 50.0, 150.0]
    assert len({tuple(line["k_range"]) for line in lines[:3]}) == 1      # one common k range
    s2 = [line["shells"][0]["sigma2"] for line in lines[:3]]
    assert s2[0] < s2[1] < s2[2]
    series = lines[-1]["series"]
    assert series["model"] == "einstein"
    # one Larch feffit of the three spectra (shared amplitude and E0): 220 +- 11 K measured; the two-step
    # answer (each spectrum alone, then sigma2(T)) is kept beside it, with the wider error it has (209 +- 31 K)
    assert abs(series["theta_k"] - CU_THETA_E) <= 2 * series["theta_err"]
    assert 3 < series["theta_err"] < 25
    assert abs(series["sigma2_static"]) < 3 * series["sigma2_static_err"] + 1e-4
    two = series["two_step"]
    assert abs(two["theta_k"] - CU_THETA_E) <= 2 * two["theta_err"]
    assert series["theta_err"] < two["theta_err"]
    # the report: the sigma2(T) figure, the series as written, and each spectrum's own report
    report = tmp_path / "series"
    assert json.loads((report / "series.json").read_text())["series"]["theta_k"] == series["theta_k"]
    assert (report / "series.png").stat().st_size > 10_000 and f"{series['theta_k']:.1f}" in (report / "index.html").read_text()
    assert all((report / f"{t}K" / "result.json").exists() for t in (10, 50, 150))
    # Larch alone, from the report's files, redoes the joint fit to the same theta
    run = subprocess.run([sys.executable, str(report / "refit_series_larch.py")], capture_output=True, text=True,
                         timeout=300, check=True)
    assert float(run.stdout.split("theta =")[-1].split()[0]) == pytest.approx(series["theta_k"], abs=0.5)
    curve = series["curve"]
    assert curve["sigma2"][0] == pytest.approx(series["sigma2_model"][0], abs=2e-4) and curve["t"][-1] == 180.0
    assert main(["analyze", str(prj), "--edge", "Cu_K", "--structure", "Cu", "--series", "temperature=10,50"]) == 2
    assert "one temperature per spectrum" in capsys.readouterr().err


def test_correlated_errors_make_the_fit_generalised(cu_path):
    # a common offset of 0.0008 A^2 on every point (an error the spectra share) goes into sigma2_static
    # under the correlated covariance; theta stays right and its error reflects the small independent part
    t = np.array([10.0, 50.0, 150.0])
    s2 = 0.0005 + sigma2_thermal("einstein", t, CU_THETA_E, cu_path) + 0.0008
    sd, rho = 6e-4, 0.85
    cov = sd ** 2 * (rho + (1 - rho) * np.eye(3))
    joint = fit_sigma2_series(t, s2, np.full(3, sd), cu_path, covariance=cov)
    alone = fit_sigma2_series(t, s2, np.full(3, sd), cu_path)
    assert joint["theta_k"] == pytest.approx(CU_THETA_E, abs=2)
    assert joint["sigma2_static"] == pytest.approx(0.0013, abs=1e-4)
    assert joint["theta_err"] < 0.5 * alone["theta_err"]
    assert "generalised" in joint["err_from"]
    with pytest.raises(InputError, match="positive definite"):
        fit_sigma2_series(t, s2, np.full(3, sd), cu_path, covariance=np.ones((3, 3)))


def test_real_cu_foil_series_by_the_network(real_dir, capsys):
    # the network's posteriors are combined through their joint error over the series (exelfs.nn.series):
    # 10 K and 50 K spectra err alike, so sigma2 differences are known better than sigma2 itself
    prj = real_dir / "xas_Cu_K_foil_10-50-150K_athena.prj"
    # --method both: the fit's series on top, the network's under "nn", each from its own part of the results
    assert main(["analyze", str(prj), "--edge", "Cu_K", "--structure", "Cu", "--method", "both", "--series",
                 "temperature=10,50,150", "--json"]) == 0
    both = json.loads(capsys.readouterr().out.splitlines()[-1])["series"]
    assert both["method"] == "fit" and abs(both["theta_k"] - CU_THETA_E) <= 2 * both["theta_err"]
    series = both["nn"]
    assert series["method"] == "nn" and series["shell"] == "Cu"
    corr = np.array(series["error_correlation"])
    assert np.all(corr[np.triu_indices(3, 1)] > 0.5)
    assert abs(series["theta_k"] - CU_THETA_E) <= 2 * series["theta_err"]
    assert 3 < series["theta_err"] < 30
    assert all(e < p for e, p in zip(series["sigma2_err"], series["sigma2_posterior_sd"]))


@pytest.fixture(scope="module")
def cu_paths():
    return feff_paths(bulk("Cu", "fcc", a=3.61), "Cu", "K", rmax=4.5)


@pytest.mark.parametrize("model", ["einstein", "debye"])
def test_thermal_expression_is_larchs_sigma2_for_each_path(cu_paths, model):
    # the expression the joint fit hands to Larch, evaluated in Larch's own fit interpreter, against Larch's
    # sigma2_eins / sigma2_debye called with the path: single and multiple scattering (other masses)
    from larch.xafs.sigma2_models import add_sigma2funcs
    from lmfit import Parameters

    params = Parameters()
    add_sigma2funcs(params)
    params.add("theta", value=250.0)
    for path in (cu_paths[0], next(p for p in cu_paths if p.nleg == 3)):
        got = params._asteval(sigma2_expression(model, 80.0, path))
        assert got == pytest.approx(float(sigma2_thermal(model, 80.0, 250.0, path)), rel=1e-6)


def test_joint_series_fit_recovers_the_debye_temperature(cu_paths):
    # synthetic Cu at four temperatures, every path with its own correlated-Debye sigma2 (theta 315 K) plus
    # 0.0004 A^2 static, S0^2 0.9, a 0.005 A expansion, seeded noise: one Larch feffit of all four
    k = np.arange(0, 16.01, 0.05)
    temps = [10.0, 80.0, 150.0, 300.0]
    rng = np.random.default_rng(11)
    data = []
    for t in temps:
        s2 = [0.0004 + float(sigma2_thermal("debye", t, 315.0, p)) for p in cu_paths]
        chi = chi_from_paths(cu_paths, k, {"s02": 0.9, "sigma2": np.array(s2), "alpha": 0.002, "e0": 1.5})
        data.append((k, chi + rng.normal(0, 0.002, k.size)))
    out = fit_series_joint(data, temps, cu_paths, (3.0, 15.0), model="debye")
    assert abs(out["theta_k"] - 315.0) <= max(2 * out["theta_err"], 5.0)
    assert out["theta_err"] < 30
    assert out["sigma2_static"] == pytest.approx(0.0004, abs=3 * out["sigma2_static_err"] + 1e-4)
    assert out["amplitude"] == pytest.approx(0.9, abs=0.05)
    assert not out["on_bound"]
    with pytest.raises(InputError, match="same chi"):
        fit_series_joint([data[0], data[0]], temps[:2], cu_paths, (3.0, 15.0))


def test_joint_series_fit_models_the_l2_copy_of_an_eels_l3_edge():
    # L3 + L2 fine structure (L2 20 eV above, weight 1/2) at three temperatures: modelled, theta and the
    # static sigma2 come back; ignored, the static sigma2 runs negative
    paths = feff_paths(bulk("Cu", "fcc", a=3.61), "Cu", "L3", rmax=4.5)
    k = np.arange(0, 12.01, 0.05)
    temps = [100.0, 300.0, 500.0]
    rng = np.random.default_rng(1)
    data = []
    for t in temps:
        s2 = np.array([0.0004 + float(sigma2_thermal("einstein", t, CU_THETA_E, p)) for p in paths])
        l3, l2 = (chi_from_paths(paths, k, {"s02": 0.9, "sigma2": s2, "e0": e0}) for e0 in (0.0, 20.0))
        data.append((k, (l3 + 0.5 * l2) / 1.5 + rng.normal(0, 0.003, k.size)))
    out = fit_series_joint(data, temps, paths, (3.0, 10.0), l2_shift_ev=20.0)
    assert abs(out["theta_k"] - CU_THETA_E) <= max(2 * out["theta_err"], 5.0)
    assert out["sigma2_static"] == pytest.approx(0.0004, abs=3 * out["sigma2_static_err"] + 2e-4)
    assert fit_series_joint(data, temps, paths, (3.0, 10.0))["sigma2_static"] < -0.001
