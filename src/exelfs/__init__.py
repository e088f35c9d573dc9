"""exelfs: local atomic structure (R, N, sigma2) from EELS extended fine structure.

Modules, with one-way imports (physics never imports interfaces):
``spectrum``/``errors`` (core types) <- ``io`` <- ``edges``, ``structure`` <- ``theory`` <- ``extract``,
``fit``, ``simulate`` <- ``analysis`` <- ``cli``, ``demo``.
"""

from .errors import InputError
from .spectrum import ChiData, Spectrum

__version__ = "0.1.0"
__all__ = ["Spectrum", "ChiData", "InputError", "__version__"]
