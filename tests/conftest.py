"""Shared test fixtures. Tests that need the real spectra in ../shared skip with a reason when absent."""

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = Path(os.environ.get("EXELFS_SHARED", ROOT.parent / "shared")) / "data" / "real"


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """Folder of the real measured spectra (../shared/data/real)."""
    if not (SHARED_REAL / "MANIFEST.json").is_file():
        pytest.skip(f"real spectra not available: {SHARED_REAL} is absent (clone without ../shared)")
    return SHARED_REAL


@pytest.fixture(scope="session")
def manifest(real_dir) -> list[dict]:
    """The entries of MANIFEST.json, each with 'path' added."""
    entries = json.loads((real_dir / "MANIFEST.json").read_text())["spectra"]
    for e in entries:
        e["path"] = real_dir / e["file"]
    return entries
