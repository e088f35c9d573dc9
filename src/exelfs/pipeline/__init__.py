"""The one pipeline that every method, pixel and interface shares.

``make_plan`` resolves edge, structure, absorber, FEFF paths and extraction settings once; ``run``
applies a plan to one spectrum, ``run_pixels`` to every pixel of a spectrum image; ``analyze`` does both.
Methods come from one registry (``METHODS``: 'fit'); results are typed (``Result``: ``to_json``,
``to_hyperspy``, ``plot``); figures come from pure builders (``figures``) and reports from ``report``.
"""

from .methods import METHODS, ChiInput, MethodOutput, get_method, register
from .plan import Plan, make_plan
from .result import Result, format_result
from .run import analyze, run, run_pixels
from .settings import Settings

__all__ = ["analyze", "make_plan", "run", "run_pixels", "Plan", "Result", "Settings", "METHODS", "register",
           "get_method", "ChiInput", "MethodOutput", "format_result"]
