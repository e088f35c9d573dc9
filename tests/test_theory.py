"""FEFF paths through Larch's feff6l: geometry, cache, and agreement with Larch's own path2chi."""

import time

import numpy as np
import pytest
from ase.build import bulk

from exelfs.errors import InputError
from exelfs.theory import PathTable, feff, feff_paths, path_chi


def test_cu_first_path_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXELFS_CACHE", str(tmp_path))
    feff._MEMO.clear()
    atoms = bulk("Cu", "fcc", a=3.61)
    paths = feff_paths(atoms, "Cu", "K", rmax=4.0)
    assert isinstance(paths[0], PathTable)
    first = paths[0]
    assert first.nleg == 2 and first.scatterers == ("Cu",)
    assert first.reff == pytest.approx(3.61 / np.sqrt(2), abs=0.001)  # 2.553 A
    assert first.degen == 12
    assert paths[1].reff == pytest.approx(3.61, abs=0.001) and paths[1].degen == 6
    assert first.k.shape == first.amp.shape == first.phase.shape == first.lam.shape == first.rep.shape
    assert (tmp_path / "feff").is_dir()

    # second call (memory cleared): read from disk, FEFF must not run
    feff._MEMO.clear()
    monkeypatch.setattr(feff, "_run_feff6l", lambda folder: pytest.fail("FEFF ran again"))
    t0 = time.perf_counter()
    again = feff_paths(bulk("Cu", "fcc", a=3.61), "Cu", "K", rmax=4.0)
    assert time.perf_counter() - t0 < 1.0
    assert [p.reff for p in again] == [p.reff for p in paths]
    np.testing.assert_allclose(again[0].phase, first.phase)


def test_mgo_mg_k_first_path_is_oxygen():
    paths = feff_paths(bulk("MgO", "rocksalt", a=4.212), "Mg", "K", rmax=3.5)
    assert paths[0].scatterers == ("O",)
    assert paths[0].reff == pytest.approx(2.106, abs=0.001)
    assert paths[0].degen == 6
    assert paths[1].scatterers == ("Mg",) and paths[1].reff == pytest.approx(2.978, abs=0.001)


def test_path_table_reproduces_larch_path2chi():
    from larch.xafs import feffpath, path2chi

    paths = feff_paths(bulk("Cu", "fcc", a=3.61), "Cu", "K", rmax=4.0)
    k = np.arange(0, 18, 0.05)
    for p in paths[:3]:
        fp = feffpath(p.filename)
        path2chi(fp, k=k, s02=0.9, e0=2.5, sigma2=0.004, deltar=0.01, interp="linear")
        ours = path_chi(p, k, s02=0.9, e0=2.5, sigma2=0.004, deltar=0.01)
        np.testing.assert_allclose(ours, fp.chi, atol=1e-5 * np.abs(fp.chi).max())


def test_l3_edge_and_bad_edge():
    paths = feff_paths(bulk("Pt", "fcc", a=3.924), "Pt", "L3", rmax=3.0)
    assert paths[0].reff == pytest.approx(2.775, abs=0.001)
    assert "LIII shell" in open(paths[0].filename).read() and paths[0].degen == 12
    with pytest.raises(InputError):
        feff_paths(bulk("Cu", "fcc", a=3.61), "Cu", "M5", rmax=3.0)
    with pytest.raises(InputError):
        feff_paths(bulk("Cu", "fcc", a=3.61), "O", "K", rmax=3.0)
