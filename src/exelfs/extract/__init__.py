"""Extraction: from an EELS or X-ray absorption spectrum to chi(k) and its Fourier transform."""

from .chi import Extraction, extract_chi
from .fourier import back_transform, fourier_transform

__all__ = ["Extraction", "extract_chi", "fourier_transform", "back_transform"]
