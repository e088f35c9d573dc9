"""Spectrum-image maps: one plan decided on the image's sum, then every pixel at once, in chunks
through dask (local threads or a dask.distributed cluster).

``map_image(data, edge=..., structure=..., method='nn'|'fit', lowloss=..., bin='2x2', scheduler=...)``
returns a :class:`MapResult`: ``signal`` (one HyperSpy signal, navigation axes as in the input),
``maps`` (one signal per parameter), ``mask``, ``to_json()`` (the ``exelfs map --json`` object) and
``save('maps.hspy')``. Values in angstrom (r), angstrom^2 (sigma2), eV (e0_shift).
"""

from .image import load_image, parse_bin
from .result import MapResult
from .run import map_image

__all__ = ["map_image", "MapResult", "load_image", "parse_bin"]
