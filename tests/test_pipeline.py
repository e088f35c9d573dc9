"""The pipeline: each stage visited once, controls honoured and recorded, one honesty rule, typed results
(JSON contract, HyperSpy signals, figures), reports that let Larch redo the fit, batch CLI."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from exelfs import cli
from exelfs.errors import InputError
from exelfs.io import read_spectrum
from exelfs.pipeline import Settings, analyze, make_plan, run, run_pixels
from exelfs.pipeline.honesty import judge

CU = "xas_Cu_K_foil_10K.xdi"
CONTRACT = ("edge", "structure", "method", "e0_ev", "k_range", "shells", "warnings", "n_independent", "n_parameters",
            "e0_shift", "chi2_reduced", "r_factor", "fit_mode", "n_from", "t_lambda", "r_range", "settings")


@pytest.fixture(scope="module")
def cu(real_dir):
    return read_spectrum(real_dir / CU)


@pytest.fixture(scope="module")
def cu_result(cu):
    return analyze(cu, edge="Cu_K", structure="Cu")


def test_each_stage_runs_once(real_dir, monkeypatch):
    """Neither edge nor structure given (EELS MgO): identification once, structure once, FEFF once."""
    import exelfs.edges
    import exelfs.structure
    import exelfs.theory

    calls = {"identify": 0, "reference_atoms": 0, "feff_paths": 0}

    def counted(module, name):
        original = getattr(module, name)

        def wrapper(*a, **k):
            calls[name] += 1
            return original(*a, **k)
        monkeypatch.setattr(module, name, wrapper)

    counted(exelfs.edges, "identify")
    counted(exelfs.structure, "reference_atoms")
    counted(exelfs.theory, "feff_paths")
    res = analyze(read_spectrum(real_dir / "eels_NiO_NiL_OK_atlas.msa"))
    assert calls == {"identify": 1, "reference_atoms": 1, "feff_paths": 1}, calls
    assert res.edge == "O_K" and res.structure == "NiO"
    assert res.settings["edge"]["set_by"] == "auto" and res.settings["structure"]["set_by"] == "auto"


def test_json_contract_and_settings_record(cu_result):
    j = cu_result.to_json()
    for key in CONTRACT:
        assert key in j, key
    s = j["shells"][0]
    assert abs(s["r"] - 2.556) < 0.02 and set(s) >= {"scatterer", "r", "r_err", "n", "n_err", "sigma2", "sigma2_err"}
    assert j["settings"]["kmax"]["set_by"] == "auto" and "noise" in j["settings"]["kmax"]["reason"]
    assert j["settings"]["rbkg"]["value"] == 1.0  # half of 2.55 A, capped at 1 A
    budget = s["error_budget"]["r"]
    # the error bar is the quadrature sum of its parts (no EELS energy-scale term for X-ray data)
    assert s["r_err"] == pytest.approx(np.sqrt(sum(v ** 2 for v in budget.values())), abs=2e-4)
    assert "r_err" in j["error_model"]
    json.dumps(j)


def test_controls_are_used_and_recorded(cu):
    res = analyze(cu, edge="Cu_K", structure="Cu", kmin=3.0, kmax=12.0, kweight=3, rmin=1.7, rmax=3.0, s02=0.85)
    j = res.to_json()
    assert j["k_range"] == [3.0, 12.0] and j["r_range"] == [1.7, 3.0] and j["kweight"] == 3
    assert all(j["settings"][k]["set_by"] == "user" for k in ("kmin", "kmax", "kweight", "rmin", "rmax", "s02"))
    s = j["shells"][0]
    assert s["error_budget"]["n"]["s02_rel"] == 0.0  # S0^2 given: no assumed-S0^2 term
    assert abs(s["r"] - 2.556) < 0.02
    two = analyze(cu, edge="Cu_K", structure="Cu", shells=2)
    assert [x["scatterer"] for x in two.shells] == ["Cu", "Cu"] and abs(two.shells[1]["r"] - 3.61) < 0.05


@pytest.mark.parametrize("controls, match", [({"kmin": 5, "kmax": 6}, "kmax"), ({"kweight": 5}, "kweight"),
                                             ({"s02": float("nan")}, "finite"), ({"rbkg": 4}, "rbkg"),
                                             ({"bogus": 1}, "unknown control")])
def test_bad_controls_are_input_errors(controls, match):
    with pytest.raises(InputError, match=match):
        Settings.from_kwargs(**controls)


def test_honesty_rule_moves_bad_answers():
    good = {"r": 2.0, "r_err": 0.02, "sigma2": 0.005, "scatterer": "O", "flags": {}}
    stats = {"n_independent": 8, "n_parameters": 4, "r_factor": 0.02}
    assert judge([good], stats)[0] == [good]
    for bad_stats, why in [({**stats, "r_factor": 0.6}, "R-factor"), ({**stats, "n_independent": 3}, "independent")]:
        answered, undetermined, _ = judge([good], bad_stats)
        assert not answered and why in undetermined[0]["reason"]
    negative = dict(good, sigma2=-0.006, flags={"sigma2_negative_beyond_error": True})
    assert "negative" in judge([negative], stats)[1][0]["reason"]
    on_bound = dict(good, flags={"amplitude_on_bound": True})
    answered, undetermined, _ = judge([good, on_bound], stats)  # an outer shell alone leaves
    assert answered == [good] and "bound" in undetermined[0]["reason"]


def test_failed_fit_is_not_an_answer(real_dir):
    """MgO Mg K: the fit misses (R-factor ~0.6, sigma2 < 0): undetermined, with the reason."""
    res = analyze(read_spectrum(real_dir / "eels_MgO_MgK_OK_atlas.msa"), edge="Mg_K", structure="MgO")
    assert not res.shells and res.undetermined_shells
    assert "R-factor" in res.undetermined_shells[0]["reason"]


def test_hyperspy_signal_in_and_out(cu_result, real_dir):
    sig = read_spectrum(real_dir / "eels_NiO_NiL_OK_atlas.msa").to_hyperspy()
    res = analyze(sig, edge="O_K", structure="NiO")
    assert res.shells and abs(res.shells[0]["r"] - 2.088) < 0.08
    out = cu_result.to_hyperspy()
    assert set(out) >= {"spectrum", "chi_k", "chi_k_model", "chi_r", "chi_r_model"}
    assert out["chi_r"].axes_manager.signal_axes[0].units == "A"
    r = out["chi_r"].axes_manager.signal_axes[0].axis
    peak = r[np.argmax(np.abs(out["chi_r"].data))]
    assert 2.0 < peak < 2.5  # the Cu first-shell peak sits ~0.3 A below 2.55 A
    fig = cu_result.plot()
    assert len(fig.axes) == 3


def test_report_redoes_the_fit_with_larch(cu_result, tmp_path):
    from exelfs.pipeline.report import write_report

    page = write_report(cu_result, tmp_path / "rep")
    rep = tmp_path / "rep"
    for f in ("index.html", "result.json", "spectrum.png", "chi_k.png", "chi_r.png", "chi_k.dat", "chi_r.dat",
              "refit_larch.py"):
        assert (rep / f).stat().st_size > 300, f
    data = json.loads((rep / "result.json").read_text())
    assert len(data["provenance"]["input_sha256"]) == 64 and data["provenance"]["exelfs_version"]
    assert "Provenance" in page.read_text() and "feff0001.dat" in (rep / "refit_larch.py").read_text()
    out = subprocess.run([sys.executable, str(rep / "refit_larch.py")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    dr = float(out.stdout.split("del_r1")[1].split("=")[1].split("+/-")[0])
    assert abs(2.5527 + dr - cu_result.shells[0]["r"]) < 0.002


def test_pixels_share_one_plan(cu):
    from exelfs.spectrum import Spectrum

    image = Spectrum(cu.energy, np.stack([cu.intensity, cu.intensity * 1.5]), kind="xas")
    plan = make_plan(image, edge="Cu_K", structure="Cu")
    results = run_pixels(plan, image)
    assert results.shape == (2,)
    r = [x.shells[0]["r"] for x in results]
    assert abs(r[0] - r[1]) < 0.005  # mu(E) scaled: same structure
    assert "sum of its spectra" in " ".join(run(plan, image).warnings)


def test_cli_batch_json_lines_and_table(real_dir, tmp_path, capsys):
    files = [str(real_dir / CU), str(real_dir / "xas_Ni_K_foil_rt.xdi"), str(tmp_path / "missing.xdi")]
    table = tmp_path / "t.csv"
    code = cli.main(["analyze", *files, "--edge", "Cu_K", "--structure", "Cu", "--json", "--table", str(table)])
    out = capsys.readouterr()
    lines = [json.loads(x) for x in out.out.splitlines()]
    assert code == 2 and len(lines) == 3 and "error" in lines[2] and "missing.xdi" in out.err
    assert lines[0]["shells"][0]["scatterer"] == "Cu"
    rows = list(csv.DictReader(table.open()))
    assert rows[0]["file"] == files[0] and abs(float(rows[0]["r"]) - 2.55) < 0.02
    # Ni foil analysed as Cu K: refused (the Cu K edge is outside the data), batch goes on
    assert "error" in rows[-1]["status"]


def test_cli_controls_version_and_errors(real_dir, capsys):
    code = cli.main(["analyze", str(real_dir / CU), "--edge", "cu_k", "--structure", "Cu", "--kmax", "12", "--json"])
    j = json.loads(capsys.readouterr().out)
    assert code == 0 and j["edge"] == "Cu_K" and j["k_range"][1] == 12.0 and j["settings"]["kmax"]["set_by"] == "user"
    assert cli.main(["analyze", str(real_dir / CU), "--kweight", "7"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kweight" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and "exelfs" in capsys.readouterr().out


def test_lowloss_must_be_eels(real_dir):
    chi = str(real_dir / "xas_Cu_K_foil_10K_reference_chi.chi")
    code = cli.main(["analyze", str(real_dir / "eels_NiO_NiL_OK_atlas.msa"), "--edge", "O_K", "--structure", "NiO",
                     "--lowloss", chi])
    assert code == 2
