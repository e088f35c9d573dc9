"""FEFF cache damage: a run after each kind of damage gives the clean run's paths (and says so)."""

import shutil

import numpy as np
import pytest

from exelfs.theory import feff, feff_paths


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("EXELFS_CACHE", str(root))
    feff._MEMO.clear()
    paths = feff_paths("Cu", "Cu")
    yield root, [(p.reff, p.degen, p.amp.copy()) for p in paths]
    mp.undo()


def _damage(entry, kind):
    dats = sorted(entry.glob("feff0*.dat"))
    if kind == "one .dat deleted":
        dats[0].unlink()
    elif kind == "truncated .dat":
        dats[0].write_text(dats[0].read_text()[:500])
    elif kind == "garbage bytes":
        dats[0].write_bytes(np.random.default_rng(1).bytes(3000))
    elif kind == "all .dat deleted":
        for d in dats:
            d.unlink()
    elif kind == "entry replaced by a file":
        shutil.rmtree(entry)
        entry.write_text("x")


@pytest.mark.parametrize("kind", ["one .dat deleted", "truncated .dat", "garbage bytes", "all .dat deleted",
                                  "entry replaced by a file"])
def test_damaged_entry_is_rebuilt(clean, kind, monkeypatch):
    root, reference = clean
    monkeypatch.setenv("EXELFS_CACHE", str(root))
    entry = next(p for p in (root / "feff").iterdir() if not p.name.startswith("."))
    _damage(entry, kind)
    feff._MEMO.clear()  # a new process
    paths = feff_paths("Cu", "Cu")
    assert [(p.reff, p.degen) for p in paths] == [(r, d) for r, d, _ in reference]
    assert all(np.array_equal(p.amp, a) for p, (_, _, a) in zip(paths, reference))
    assert len(paths.notes) == 1 and "rebuilt" in paths.notes[0]
    feff._MEMO.clear()
    assert feff_paths("Cu", "Cu").notes == []  # healed for good
    assert entry.stat().st_mode & 0o050 == 0o050  # group-readable


def test_stale_temporary_removed(clean, monkeypatch):
    import subprocess
    root, _ = clean
    monkeypatch.setenv("EXELFS_CACHE", str(root))
    dead = subprocess.Popen(["true"])
    dead.wait()
    from exelfs.cache import TMP_PREFIX, _host_tag
    entry = next(p for p in (root / "feff").iterdir() if not p.name.startswith("."))
    stale = root / "feff" / f"{TMP_PREFIX}{entry.name}-{_host_tag()}-{dead.pid}-abc"
    stale.mkdir()
    shutil.rmtree(entry)
    feff._MEMO.clear()
    feff_paths("Cu", "Cu")
    assert not stale.exists()


def test_sound_entry_the_reader_refuses_is_rebuilt(tmp_path, monkeypatch):
    """Files that match their manifest but that the reader refuses (an older format) are rebuilt, not kept."""
    from exelfs.cache import cached

    monkeypatch.setenv("EXELFS_CACHE", str(tmp_path))

    def build(version):
        return lambda folder: (folder / "v.txt").write_text(version)

    def load(folder):
        text = (folder / "v.txt").read_text()
        if text != "v2":
            raise ValueError(f"format {text} is not readable")
        return text

    cached("demo", "entry", build("v1"), lambda folder: (folder / "v.txt").read_text())
    entry = cached("demo", "entry", build("v2"), load)
    assert entry.value == "v2" and "rebuilt" in entry.notes[0] and "format v1" in entry.notes[0]
    assert cached("demo", "entry", build("v3"), load).notes == []
