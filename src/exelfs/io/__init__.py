"""Reading spectra: EELS through RosettaSciIO/HyperSpy (plus our own EMSA and text parsing), X-ray
absorption through Larch. ``read_spectrum(path) -> Spectrum | ChiData``."""

from .readers import read_spectrum

__all__ = ["read_spectrum"]
