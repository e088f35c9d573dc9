"""The exelfs disk cache: one root for FEFF runs, edge tables and (later) trained models.

Root: ``$EXELFS_CACHE``, else the platform user cache dir (``~/.cache/exelfs``).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Root of the exelfs disk cache ($EXELFS_CACHE overrides the user cache dir)."""
    env = os.environ.get("EXELFS_CACHE")
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("exelfs"))
    except ImportError:  # pragma: no cover
        return Path.home() / ".cache" / "exelfs"
