"""Edge detection and identification: real spectra (../shared, MANIFEST answers), synthetic spectra
(power-law background, edge steps and white lines, Poisson noise, seeded), the operator's --at path,
X-ray mu(E), and bad input."""

import re
import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from exelfs.edges import detect_edges, edge_energy, format_identification, identify
from exelfs.errors import InputError
from exelfs.spectrum import ChiData, Spectrum

warnings.filterwarnings("ignore", category=DeprecationWarning)


# ---------------------------------------------------------------- synthetic spectra

def synthetic_eels(edges, e_start, e_end, channel, counts, seed, r=3.0, resolution=1.0, nav=()):
    """Counts on a power-law background A (E/e_start)^-r with hydrogenic-like edge steps (jump at the
    onset relative to the background, decaying as E^-(r-1.5), optionally delayed by 'delay' eV) and
    Lorentzian white lines ('peaks': (energy eV, height relative to the background, FWHM eV)),
    blurred by the energy resolution (FWHM, eV) and Poisson noise."""
    rng = np.random.default_rng(seed)
    e = np.arange(e_start, e_end, channel)
    spec = counts * (e / e_start) ** -r
    for ed in edges:
        e0 = ed["e"]
        b0 = counts * (e0 / e_start) ** -r
        x = np.clip(e - e0, 0, None)
        rise = 1 - np.exp(-x / ed["delay"]) if ed.get("delay") else (e > e0).astype(float)
        spec = spec + ed["jump"] * b0 * (e / e0) ** -(r - 1.5) * rise * (e > e0)
        for pe, ph, pw in ed.get("peaks", []):
            spec = spec + ph * b0 * (pw / 2) ** 2 / ((e - pe) ** 2 + (pw / 2) ** 2)
    spec = gaussian_filter1d(spec, resolution / 2.355 / channel)
    lam = np.broadcast_to(spec / (np.prod(nav) if nav else 1), tuple(nav) + spec.shape)
    return Spectrum(e, rng.poisson(lam).astype(float))


TI_L = {"e": 456.0, "jump": 0.15,
        "peaks": [(457.5, 0.8, 1.2), (460.0, 1.0, 1.5), (462.8, 0.5, 1.2), (465.3, 0.6, 1.5)]}
O_K = {"e": 531.0, "jump": 0.3, "peaks": [(532.0, 0.3, 1.5)]}
NI_L = {"e": 853.0, "jump": 0.2, "peaks": [(854.0, 1.5, 1.2), (871.5, 0.6, 1.5)]}
MG_K = {"e": 1305.0, "jump": 0.25, "delay": 5.0}
AL_K = {"e": 1560.0, "jump": 0.25, "delay": 5.0}
GA_L = {"e": 1115.0, "jump": 0.2, "delay": 40.0}


def tops(result):
    """[(onset eV, 'El_EDGE', score)] of the best candidate of every edge."""
    return [(e["onset_ev"], f"{e['candidates'][0]['element']}_{e['candidates'][0]['edge']}",
             e["candidates"][0]["score"]) for e in result["edges"] if e["candidates"]]


def check_contract(result):
    assert set(result) >= {"edges", "warnings"}
    onsets = [e["onset_ev"] for e in result["edges"]]
    assert onsets == sorted(onsets)
    for e in result["edges"]:
        scores = [c["score"] for c in e["candidates"]]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
        for c in e["candidates"]:
            assert {"element", "edge", "score", "evidence"} <= set(c)
            assert isinstance(c["evidence"], dict)


@pytest.mark.parametrize("channel,counts,seed", [(0.1, 3e4, 1), (2.0, 5e5, 2)])
def test_synthetic_ti_o(channel, counts, seed):
    """Ti L2,3 white lines and O K at 0.1 and 2 eV/channel: both found, right element and edge, no others."""
    s = synthetic_eels([TI_L, O_K], 350, 900, channel, counts, seed)
    result = identify(s)
    check_contract(result)
    found = tops(result)
    assert [name for _, name, _ in found] == ["Ti_L3", "O_K"]
    assert abs(found[0][0] - 456) < 4 and abs(found[1][0] - 531) < 4
    assert all(score > 0.5 for _, _, score in found)


def test_synthetic_three_k_edges_2ev():
    """O K, Mg K, Al K at 2 eV/channel up to 2.5 keV."""
    s = synthetic_eels([O_K, MG_K, AL_K], 300, 2500, 2.0, 1e6, seed=4)
    found = tops(identify(s))
    assert [name for _, name, _ in found] == ["O_K", "Mg_K", "Al_K"]
    for (onset, name, _), true in zip(found, (531, 1305, 1560)):
        assert abs(onset - true) < 8


def test_synthetic_delayed_and_white_lines():
    """A delayed edge (Ga L3, maximum ~40 eV after onset) and Ni L3 white line with its L2."""
    assert [n for _, n, _ in tops(identify(synthetic_eels([GA_L], 800, 1700, 1.0, 1e5, seed=5)))] == ["Ga_L3"]
    result = identify(synthetic_eels([O_K, NI_L], 400, 1400, 1.0, 2e5, seed=3))
    names = [n for _, n, _ in tops(result)]
    assert names[:2] == ["O_K", "Ni_L3"]
    # an L2 listed separately must be labelled the partner of the L3
    for e in result["edges"][2:]:
        assert e["candidates"][0]["element"] == "Ni" and e.get("secondary_of") == "Ni_L3"
    ni = result["edges"][1]["candidates"][0]["evidence"]
    assert ni["partner"]["partner"] == "Ni_L2" and ni["partner"]["seen"] is True


@pytest.mark.parametrize("channel,counts,seed,e_range", [(1.0, 1e4, 6, (300, 1500)), (0.1, 1e3, 7, (300, 800)),
                                                          (2.0, 1e5, 8, (200, 3000))])
def test_synthetic_noise_only_has_no_edges(channel, counts, seed, e_range):
    """A power law with Poisson noise and no edge: nothing detected."""
    s = synthetic_eels([], *e_range, channel, counts, seed)
    assert detect_edges(s) == []
    result = identify(s)
    assert result["edges"] == [] and any("no edge" in w for w in result["warnings"])


def test_synthetic_spectrum_image_is_summed():
    """A 4x5 spectrum image with few counts per pixel: the sum is identified."""
    s = synthetic_eels([TI_L, O_K], 350, 800, 0.25, 3e5, seed=9, nav=(4, 5))
    result = identify(s)
    assert [n for _, n, _ in tops(result)] == ["Ti_L3", "O_K"]
    assert any("sum of its 20 spectra" in w for w in result["warnings"])


def test_synthetic_calibration_offset():
    """The whole energy axis 6 eV off: same identification, and the offset is estimated and reported."""
    shifted = [dict(TI_L, e=462.0, peaks=[(p + 6, h, w) for p, h, w in TI_L["peaks"]]),
               dict(O_K, e=537.0, peaks=[(538.0, 0.3, 1.5)])]
    result = identify(synthetic_eels(shifted, 350, 800, 0.25, 1e5, seed=10))
    assert [n for _, n, _ in tops(result)] == ["Ti_L3", "O_K"]
    assert 2.0 <= result["calibration"]["shift_ev"] <= 8.0
    assert any("offset" in w for w in result["warnings"])
    ev = result["edges"][0]["candidates"][0]["evidence"]
    assert ev["calibration_shift_ev"] == result["calibration"]["shift_ev"]


def test_operator_at_synthetic_and_outside_data():
    s = synthetic_eels([TI_L, O_K], 350, 900, 0.5, 1e5, seed=11)
    result = identify(s, at=[532, 456])
    assert [e["onset_ev"] for e in result["edges"]] == [456, 532]
    assert [n for _, n, _ in tops(result)] == ["Ti_L3", "O_K"]
    # outside the data: ranked on tabulated energies alone, with a warning
    result = identify(s, at=[1305])
    assert tops(result)[0][1] == "Mg_K"
    assert any("outside the data" in w for w in result["warnings"])
    # an isolated onset at 455 eV is Ti L3, not an obscure minor edge
    assert tops(identify(s, at=[455]))[0][1] == "Ti_L3"


def test_xas_synthetic_cu_k():
    """X-ray mu(E): an arctangent step with a white line at the Cu K binding energy (8979 eV)."""
    rng = np.random.default_rng(12)
    e = np.concatenate([np.arange(8800, 8960, 5.0), np.arange(8960, 9020, 0.3), np.arange(9020, 9600, 3.0)])
    mu = 0.2 - 1e-5 * (e - 8800) + 1.0 * (0.5 + np.arctan((e - 8980) / 1.5) / np.pi)
    mu += 0.3 * np.exp(-0.5 * ((e - 8995) / 4) ** 2) + rng.normal(0, 0.002, e.size)
    result = identify(Spectrum(e, mu, kind="xas"))
    found = tops(result)
    assert len(found) == 1 and found[0][1] == "Cu_K" and abs(found[0][0] - 8980) < 4


def test_bad_input():
    with pytest.raises(InputError):
        identify(ChiData(np.arange(10.0), np.zeros(10)))
    with pytest.raises(InputError):
        identify(Spectrum(np.arange(400.0, 410.0), np.ones(10)))
    s = synthetic_eels([O_K], 400, 700, 1.0, 1e5, seed=13)
    with pytest.raises(InputError):
        identify(s, at=[-5])


def test_format_identification_table():
    result = identify(synthetic_eels([TI_L, O_K], 350, 900, 0.5, 1e5, seed=11))
    text = format_identification({"file": "x.msa", **result})
    assert "Ti_L3" in text and "O_K" in text and "score" in text and "x.msa" in text
    assert format_identification({"edges": [], "warnings": ["w"]}).startswith("no edges found")


# ---------------------------------------------------------------- real spectra (../shared)

def _read(path):
    from exelfs.io import read_spectrum
    return read_spectrum(path)


def _first_edges(names):
    """{element: its first listed edge} from a MANIFEST edge list (Ni_L3 before Ni_L2)."""
    first = {}
    for name in names:
        el, edge = name.split("_")
        first.setdefault(el, name)
    return first


def _allowed_elements(entry):
    """Elements of the specimen: those of the listed edges and of the structure formula."""
    allowed = {n.split("_")[0] for n in entry["edges"]}
    if entry.get("structure"):
        allowed |= set(re.findall(r"[A-Z][a-z]?", entry["structure"]))
    return allowed


@pytest.fixture(scope="module")
def real_results(manifest):
    out = {}
    for entry in manifest:
        if not entry["kind"].startswith("eels") or entry["kind"] == "eels-lowloss":
            continue
        out[entry["file"]] = (entry, identify(_read(entry["path"])))
    return out


def test_real_eels_first_edges_are_top_candidates(real_results):
    """Every element's first edge is found with the right element and edge as top candidate, within
    15 eV of the table; elements that are not in the specimen are not confidently reported."""
    checked = 0
    for name, (entry, result) in real_results.items():
        check_contract(result)
        found = tops(result)
        for el, edge_name in _first_edges(entry["edges"]).items():
            hits = [(onset, score) for onset, top, score in found if top == edge_name]
            assert hits, f"{name}: {edge_name} not found as top candidate; found {found}"
            assert abs(hits[0][0] - edge_energy(*edge_name.split("_"))) < 15, (name, edge_name, hits)
            checked += 1
        if entry["edges"]:
            strangers = [(o, t, s) for o, t, s in found
                         if t.split("_")[0] not in _allowed_elements(entry) and s >= 0.5]
            assert not strangers, f"{name}: confident detections of absent elements {strangers}"
    assert checked >= 14


def test_real_noise_dominated_spectrum_image(real_results):
    """The noise-dominated DM4 spectrum image: at most one confident edge (an O K is visible in its sum)."""
    for name, (entry, result) in real_results.items():
        if entry["kind"] == "eels-spectrum-image" and not entry["edges"]:
            confident = [t for t in tops(result) if t[2] >= 0.5]
            assert len(confident) <= 1, confident


def test_real_operator_at_srtio3(manifest):
    entry = next(e for e in manifest if "SrTiO3" in e["file"])
    s = _read(entry["path"])
    result = identify(s, at=[532.0, 456.0])
    assert [n for _, n, _ in tops(result)] == ["Ti_L3", "O_K"]
    assert result["edges"][0]["candidates"][0]["score"] > 0.5


def test_real_xas_edges(manifest):
    """X-ray foils: the K (Pt: L3) edge found at its binding energy, also without the file header's hint."""
    for entry in manifest:
        if entry["kind"] != "xas":
            continue
        s = _read(entry["path"])
        assert isinstance(s, Spectrum) and s.kind == "xas"
        s.metadata = {}
        found = tops(identify(s))
        expected = entry["edges"][0]
        assert found and found[0][1] == expected, (entry["file"], found)
        assert abs(found[0][0] - edge_energy(*expected.split("_"))) < 10


# ---------------------------------------------------------------- edge table disk cache

def test_edge_table_cache_round_trip(tmp_path, monkeypatch):
    """The table cached on disk (JSON under EXELFS_CACHE/edges, keyed by the exspy and xraydb versions)
    reads back equal to the freshly built one; an unwritable cache falls back to the table in memory."""
    from exelfs.edges import tables

    monkeypatch.setenv("EXELFS_CACHE", str(tmp_path))
    path = tables.table_cache_path()
    assert path.parent == tmp_path / "edges" and "exspy-" in path.name and "xraydb-" in path.name
    fresh = tables.build_table()
    assert tables.write_cached_table(path, fresh)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    cached = tables.read_cached_table(path)
    assert cached == fresh and list(cached) == list(fresh)
    assert cached[("O", "K")].eels_onset == 532.0
    path.write_text("{not json")
    assert tables.read_cached_table(path) is None
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert not tables.write_cached_table(blocked / "edges" / "table.json", fresh)


def test_edge_table_from_warm_cache_without_exspy(tmp_path, monkeypatch):
    """With a warm cache, reading an .msa and identifying it imports neither exspy, hyperspy, larch nor
    xraydb (checked in a fresh interpreter, where nothing else has imported them)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import exelfs
    from exelfs.edges import tables

    monkeypatch.setenv("EXELFS_CACHE", str(tmp_path))
    assert tables.write_cached_table(tables.table_cache_path(), tables._table())
    e = np.arange(400.0, 700.0, 0.5)
    counts = np.random.default_rng(14).poisson(1e5 * (e / 400) ** -3 * (1 + 0.3 * (e > 532)))
    msa = tmp_path / "o_k.msa"
    msa.write_text("#FORMAT      : EMSA/MAS Spectral Data File\n#VERSION     : 1.0\n#TITLE       : O K\n"
                   f"#NPOINTS     : {e.size}\n#NCOLUMNS    : 1\n#XUNITS      : eV\n#YUNITS      : counts\n"
                   "#DATATYPE    : XY\n#XPERCHAN    : 0.5\n#OFFSET      : 400.0\n#SIGNALTYPE  : ELS\n"
                   "#SPECTRUM    : Spectral Data Starts Here\n"
                   + "".join(f"{x:.1f}, {y:d}\n" for x, y in zip(e, counts)) + "#ENDOFDATA   : \n")
    code = ("import sys\n"
            "from exelfs.io import read_spectrum\n"
            "from exelfs.edges import identify\n"
            f"r = identify(read_spectrum({str(msa)!r}))\n"
            "print(r['edges'][0]['candidates'][0]['element'])\n"
            "print(sorted(m for m in ('exspy', 'hyperspy', 'larch', 'xraydb') if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(exelfs.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["O", "[]"], out.stdout
