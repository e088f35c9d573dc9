"""The main job (`exelfs demo`): the whole chain on the embedded synthetic example, with a known answer."""

import numpy as np

from exelfs.demo import make_example, run_demo


def test_example_is_reproducible():
    a, _, truth = make_example()
    b, _, _ = make_example()
    np.testing.assert_array_equal(a.intensity, b.intensity)
    assert truth[0]["scatterer"] == "O" and truth[0]["n"] == 6


def test_demo_recovers_the_known_answer(tmp_path, capsys):
    out = run_demo(tmp_path / "demo")
    tops = [e["candidates"][0]["element"] + "_" + e["candidates"][0]["edge"]
            for e in out["identification"]["edges"]]
    assert tops[:2] == ["O_K", "Mg_K"]
    assert out["structure"]["shells"][0] == {"scatterer": "O", "r": 2.107, "n": 6}
    first = out["analysis"]["shells"][0]
    truth = out["truth"][0]
    assert first["scatterer"] == "O"
    assert abs(first["r"] - truth["r"]) <= max(0.03, 2 * first["r_err"])
    assert abs(first["r"] - truth["r"]) <= 0.03
    first_peak = next(s["peaks"][0] for s in out["network"].rdf["shells"] if s["scatterer"] == "O")
    assert abs(first_peak["r"] - truth["r"]) < 0.05 and abs(first_peak["n"] / truth["n"] - 1) < 0.35
    for name in ("structure.png", "structure.html", "report/index.html", "example_coreloss.hspy", "rdf.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 1000, name
    assert "against the known answer" in capsys.readouterr().out
