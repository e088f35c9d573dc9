"""Reading spectra: EELS through RosettaSciIO/HyperSpy, X-ray absorption through Larch."""

from .readers import read_spectrum

__all__ = ["read_spectrum"]
