"""exelfs.io.read_spectrum: every real file reads with the right axis; real-file quirks are repaired or
refused with one sentence; input files are never modified."""

import hashlib

import numpy as np
import pytest

from exelfs.errors import InputError
from exelfs.io import read_spectrum
from exelfs.spectrum import ChiData, Spectrum

# file -> (navigation+signal shape, first eV, last eV, channel width eV) after the reader's repairs
EXPECTED = {
    # 10 placeholder channels (0.1), 5 start-up channels and the corrupted last channel dropped
    "eels_GaAs_GaL_AsL_atlas.msa": ((1008,), -80.8, 1953.34, 2.02),
    # 9 placeholders (352-368 eV), 5 start-up channels (370-378 eV), last channel (2398 eV) dropped
    "eels_MgO_MgK_OK_atlas.msa": ((1009,), 380.0, 2396.0, 2.0),
    "eels_NiO_NiL_OK_atlas.msa": ((1012,), 406.0, 1417.0, 1.0),
    "eels_SI2x2_300-2348eV_rsciio.dm4": ((2, 2, 2048), 300.0, 2347.0, 1.0),
    "eels_SrTiO3_TiL_OK_pyTEMlib.dm3": ((2048,), 350.0, 861.75, 0.25),
    "eels_exspy_coreloss_360-770eV.msa": ((2048,), 360.0, 769.4, 0.2),
    "eels_hBN_BK_NK_SI200_HLmulti_02_cal.dm3": ((200, 1024), 113.5, 625.0, 0.5),
    # EELS DB copy: first (113.5 eV) and last (625 eV) channels are corrupted readouts
    "eels_hBN_BK_NK_eelsdb_Bertoni.msa": ((1022,), 114.0, 624.5, 0.5),
    "eels_hBN_BK_deconv.msa": ((1024,), 113.5, 625.0, 0.5),
    "eels_hBN_lowloss_LL_02_cal.msa": ((1024,), -61.5, 450.0, 0.5),
    "xas_Cu_K_foil_10-50-150K_athena.prj": ((612,), 8786.204, 11362.47, None),
    "xas_Cu_K_foil_10K.xdi": ((612,), 8786.204, 11362.47, None),
    "xas_Cu_K_foil_rt_2016.xdi": ((532,), 8879.0, 9622.887, 0.1),
    "xas_Fe_K_foil_rt_2016.xdi": ((532,), 7012.0, 7755.887, 0.1),
    "xas_Ni_K_foil_rt.xdi": ((418,), 8133.0, 9567.435, None),
    "xas_Pt_L3_foil_rt.xdi": ((418,), 11364.0, 12798.43, None),
    "xas_Zn_K_foil_rt.xdi": ((526,), 9584.0, 10302.886764, 0.1),
}

# XAS files: (element, edge, tabulated X-ray edge energy eV) -- the steepest rise of mu(E) lies there
XAS_EDGES = {
    "xas_Cu_K_foil_10-50-150K_athena.prj": ("Cu", "K", 8979.0),
    "xas_Cu_K_foil_10K.xdi": ("Cu", "K", 8979.0),
    "xas_Cu_K_foil_rt_2016.xdi": ("Cu", "K", 8979.0),
    "xas_Fe_K_foil_rt_2016.xdi": ("Fe", "K", 7112.0),
    "xas_Ni_K_foil_rt.xdi": ("Ni", "K", 8333.0),
    "xas_Pt_L3_foil_rt.xdi": ("Pt", "L3", 11564.0),
    "xas_Zn_K_foil_rt.xdi": ("Zn", "K", 9659.0),
}


@pytest.fixture(scope="module")
def real(manifest):
    """Every real file read once: {file name: result}."""
    return {e["file"]: read_spectrum(e["path"]) for e in manifest}


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- real files


def test_every_real_file_reads(manifest, real):
    for entry in manifest:
        s = real[entry["file"]]
        if entry["kind"] == "chi":
            assert isinstance(s, ChiData)
            continue
        assert isinstance(s, Spectrum), entry["file"]
        assert s.kind == ("xas" if entry["kind"].startswith("xas") else "eels"), entry["file"]
        assert np.all(np.diff(s.energy) > 0) and np.all(np.isfinite(s.intensity)), entry["file"]
        assert isinstance(s.metadata["warnings"], list)
        if entry["kind"] == "eels-spectrum-image":
            assert s.nav_shape, entry["file"]
        if entry["file"] in EXPECTED:
            shape, first, last, width = EXPECTED[entry["file"]]
            assert s.intensity.shape == shape, entry["file"]
            assert s.energy[0] == pytest.approx(first, abs=1e-3), entry["file"]
            assert s.energy[-1] == pytest.approx(last, abs=1e-3), entry["file"]
            if width is not None:
                assert s.channel_width == pytest.approx(width, rel=1e-4), entry["file"]


def test_reading_never_modifies_input(manifest):
    before = {e["file"]: _sha(e["path"]) for e in manifest}
    for e in manifest:
        read_spectrum(e["path"])
    assert {e["file"]: _sha(e["path"]) for e in manifest} == before


def test_atlas_placeholders_dropped(real):
    """The serial-EELS atlas files pad unrecorded channels with 0.1: none may survive."""
    for name, n in (("eels_MgO_MgK_OK_atlas.msa", 9), ("eels_NiO_NiL_OK_atlas.msa", 11),
                    ("eels_GaAs_GaL_AsL_atlas.msa", 10)):
        s = real[name]
        assert s.metadata["placeholder_channels"] == n
        assert not np.any(s.intensity == 0.1), name
        assert any("placeholder" in w for w in s.metadata["warnings"])
    mgo = real["eels_MgO_MgK_OK_atlas.msa"]
    assert mgo.intensity[0] == 1103630.0  # 380 eV: first channel after the start-up ramp
    assert mgo.intensity[-1] == 4060.0  # 2396 eV: the 2398 eV readout spike (17335) is gone
    nio = real["eels_NiO_NiL_OK_atlas.msa"]
    assert nio.intensity[-1] == 19912.0  # the 9.65e-35 last channel is gone


def test_gaas_zero_loss_and_gain_step_recorded(real):
    """GaAs atlas: a zero-loss peak at 0 eV (kept) and a serial-detector gain change near 176 eV."""
    s = real["eels_GaAs_GaL_AsL_atlas.msa"]
    zlp = s.metadata["zero_loss_peak"]
    assert abs(zlp["position_ev"]) < 2.1 and 2.0 <= zlp["fwhm_ev"] <= 6.1
    assert s.intensity[np.argmin(np.abs(s.energy))] == 1734370.0  # kept
    (step,) = s.metadata["gain_steps"]
    assert 172 <= step["energy_ev"] <= 182 and step["factor"] > 100
    assert any("gain" in w for w in s.metadata["warnings"])
    # the other real spectra have no gain steps: real edges (hBN B K, Ni L3 white line) are not flagged
    for name in ("eels_NiO_NiL_OK_atlas.msa", "eels_MgO_MgK_OK_atlas.msa", "eels_hBN_BK_deconv.msa",
                 "eels_hBN_BK_NK_eelsdb_Bertoni.msa", "eels_hBN_BK_NK_SI200_HLmulti_02_cal.dm3",
                 "eels_SrTiO3_TiL_OK_pyTEMlib.dm3"):
        assert "gain_steps" not in real[name].metadata, name


def test_lowloss_zero_loss_peak(real):
    s = real["eels_hBN_lowloss_LL_02_cal.msa"]
    zlp = s.metadata["zero_loss_peak"]
    assert abs(zlp["position_ev"]) < 0.5 and zlp["fwhm_ev"] < 3.0
    assert "zero_loss_peak" not in real["eels_MgO_MgK_OK_atlas.msa"].metadata


def test_acquisition_metadata(real):
    sto = real["eels_SrTiO3_TiL_OK_pyTEMlib.dm3"]
    assert (sto.beam_energy_kev, sto.convergence_mrad, sto.collection_mrad) == (200.0, 30.0, 33.0)
    si = real["eels_SI2x2_300-2348eV_rsciio.dm4"]
    assert (si.beam_energy_kev, si.convergence_mrad, si.collection_mrad) == (200.0, 21.0, 62.0)
    assert [a["size"] for a in si.metadata["navigation_axes"]] == [2, 2]
    mgo = real["eels_MgO_MgK_OK_atlas.msa"]
    assert mgo.beam_energy_kev is None  # the atlas files carry no acquisition metadata


def test_spectrum_image_keeps_navigation(real):
    hbn = real["eels_hBN_BK_NK_SI200_HLmulti_02_cal.dm3"]
    assert hbn.nav_shape == (200,)
    assert hbn.summed().intensity.shape == (1024,)


def test_xas_headers_and_mu(real):
    for name, (element, edge, e_edge) in XAS_EDGES.items():
        s = real[name]
        assert s.kind == "xas"
        assert (s.metadata["element"], s.metadata["edge"]) == (element, edge), name
        # mu(E) rises at the tabulated edge: the steepest point within 3 eV of it
        steepest = s.energy[np.argmax(np.gradient(s.intensity, s.energy))]
        assert abs(steepest - e_edge) < 3.0, name
        assert s.intensity[-1] > s.intensity[0], name  # absorption above the edge exceeds below
    assert real["xas_Cu_K_foil_10K.xdi"].metadata["e0"] == 8980.0
    assert real["xas_Cu_K_foil_10K.xdi"].metadata["mu_from"] == "mutrans"
    assert real["xas_Pt_L3_foil_rt.xdi"].metadata["e0"] == 11563.0
    assert real["xas_Zn_K_foil_rt.xdi"].metadata["mu_from"] == "ln(i0/itrans)"


def test_xdi_mu_equals_larch(real_dir, real):
    """Transmission mu = ln(i0/itrans), as Larch computes it."""
    from larch.io import read_xdi

    for name in ("xas_Zn_K_foil_rt.xdi", "xas_Ni_K_foil_rt.xdi", "xas_Cu_K_foil_rt_2016.xdi"):
        g = read_xdi(str(real_dir / name))
        np.testing.assert_allclose(real[name].intensity, np.log(g.i0 / g.itrans), rtol=1e-12)


def test_athena_project(real):
    s = real["xas_Cu_K_foil_10-50-150K_athena.prj"]
    assert s.metadata["groups"] == ["cu010k_dat", "cu050k_dat", "cu150k_dat"]
    assert s.metadata["group"] == "cu010k_dat"
    assert s.metadata["e0"] == pytest.approx(8977.58)
    # the 10 K group is the same measurement as the 10 K XDI file
    np.testing.assert_allclose(s.intensity, real["xas_Cu_K_foil_10K.xdi"].intensity, rtol=1e-6)


def test_chi_file(real):
    chi = real["xas_Cu_K_foil_10K_reference_chi.chi"]
    assert chi.k.size == 500
    assert chi.k[0] == pytest.approx(0.0) and chi.k[-1] == pytest.approx(24.95)
    assert np.diff(chi.k) == pytest.approx(np.full(499, 0.05), abs=1e-5)
    assert chi.metadata["e0"] == pytest.approx(8982.61)
    assert chi.chi[1] == pytest.approx(-0.1383775)


def test_hyperspy_round_trip(real, tmp_path):
    """Spectrum -> HyperSpy signal -> .hspy file -> read_spectrum keeps numbers, axis and metadata."""
    for name in ("eels_SI2x2_300-2348eV_rsciio.dm4", "eels_SrTiO3_TiL_OK_pyTEMlib.dm3"):
        s = real[name]
        sig = s.to_hyperspy()
        assert sig.data.shape == s.intensity.shape
        back = Spectrum.from_hyperspy(sig)
        np.testing.assert_allclose(back.energy, s.energy)
        np.testing.assert_array_equal(back.intensity, s.intensity)
        out = tmp_path / (name + ".hspy")
        sig.save(str(out))
        again = read_spectrum(out)
        np.testing.assert_allclose(again.energy, s.energy)
        np.testing.assert_allclose(again.intensity, s.intensity)
        assert (again.beam_energy_kev, again.convergence_mrad, again.collection_mrad) == (
            s.beam_energy_kev, s.convergence_mrad, s.collection_mrad)


# ---------------------------------------------------------------- synthetic quirk files


def _msa(path, energy, counts, xunits="eV", datatype="XY", extra=""):
    lines = ["#FORMAT      : EMSA/MAS Spectral Data File", "#VERSION     : 1.0", "#TITLE       : test",
             f"#NPOINTS     : {len(counts)}", "#NCOLUMNS    : 1", f"#XUNITS      : {xunits}",
             f"#DATATYPE    : {datatype}", f"#XPERCHAN    : {energy[1] - energy[0]}",
             f"#OFFSET      : {energy[0]}"]
    if extra:
        lines.append(extra)
    lines.append("#SPECTRUM    : Spectral Data Starts Here")
    if datatype == "XY":
        lines += [f"{e:.6e}, {c:.6e}" for e, c in zip(energy, counts)]
    else:
        lines += [f"{c:.6e}" for c in counts]
    lines.append("#ENDOFDATA   : ")
    path.write_text("\n".join(lines) + "\n")
    return path


def _core_loss(energy):
    """A power-law background with an edge at 532 eV (counts)."""
    rng = np.random.default_rng(0)
    y = 1e12 * energy ** -2.5 * (1 + 0.3 * (energy > 532) * (energy / 532.0) ** -1)
    return y * (1 + 0.001 * rng.standard_normal(energy.size))


def test_kev_axis_with_units(tmp_path):
    e_kev = np.round(np.arange(0.4, 0.9, 0.001), 6)
    s = read_spectrum(_msa(tmp_path / "kev.msa", e_kev, _core_loss(e_kev * 1000), xunits="keV"))
    assert s.energy[0] == pytest.approx(400.0) and s.energy[-1] == pytest.approx(899.0)
    assert s.channel_width == pytest.approx(1.0)
    assert any("keV" in w for w in s.metadata["warnings"])


def test_kev_axis_without_units_is_converted_with_warning(tmp_path):
    e_kev = np.round(np.arange(0.4, 0.9, 0.0005), 6)
    y = _core_loss(e_kev * 1000)
    path = tmp_path / "kev.txt"
    np.savetxt(path, np.c_[e_kev, y])
    s = read_spectrum(path)
    assert s.energy[0] == pytest.approx(400.0) and s.channel_width == pytest.approx(0.5)
    assert any("look like keV" in w for w in s.metadata["warnings"])


def test_descending_axis_reversed(tmp_path):
    energy = np.arange(400.0, 900.0, 1.0)
    y = _core_loss(energy)
    s = read_spectrum(_msa(tmp_path / "desc.msa", energy[::-1], y[::-1]))
    np.testing.assert_allclose(s.energy, energy)
    np.testing.assert_allclose(s.intensity, y, rtol=1e-6)
    assert any("descending" in w for w in s.metadata["warnings"])
    path = tmp_path / "desc.csv"
    np.savetxt(path, np.c_[energy[::-1], y[::-1]], delimiter=",", header="energy_eV,counts")
    t = read_spectrum(path)
    np.testing.assert_allclose(t.energy, energy)
    np.testing.assert_allclose(t.intensity, y)


@pytest.mark.parametrize("pad", [-1.0, 0.1])
def test_placeholder_channels_dropped(tmp_path, pad):
    energy = np.arange(400.0, 900.0, 1.0)
    y = _core_loss(energy)
    y[:12] = pad
    s = read_spectrum(_msa(tmp_path / "pad.msa", energy, y))
    assert s.energy[0] == 412.0 and s.metadata["placeholder_channels"] == 12
    np.testing.assert_allclose(s.intensity, y[12:], rtol=1e-6)


def test_emsa_y_datatype_defines_axis(tmp_path):
    energy = 300.0 + 0.25 * np.arange(800)
    s = read_spectrum(_msa(tmp_path / "y.msa", energy, _core_loss(energy), datatype="Y",
                           extra="#BEAMKV   -kV: 300.0\n#COLLANGLE-mrad: 2.55"))
    assert s.energy[0] == 300.0 and s.channel_width == 0.25 and s.intensity.size == 800
    assert s.beam_energy_kev == 300.0 and s.collection_mrad == 2.55


def test_zero_loss_kept_in_core_loss_spectrum(tmp_path):
    energy = np.arange(-50.0, 800.0, 1.0)
    y = 1e7 * np.exp(-0.5 * (energy / 1.0) ** 2) + 1e4 * np.clip(energy, 5, None) ** -0.5 + 50
    s = read_spectrum(_msa(tmp_path / "zlp.msa", energy, y))
    assert s.energy[0] == -50.0 and s.intensity.size == energy.size
    assert s.metadata["zero_loss_peak"]["position_ev"] == 0.0
    assert any("zero-loss" in w for w in s.metadata["warnings"])


def test_gain_step_warned(tmp_path):
    energy = np.arange(200.0, 1200.0, 2.0)
    y = _core_loss(energy)
    y[energy >= 600] *= 20.0  # a serial detector switching gain at 600 eV
    s = read_spectrum(_msa(tmp_path / "gain.msa", energy, y))
    (step,) = s.metadata["gain_steps"]
    assert abs(step["energy_ev"] - 600) <= 6 and step["factor"] == pytest.approx(20, rel=0.3)
    assert any("gain" in w for w in s.metadata["warnings"])
    np.testing.assert_allclose(s.intensity, y, rtol=1e-6)  # data left as is


def test_plain_text_with_header_and_xas_columns(tmp_path):
    energy = np.arange(8800.0, 9600.0, 2.0)
    mu = 0.5 + 1.0 / (1 + np.exp(-(energy - 8979) / 2.0))
    i0 = np.full(energy.size, 1e5)
    path = tmp_path / "cu.dat"
    np.savetxt(path, np.c_[energy, i0, i0 * np.exp(-mu)], header="energy i0 itrans")
    s = read_spectrum(path)
    assert s.kind == "xas" and s.metadata["mu_from"] == "ln(i0/itrans)"
    np.testing.assert_allclose(s.intensity, mu, rtol=1e-9)
    xmu = tmp_path / "cu.xmu"
    np.savetxt(xmu, np.c_[energy, mu], header="energy mu")
    t = read_spectrum(xmu)
    assert t.kind == "xas" and t.metadata["mu_from"] == "mu"
    np.testing.assert_allclose(t.intensity, mu)


def test_xdi_fluorescence_and_duplicates(tmp_path):
    energy = np.arange(7000.0, 7600.0, 2.0)
    energy = np.insert(energy, 50, energy[50])  # a repeated energy point
    mu = 0.2 + 1.0 / (1 + np.exp(-(energy - 7112) / 2.0))
    i0 = np.full(energy.size, 2e5)
    body = "\n".join(f"{e:.3f} {a:.3f} {b:.6f}" for e, a, b in zip(energy, i0, i0 * mu))
    path = tmp_path / "fe.xdi"
    path.write_text("# XDI/1.0\n# Column.1: energy eV\n# Column.2: i0\n# Column.3: ifluor\n"
                    "# Element.symbol: Fe\n# Element.edge: K\n# ///\n#----\n# energy i0 ifluor\n" + body + "\n")
    s = read_spectrum(path)
    assert s.metadata["mu_from"] == "ifluor/i0" and s.metadata["element"] == "Fe"
    assert s.energy.size == energy.size - 1 and np.all(np.diff(s.energy) > 0)
    assert any("repeated" in w for w in s.metadata["warnings"])


# ---------------------------------------------------------------- refusals


def _refuses(path, *words):
    with pytest.raises(InputError) as info:
        read_spectrum(path)
    msg = str(info.value)
    assert msg and "\n" not in msg
    for w in words:
        assert w in msg.lower(), msg
    return msg


def test_refusals(tmp_path):
    energy = np.arange(400.0, 900.0, 1.0)
    y = _core_loss(energy)

    _refuses(tmp_path / "missing.msa", "no such file")
    (tmp_path / "empty.msa").write_text("")
    _refuses(tmp_path / "empty.msa", "empty")
    (tmp_path / "garbage.msa").write_bytes(np.random.default_rng(1).bytes(4000))
    _refuses(tmp_path / "garbage.msa", "not a text file")
    (tmp_path / "spectrum.xyz").write_text("1 2\n3 4\n")
    _refuses(tmp_path / "spectrum.xyz", "unknown file type")

    full = _msa(tmp_path / "full.msa", energy, y).read_text()
    (tmp_path / "trunc.msa").write_text(full[: len(full) // 2])
    _refuses(tmp_path / "trunc.msa", "truncated")

    bad = y.copy()
    bad[100] = np.nan
    _refuses(_msa(tmp_path / "nan.msa", energy, bad), "nan")
    bad[100] = np.inf
    _refuses(_msa(tmp_path / "inf.msa", energy, bad), "infinite")

    text = full.replace(f"{energy[200]:.6e}, {y[200]:.6e}", f"{energy[200]:.6e}, counts")
    (tmp_path / "text.msa").write_text(text)
    _refuses(tmp_path / "text.msa", "line", "counts")

    (tmp_path / "single.txt").write_text("\n".join(f"{v:.3f}" for v in y))
    _refuses(tmp_path / "single.txt", "single column")

    _refuses(_msa(tmp_path / "flat.msa", energy, np.full(energy.size, 7.0)), "flat")
    _refuses(_msa(tmp_path / "short.msa", energy[:8], y[:8]), "too few")

    shuffled = energy.copy()
    shuffled[[100, 101]] = shuffled[[101, 100]]
    _refuses(_msa(tmp_path / "nonmono.msa", shuffled, y), "not monotonic")

    (tmp_path / "garbage.dm3").write_bytes(b"\x00\x00\x00\x07" + bytes(1000))
    _refuses(tmp_path / "garbage.dm3", "digitalmicrograph")
    (tmp_path / "garbage.hspy").write_bytes(b"not an hdf5 file" * 10)
    _refuses(tmp_path / "garbage.hspy", "hdf5")
    (tmp_path / "garbage.xdi").write_text("# XDI/1.0\n# Column.1: energy eV\n1 2\n")
    _refuses(tmp_path / "garbage.xdi")
    (tmp_path / "garbage.prj").write_text("hello\n")
    _refuses(tmp_path / "garbage.prj", "athena")
    (tmp_path / "folder.msa").mkdir()
    _refuses(tmp_path / "folder.msa", "folder")


def test_truncated_real_binary_files(real_dir, tmp_path):
    for name in ("eels_SrTiO3_TiL_OK_pyTEMlib.dm3", "eels_SI2x2_300-2348eV_rsciio.dm4"):
        raw = (real_dir / name).read_bytes()
        cut = tmp_path / name
        cut.write_bytes(raw[: len(raw) // 3])
        _refuses(cut)


def test_unknown_xas_columns_refused(tmp_path):
    energy = np.arange(8800.0, 9600.0, 2.0)
    path = tmp_path / "x.xmu"
    np.savetxt(path, np.c_[energy, energy, energy], header="energy foo bar")
    _refuses(path, "mu(e)")


_E = np.arange(400.0, 900.0, 1.0)
_Y = 1e12 * _E ** -2.5 * (1 + 0.3 * (_E > 532))


def test_lenient_text_quirks(tmp_path, real_dir):
    """UTF-8 BOM, UTF-16, decimal commas with semicolons, a trailing line of text, EMSA one short of NPOINTS."""
    rows = "".join(f"{a},{b:.6e}\n" for a, b in zip(_E, _Y))
    cases = {"u16.csv": ("energy,counts\n" + rows).encode("utf-16"),
             "dc.csv": ("energy;counts\n" + "".join(f"{a:.1f};{b:.2f}\n".replace(".", ",")
                                                    for a, b in zip(_E, _Y))).encode(),
             "tail.csv": ("energy,counts\n" + rows + "End of data\n").encode()}
    mgo = (real_dir / "eels_MgO_MgK_OK_atlas.msa").read_text()
    cases["bom.msa"] = b"\xef\xbb\xbf" + mgo.encode()
    cases["npoints.msa"] = mgo.replace("#NPOINTS     : 1024", "#NPOINTS     : 1025").encode()
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        s = read_spectrum(tmp_path / name)
        if name.endswith(".csv"):
            assert np.allclose(s.energy, _E) and np.allclose(s.intensity, _Y, rtol=1e-3), name
            assert s.metadata["warnings"], name
        else:
            assert s.energy.size > 900, name


def test_truncated_xdi_and_inverted_mu_refused(real_dir, tmp_path):
    text = (real_dir / "xas_Cu_K_foil_rt_2016.xdi").read_text().rstrip("\n")
    (tmp_path / "cut.xdi").write_text(text[:-4])
    with pytest.raises(InputError, match="truncated"):
        read_spectrum(tmp_path / "cut.xdi")
    s = read_spectrum(real_dir / "xas_Cu_K_foil_rt_2016.xdi")
    (tmp_path / "neg.xmu").write_text("# energy mu\n" + "".join(f"{a} {-b}\n" for a, b in zip(s.energy, s.intensity)))
    with pytest.raises(InputError, match="inverted"):
        read_spectrum(tmp_path / "neg.xmu")


def test_oversized_text_refused(tmp_path, monkeypatch):
    from exelfs.io import text
    monkeypatch.setattr(text, "MAX_TEXT_LINES", 100)
    (tmp_path / "big.txt").write_text("".join(f"{a} {b}\n" for a, b in zip(_E, _Y)))
    with pytest.raises(InputError, match="channels"):
        read_spectrum(tmp_path / "big.txt")


def test_bad_path_values():
    for bad in (None, 5, "", "a" * 300 + ".msa"):
        with pytest.raises(InputError):
            read_spectrum(bad)
