"""Reference structures and neighbour shells, checked against known crystallography (distances in
angstrom): first shells of metals, oxides and semiconductors, polymorph ranking, bad input, pictures."""

import json
import warnings

import numpy as np
import pytest
from ase import Atoms

from exelfs.cli import main
from exelfs.errors import InputError
from exelfs.structure import (absorber_sites, cluster, cluster_figure, format_structure, propose,
                              reference_atoms, render_cluster, shells, structure_report)

warnings.filterwarnings("ignore")

# spec, absorber, first-shell scatterer, r (angstrom, +-0.03), N  -- textbook values
FIRST_SHELLS = [
    ("Cu", None, "Cu", 2.556, 12),      # fcc a = 3.615
    ("Fe", None, "Fe", 2.482, 8),       # bcc a = 2.866
    ("Ni", None, "Ni", 2.492, 12),
    ("Al", None, "Al", 2.86, 12),
    ("Si", None, "Si", 2.35, 4),        # diamond
    ("Ti", None, "Ti", 2.92, 6),        # hcp: 6 at 2.896 (out of plane), 6 at a = 2.95
    ("Pt", None, "Pt", 2.775, 12),
    ("Zn", None, "Zn", 2.665, 6),       # hcp with c/a = 1.86: 6 in-plane neighbours first
    ("MgO", None, "O", 2.106, 6),       # rocksalt, a = 4.212
    ("MgO", "O", "Mg", 2.106, 6),
    ("NiO", None, "O", 2.088, 6),
    ("BN", None, "N", 1.446, 3),        # h-BN, a = 2.504
    ("GaAs", None, "As", 2.448, 4),     # zincblende, a = 5.653
    ("SrTiO3", "Ti", "O", 1.953, 6),    # cubic perovskite, a = 3.905
    ("CuO", None, "O", 1.95, 4),        # tenorite: square-planar CuO4 (1.951 x2, 1.961 x2)
    ("TiO2", None, "O", 1.946, 4),      # rutile: 4 at 1.946, then 2 at 1.983
]


@pytest.mark.parametrize("spec, absorber, scatterer, r, n", FIRST_SHELLS)
def test_first_shell(spec, absorber, scatterer, r, n):
    result = structure_report(spec, absorber=absorber)
    first = result["shells"][0]
    assert first["scatterer"] == scatterer
    assert first["r"] == pytest.approx(r, abs=0.03)
    assert first["n"] == n
    rs = [s["r"] for s in result["shells"]]
    assert rs == sorted(rs) and rs[-1] <= 6.0


def test_default_absorber_is_the_cation():
    assert structure_report("MgO")["absorber"] == "Mg"
    assert structure_report("TiO2")["absorber"] == "Ti"
    assert structure_report("BN")["absorber"] == "B"
    assert structure_report("GaAs")["absorber"] == "Ga"


def test_rutile_keeps_its_two_apical_oxygens_apart():
    sh = structure_report("TiO2")["shells"]
    assert [(s["scatterer"], s["n"]) for s in sh[:2]] == [("O", 4), ("O", 2)]
    assert sh[1]["r"] == pytest.approx(1.983, abs=0.01)


def test_commonest_polymorph_first():
    c = propose("C")
    assert "graphite" in c[0].name.lower()
    assert any("diamond" in x.name.lower() for x in c[1:])
    tio2 = [x.name.lower() for x in propose("TiO2")]
    assert "rutile" in tio2[0] and any("anatase" in x for x in tio2[1:])
    bn = propose("BN")
    assert "h-bn" in bn[0].name.lower()
    assert any("c-bn" in x.name.lower() for x in bn[1:])
    assert "hcp" in propose("Ti")[0].name
    assert "tenorite" in propose("CuO")[0].name.lower()
    assert "P m -3 m" in propose("SrTiO3")[0].name
    # graphite: 3 C at 1.42 A; h-BN hexagonal cell
    assert structure_report("C")["shells"][0] == {"scatterer": "C", "r": pytest.approx(1.42, abs=0.01), "n": 3}
    cell = structure_report("BN")["cell"]
    assert cell["gamma"] == pytest.approx(120, abs=0.01)


def test_report_contract_and_text():
    r = structure_report("TiO2")
    assert {"name", "source", "absorber", "shells", "alternatives"} <= set(r)
    assert all(set(s) == {"scatterer", "r", "n"} for s in r["shells"])
    assert r["alternatives"] and all({"name", "source", "note"} <= set(a) for a in r["alternatives"])
    assert "first shell" in r["alternatives"][0]["note"]
    json.dumps(r)
    text = format_structure(r)
    assert "Rutile" in text and "1.9" in text and "Anatase" in text


def test_mineral_name_and_lowercase_element():
    assert "Rutile" in structure_report("rutile")["name"]
    assert structure_report("cu")["shells"][0]["n"] == 12


@pytest.mark.parametrize("spec", ["Xx", "", "   ", "Zr5Xe3", "notamaterial", "/no/such/file.cif"])
def test_bad_spec_is_an_input_error(spec):
    with pytest.raises(InputError):
        structure_report(spec)


def test_unreadable_cif(tmp_path):
    bad = tmp_path / "bad.cif"
    bad.write_text("this is not a CIF file\n")
    with pytest.raises(InputError):
        structure_report(str(bad))


def test_cif_file_roundtrip(tmp_path):
    """A CIF written by ASE for rocksalt MgO (a = 4.212) reads back with the right shells."""
    from ase.build import bulk
    path = tmp_path / "mgo.cif"
    bulk("MgO", "rocksalt", a=4.212).write(path)
    r = structure_report(str(path), absorber="O")
    assert r["absorber"] == "O"
    assert r["shells"][0] == {"scatterer": "Mg", "r": pytest.approx(2.106, abs=0.001), "n": 6}


def test_absorber_not_in_structure():
    with pytest.raises(InputError):
        structure_report("MgO", absorber="Cu")
    with pytest.raises(InputError):
        structure_report("MgO", absorber="Qq")
    with pytest.raises(InputError):
        shells(reference_atoms("Cu"), "O")


def test_inequivalent_sites_are_averaged_by_multiplicity():
    # Fe1 at the corner: 2 O at 2.0; Fe2 at the body centre: 4 O at 2.828 (cubic cell, a = 4)
    atoms = Atoms("Fe2O", scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5), (0, 0, 0.5)], cell=[4, 4, 4], pbc=True)
    sh = shells(atoms, "Fe", rmax=3.0)
    assert sh[0] == {"scatterer": "O", "r": 2.0, "n": 1}
    assert sh[1]["scatterer"] == "O" and sh[1]["r"] == pytest.approx(2.828, abs=1e-3) and sh[1]["n"] == 2
    assert len(absorber_sites(atoms, "Fe", rmax=3.0)) == 2


def test_tolerance_merges_nearly_equal_distances():
    atoms = Atoms("CuOO", positions=[(0, 0, 0), (1.951, 0, 0), (0, 1.961, 0)], cell=[10, 10, 10], pbc=True)
    assert shells(atoms, "Cu", rmax=2.5) == [{"scatterer": "O", "r": 1.956, "n": 2}]
    assert len(shells(atoms, "Cu", rmax=2.5, tol=0.005)) == 2


def test_cluster_for_feff():
    atoms = reference_atoms("MgO")
    clus = cluster(atoms, "Mg", 3.0)
    assert clus.get_chemical_symbols()[0] == "Mg"
    assert np.allclose(clus.positions[0], 0)
    d = np.linalg.norm(clus.positions, axis=1)
    assert np.all(np.diff(d) >= -1e-9) and d.max() <= 3.0 + 1e-6
    assert len(clus) == 1 + 6 + 12           # absorber, 6 O at 2.106, 12 Mg at 2.978
    # the cluster holds as many atoms as the shells count
    sh = shells(atoms, "Mg", rmax=4.5)
    assert len(cluster(atoms, "Mg", 4.5)) == 1 + sum(s["n"] for s in sh)
    # reference_atoms hands out copies: changing one does not change the next
    before = reference_atoms("MgO").positions.copy()
    atoms.positions += 1.0
    assert np.allclose(reference_atoms("MgO").positions, before)


def test_pictures(tmp_path):
    png = render_cluster("MgO", tmp_path / "mgo.png")
    assert png.endswith("mgo.png") and (tmp_path / "mgo.png").stat().st_size > 20_000
    html = render_cluster("TiO2", str(tmp_path / "tio2.html"), absorber="Ti")
    text = (tmp_path / "tio2.html").read_text()
    assert len(text) > 1_000_000 and "plotly" in text       # plotly.js inline: opens off-line
    fig = cluster_figure("MgO", absorber="O")
    absorber_traces = [t for t in fig.data if "absorber" in (t.name or "")]
    assert absorber_traces and absorber_traces[0].marker.color.lower() in ("#d62728", "red")
    assert {t.name for t in fig.data if t.name} >= {"Mg", "O (absorber)"}
    with pytest.raises(InputError):
        render_cluster("MgO", tmp_path / "mgo.jpg")


def test_cli(tmp_path, capsys):
    assert main(["structure", "MgO", "--json", "--image", str(tmp_path / "m.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["absorber"] == "Mg" and out["shells"][0]["scatterer"] == "O"
    assert (tmp_path / "m.png").is_file()
    assert main(["structure", "Xx"]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["structure", "MgO", "--absorber", "Cu"]) == 2


@pytest.mark.parametrize("elements, spec", [(["Mg", "O"], "MgO"), (["O", "Ni"], "NiO"), (["Ti", "O"], "TiO2"),
                                            (["B", "N"], "BN"), (["Sr", "Ti", "O"], "SrTiO3"),
                                            (["Ga", "As"], "GaAs"), (["Cu"], "Cu")])
def test_spec_for_identified_elements(elements, spec):
    """A sample known only by the elements of its edges gets the composition AMCSD refines most."""
    from exelfs.structure import spec_for_elements
    assert spec_for_elements(elements) == spec


def test_spec_for_elements_without_compound():
    from exelfs.structure import spec_for_elements
    with pytest.raises(InputError):
        spec_for_elements(["Xe", "Pt"])
