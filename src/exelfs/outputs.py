"""Checks of output paths, made before any work starts: a report folder, a picture or a table that
cannot be written is an InputError sentence at once, not a fault after minutes of analysis.

Nothing is created: a folder that does not exist yet must have a writable folder above it (the writer
makes it); writability is tested by creating and removing a temporary file, which also sees read-only
mounts and immutable folders that permission bits do not show.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError


def check_output_dir(path, option: str) -> Path | None:
    """Check that `path` is, or can become, a writable folder; None passes (no output asked for)."""
    if path is None:
        return None
    target = _as_path(path, option)
    try:
        if target.exists() and not target.is_dir():
            raise InputError(f"{option} {path}: this is a file, not a folder: give a new or existing folder")
        _check_writable_place(target, option, path)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot be used as a folder ({exc.strerror or exc})") from None
    return target


def check_output_file(path, option: str) -> Path | None:
    """Check that the file `path` can be written (its folder exists and is writable, it is not a folder,
    an existing file may be replaced); None passes."""
    if path is None:
        return None
    target = _as_path(path, option)
    try:
        if target.is_dir():
            raise InputError(f"{option} {path}: this is a folder: give a file name")
        parent = target.absolute().parent
        if not parent.is_dir():
            raise InputError(f"{option} {path}: the folder {parent} does not exist: create it or choose "
                             "another path")
        if target.exists() and not os.access(target, os.W_OK):
            raise InputError(f"{option} {path}: the file exists and cannot be replaced (no write permission)")
        _probe(parent, option, path)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot be written ({exc.strerror or exc})") from None
    return target


def _as_path(path, option: str) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"{option} needs a path, not {str(path)[:40]!r}")
    return Path(path).expanduser()


def _check_writable_place(target: Path, option: str, given) -> None:
    """The folder itself when it exists, else its nearest existing ancestor, must be a writable folder."""
    p = target.absolute()
    while not p.exists():
        p = p.parent
    if not p.is_dir():
        raise InputError(f"{option} {given}: {p} is a file, so no folder can be made under it")
    _probe(p, option, given)


def _probe(folder: Path, option: str, given) -> None:
    """Create and remove a temporary file in `folder`; InputError when that is refused."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".exelfs-write-check-"):
            pass
    except OSError as exc:
        raise InputError(f"{option} {given}: {folder} cannot be written ({exc.strerror or exc}): choose "
                         "another place") from None
