"""The exelfs disk cache: one root for FEFF runs, edge tables and (later) trained models.

Root: ``$EXELFS_CACHE``, else the platform user cache dir (``~/.cache/exelfs``). Entries live in
``<root>/<kind>/<key>/`` and are made and read through :func:`cached`, which

* records a manifest (``manifest.json``) with the sha256 of every file an entry holds;
* verifies an entry against it before use, and rebuilds a damaged entry (saying so in ``notes``);
* builds in a temporary folder next to the entry and renames it into place, so an entry is never seen
  half-written, and removes the temporaries that killed runs left behind;
* makes entries readable by the group (a cache shared by several users);
* uses a cache it cannot write for hits, and keeps what it has to build in a private temporary cache
  (with a note) when the cache is read-only or the home folder does not exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import InputError

MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"  # temporaries: .tmp-<key>-<host>-<pid>-<random>
STALE_AGE_S = 24 * 3600.0  # a temporary this old is stale whoever made it (another host, a reused pid)
LEGACY_AGE_S = 900.0  # temporaries without an owner tag (older exelfs): stale after FEFF's own time limit
_LOCKS: dict[tuple, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@dataclass
class Entry:
    """A verified cache entry: its folder, what ``load`` made of it, and sentences about repairs."""

    path: Path
    value: Any
    notes: list = field(default_factory=list)


def cache_dir() -> Path:
    """Root of the exelfs disk cache ($EXELFS_CACHE overrides the user cache dir).

    InputError when $EXELFS_CACHE names a file (or a path under a file)."""
    return _root()[0]


def _root() -> tuple[Path, str | None]:
    """(root, why): `why` is a sentence when the usual root cannot exist and the private cache stands in."""
    env = os.environ.get("EXELFS_CACHE", "").strip()
    if env:
        root = Path(env).expanduser()
        blocker = _file_in_the_way(root)
        if blocker is not None:
            raise InputError(f"EXELFS_CACHE={env} cannot be a cache folder ({blocker} is a file): point "
                             "EXELFS_CACHE at a folder, or unset it")
        return root, None
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    home = Path(os.environ.get("HOME") or "~").expanduser()
    if not xdg and not home.is_dir():
        return _private_root(), (f"the home folder {home} does not exist, so there is no user cache; "
                                 "set EXELFS_CACHE to a folder to keep results between runs")
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("exelfs")), None
    except ImportError:  # pragma: no cover
        return Path(xdg or home / ".cache") / "exelfs", None


def _file_in_the_way(path: Path) -> Path | None:
    """The path itself or its nearest existing ancestor, when that is not a folder; else None."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return None if p.is_dir() else p


def _private_root() -> Path:
    """A temporary cache only this user can write (/tmp/exelfs-cache-<uid>), made on first use."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    base = Path(tempfile.gettempdir()) / f"exelfs-cache-{uid}"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        st = base.lstat()
        if base.is_symlink() or not base.is_dir() or (hasattr(os, "getuid") and st.st_uid != uid):
            raise PermissionError(f"{base} belongs to someone else")
        return base
    except OSError:
        return Path(tempfile.mkdtemp(prefix="exelfs-cache-"))


def verify(entry: Path) -> str | None:
    """None when `entry` is complete and matches its manifest; else why not ('' when there is none)."""
    if not entry.exists() and not entry.is_symlink():
        return ""
    if not entry.is_dir():
        return "it is a file, not a folder"
    try:
        files = json.loads((entry / MANIFEST).read_text())["files"]
        items = list(files.items())
    except FileNotFoundError:
        return "no manifest: written by an older exelfs or interrupted"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"unreadable manifest ({getattr(exc, 'strerror', None) or type(exc).__name__})"
    if not items:
        return "the manifest lists no files"
    for name, digest in items:
        path = entry / name
        if not path.is_file():
            return f"{name} is missing"
        try:
            if _sha256(path) != digest:
                return f"{name} checksum mismatch"
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror})"
    return None


def cached(kind: str, key: str, build: Callable[[Path], None], load: Callable[[Path], Any],
           what: str = "cache") -> Entry:
    """The entry ``<root>/<kind>/<key>``: verified and loaded, else (re)built with ``build(folder)`` first.

    build: writes the entry's files into the (temporary) folder it is given.
    load: reads a folder into the value returned in ``Entry.value``; an exception means damage.
    what: how notes name the entry, e.g. 'FEFF'."""
    root, why = _root()
    with _lock(kind, key):
        entry = root / kind / key
        damage = verify(entry)
        if damage is None:
            value, damage = _load(entry, load)
            if damage is None:
                return Entry(entry, value, [])
            _discard(entry)  # sound files the reader refuses (an older format): rebuilt, not kept
        notes = [f"{what} cache entry {entry} was damaged ({damage}) and has been rebuilt"] if damage else []
        try:
            path = _write(root / kind, key, build)
            if why:
                notes.append(f"{what} results are kept in a private temporary cache, {root}: {why}")
        except OSError as exc:
            private = _private_root() / kind
            notes.append(f"the cache {root} cannot be written ({exc.strerror or exc}): {what} results are "
                         f"kept in a private temporary cache, {private}")
            path = private / key
            if verify(path) is not None or _load(path, load)[1] is not None:
                path = _write(private, key, build)
        value, damage = _load(path, load)
        if damage is not None:
            raise RuntimeError(f"{what} cache entry {path} cannot be read right after it was built ({damage})")
        return Entry(path, value, notes)


def _load(entry: Path, load) -> tuple[Any, str | None]:
    try:
        return load(entry), None
    except Exception as exc:  # noqa: BLE001 - whatever the reader makes of damaged files, it is damage
        return None, f"unreadable ({type(exc).__name__}: {str(exc)[:80]})"


def _lock(kind: str, key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault((kind, key), threading.Lock())


def _write(parent: Path, key: str, build) -> Path:
    """Build an entry in a temporary folder under `parent`, record its manifest, rename it into place."""
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale(parent)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{key}-{_owner_tag()}-", dir=parent))
    try:
        build(tmp)
        files = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps({"key": key, "created": time.time(), "files": files}, indent=1))
        _share_with_group(tmp)
        _replace(tmp, parent / key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return parent / key


def _replace(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`; a damaged `final` is moved aside first, a sound one (another process
    finished first) is kept and `tmp` dropped."""
    for _ in range(3):
        try:
            os.rename(tmp, final)
            return
        except OSError:
            if verify(final) is None:
                shutil.rmtree(tmp, ignore_errors=True)
                return
            _discard(final)
    os.rename(tmp, final)


def _discard(final: Path) -> None:
    """Move the entry `final` out of the way (renamed aside first, so no reader sees it half deleted)."""
    if final.is_dir() and not final.is_symlink():
        trash = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{final.name}-{_owner_tag()}-trash", dir=final.parent))
        os.rename(final, trash / "old")
        shutil.rmtree(trash, ignore_errors=True)
    elif final.exists() or final.is_symlink():
        final.unlink()


def clean_stale(parent: Path) -> list[str]:
    """Remove the temporaries in `parent` that no live run owns; returns their names."""
    removed = []
    try:
        children = list(parent.iterdir())
    except OSError:
        return removed
    now = time.time()
    for child in children:
        if not child.name.startswith(".") or not child.is_dir():
            continue
        try:
            age = now - child.stat().st_mtime
        except OSError:
            continue
        if _is_stale(child.name, age):
            shutil.rmtree(child, ignore_errors=True)
            if not child.exists():
                removed.append(child.name)
    return removed


def _is_stale(name: str, age: float) -> bool:
    parts = name[len(TMP_PREFIX):].split("-") if name.startswith(TMP_PREFIX) else []
    if len(parts) < 4 or not parts[2].isdigit():
        return age > LEGACY_AGE_S
    host, pid = parts[1], int(parts[2])
    if age > STALE_AGE_S:
        return True
    return host == _host_tag() and not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _owner_tag() -> str:
    return f"{_host_tag()}-{os.getpid()}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _share_with_group(folder: Path) -> None:
    """Modes as the umask gives them, but always readable by the group (mkdtemp makes 0700)."""
    mask = _umask()
    for p in [folder, *folder.rglob("*")]:
        if p.is_dir():
            p.chmod((0o777 & ~mask) | 0o750)
        else:
            p.chmod((0o666 & ~mask) | 0o640)
