"""File readers (minimal first version; to be hardened)."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..spectrum import Spectrum


def read_spectrum(path) -> Spectrum:
    """Read an EELS spectrum or spectrum image (energy in eV)."""
    import hyperspy.api as hs

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    signal = hs.load(str(path), signal_type="EELS")
    spectrum = Spectrum.from_hyperspy(signal)
    spectrum.source = str(path)
    return spectrum
