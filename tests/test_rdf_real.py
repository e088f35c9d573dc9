"""The default partial-RDF network on a real spectrum (apart from test_rdf.py, whose tiny-network fixture
replaces the default recipe while that module runs)."""


def test_real_ni_foil_first_peak_with_its_error(manifest, tmp_path, monkeypatch):
    """The default RDF network (trained here, about a minute) on the real Ni K foil: the first peak at the
    reference distance within 0.03 A and 3 quoted errors, its area within 20 % of N = 12 and 3 errors."""
    from exelfs.io import read_spectrum
    from exelfs.pipeline import analyze

    monkeypatch.setenv("EXELFS_CACHE", str(tmp_path / "cache"))
    entry = next(e for e in manifest if e["file"] == "xas_Ni_K_foil_rt.xdi")
    ref = entry["shells"]["Ni_K"][0]
    res = analyze(read_spectrum(entry["path"]), edge="Ni_K", structure=entry["structure"], method="nn", rdf=True)
    assert res.rdf["unseen"] is False
    first = res.rdf["shells"][0]["peaks"][0]
    assert abs(first["r"] - ref["r"]) < min(0.03, 3 * first["r_err"] + 0.005) and first["r_err"] < 0.03
    assert abs(first["n"] / ref["n"] - 1) < 0.2 and abs(first["n"] - ref["n"]) < 3 * first["n_err"]
    assert first["r_err"] < 0.3 * first["r_prior_width"]  # X-ray to 14 1/A: the data, not the prior, place the peak
