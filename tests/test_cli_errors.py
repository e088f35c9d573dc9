"""Bad input on the command line: exit status 2, exactly one non-empty line on stderr, no traceback.

Most cases run ``exelfs.cli.main`` in-process and capture at the file-descriptor level (capfd), so
library log lines written to the real stderr/stdout are seen too; two run the installed entry point."""

import json
import subprocess
import sys

import numpy as np
import pytest

from exelfs import cli

ENERGY = np.arange(400.0, 900.0, 1.0)
COUNTS = 1e12 * ENERGY ** -2.5 * (1 + 0.3 * (ENERGY > 532))


def _msa_text(energy, counts, values=None):
    lines = ["#FORMAT      : EMSA/MAS Spectral Data File", "#VERSION     : 1.0", "#TITLE       : bad",
             f"#NPOINTS     : {len(energy)}", "#NCOLUMNS    : 1", "#XUNITS      : eV", "#DATATYPE    : XY",
             "#XPERCHAN    : 1.0", f"#OFFSET      : {energy[0]}", "#SPECTRUM    : Spectral Data Starts Here"]
    values = values or [f"{c:.6e}" for c in counts]
    lines += [f"{e:.6e}, {v}" for e, v in zip(energy, values)]
    return "\n".join(lines + ["#ENDOFDATA   : "]) + "\n"


def _bad_files(d):
    """name -> path of each kind of unusable input."""
    files = {}
    (d / "empty.msa").write_text("")
    files["empty"] = d / "empty.msa"
    (d / "garbage.dm3").write_bytes(np.random.default_rng(3).bytes(5000))
    files["binary garbage (.dm3)"] = d / "garbage.dm3"
    (d / "garbage.msa").write_bytes(np.random.default_rng(4).bytes(5000))
    files["binary garbage (.msa)"] = d / "garbage.msa"
    full = _msa_text(ENERGY, COUNTS)
    (d / "truncated.msa").write_text(full[: len(full) // 2])
    files["truncated .msa"] = d / "truncated.msa"
    values = [f"{c:.6e}" for c in COUNTS]
    values[123] = "nan"
    (d / "nan.msa").write_text(_msa_text(ENERGY, COUNTS, values))
    files["NaN values"] = d / "nan.msa"
    values = [f"{c:.6e}" for c in COUNTS]
    values[50] = "overflow"
    (d / "text.msa").write_text(_msa_text(ENERGY, COUNTS, values))
    files["text where numbers belong"] = d / "text.msa"
    (d / "single.txt").write_text("\n".join(f"{c:.4f}" for c in COUNTS) + "\n")
    files["single column"] = d / "single.txt"
    (d / "flat.msa").write_text(_msa_text(ENERGY, np.full(ENERGY.size, 100.0)))
    files["flat line"] = d / "flat.msa"
    files["missing file"] = d / "does_not_exist.msa"
    shuffled = ENERGY.copy()
    shuffled[[200, 201]] = shuffled[[201, 200]]
    (d / "nonmono.csv").write_text("\n".join(f"{e},{c}" for e, c in zip(shuffled, COUNTS)) + "\n")
    files["non-monotonic axis"] = d / "nonmono.csv"
    (d / "spectrum.foo").write_text("1 2\n")
    files["unknown extension"] = d / "spectrum.foo"
    return files


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    return _bad_files(tmp_path_factory.mktemp("bad"))


def _run(argv, capfd):
    capfd.readouterr()
    code = cli.main(argv)
    out, err = capfd.readouterr()
    return code, out, err


def _assert_one_clear_line(code, err, case):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"{case}: exit status {code}, stderr {err!r}"
    assert len(lines) == 1, f"{case}: expected one line on stderr, got {lines}"
    assert "Traceback" not in err
    assert lines[0].startswith("exelfs: error: ") and len(lines[0]) > len("exelfs: error: ") + 10


@pytest.mark.parametrize("case", [
    "empty", "binary garbage (.dm3)", "binary garbage (.msa)", "truncated .msa", "NaN values",
    "text where numbers belong", "single column", "flat line", "missing file", "non-monotonic axis",
    "unknown extension"])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_identify_bad_file(bad_files, case, json_flag, capfd):
    code, out, err = _run(["identify", str(bad_files[case]), *json_flag], capfd)
    _assert_one_clear_line(code, err, case)
    assert out.strip() == ""


@pytest.mark.parametrize("spec", ["Xx", "", "not/a/file.cif", "Qq2O3"])
def test_structure_bad_spec(spec, capfd):
    code, _, err = _run(["structure", spec], capfd)
    _assert_one_clear_line(code, err, f"structure {spec!r}")


def test_structure_bad_cif_file(tmp_path, capfd):
    cif = tmp_path / "broken.cif"
    cif.write_text("data_broken\n_cell_length_a 4.2\nthis is not a CIF loop\n")
    code, _, err = _run(["structure", str(cif)], capfd)
    _assert_one_clear_line(code, err, "broken CIF")


def _entry_point(*args):
    return subprocess.run([sys.executable, "-m", "exelfs", *args], capture_output=True, text=True,
                          timeout=300)


def test_identify_subprocess_truncated(bad_files):
    proc = _entry_point("identify", str(bad_files["truncated .msa"]))
    _assert_one_clear_line(proc.returncode, proc.stderr, "subprocess truncated .msa")
    assert proc.stdout.strip() == ""


def test_structure_subprocess_unknown_element():
    proc = _entry_point("structure", "Xx")
    _assert_one_clear_line(proc.returncode, proc.stderr, "subprocess structure Xx")


def test_identify_json_stdout_is_clean(real_dir):
    """Reading a DM file through HyperSpy must not put log lines on stdout (HyperSpy's logger writes
    there) nor on stderr: --json output has to parse."""
    proc = _entry_point("identify", "--json", str(real_dir / "eels_SrTiO3_TiL_OK_pyTEMlib.dm3"))
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)
    assert proc.stderr.strip() == "", proc.stderr


CHI_FILE = "xas_Cu_K_foil_10K_reference_chi.chi"


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody can write, root included (chattr +i), or skip."""
    d = tmp_path / "ro"
    d.mkdir()
    import os
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a read-only folder here (chattr +i refused)")
    yield d
    subprocess.run(["chattr", "-i", str(d)], capture_output=True)


@pytest.mark.parametrize("where", ["onto a file", "under a file", "read-only folder"])
def test_report_path_checked_first(real_dir, tmp_path, read_only_dir, where, capfd):
    afile = tmp_path / "afile"
    afile.write_text("x")
    target = {"onto a file": afile, "under a file": afile / "sub", "read-only folder": read_only_dir / "rep"}[where]
    code, out, err = _run(["analyze", str(real_dir / CHI_FILE), "--edge", "Cu_K", "--report", str(target)], capfd)
    _assert_one_clear_line(code, err, f"--report {where}")
    assert "--report" in err and out.strip() == ""


def test_image_read_only(read_only_dir, capfd):
    code, _, err = _run(["structure", "Cu", "--image", str(read_only_dir / "c.png")], capfd)
    _assert_one_clear_line(code, err, "--image read-only")


def test_demo_out_onto_file(tmp_path, capfd):
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, err = _run(["demo", "--out", str(afile)], capfd)
    _assert_one_clear_line(code, err, "demo --out onto a file")
    assert afile.read_text() == "x"


@pytest.mark.parametrize("argv", [["analyze", "x.msa", "--method", "bogus"], ["bogus"], [],
                                  ["identify", "x.msa", "--at", "abc"]])
def test_argparse_errors_one_line(argv, capfd):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    _, err = capfd.readouterr()
    _assert_one_clear_line(exc.value.code, err, f"argv {argv}")


def test_identify_at_overflow_and_long_name(tmp_path, capfd):
    msa = tmp_path / "s.msa"
    msa.write_text(_msa_text(ENERGY, COUNTS))
    for argv in (["identify", str(msa), "--at", "1e308"], ["identify", str(tmp_path / ("a" * 300 + ".msa"))]):
        code, _, err = _run(argv, capfd)
        _assert_one_clear_line(code, err, " ".join(argv)[:60])


def test_lower_case_edge_name(real_dir, capfd):
    code, out, err = _run(["analyze", str(real_dir / CHI_FILE), "--edge", "cu_k", "--json"], capfd)
    assert code == 0, err
    assert json.loads(out)["edge"] == "Cu_K"


def test_bad_exelfs_cache(real_dir, tmp_path, monkeypatch, capfd):
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("EXELFS_CACHE", str(afile))
    from exelfs.theory import feff
    monkeypatch.setattr(feff, "_MEMO", {})
    code, _, err = _run(["analyze", str(real_dir / CHI_FILE), "--edge", "Cu_K"], capfd)
    _assert_one_clear_line(code, err, "EXELFS_CACHE is a file")
