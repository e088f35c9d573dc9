"""The maps of one run: values and 1-sigma errors per parameter and pixel, the mask, the run's settings.

``signal`` is one HyperSpy signal with the input's navigation axes and a signal axis over the stored
parameters (names in ``metadata.exelfs.parameters``); ``maps`` gives each parameter as its own signal
(an image for a 2-D scan); ``save`` writes the .hspy file (and PNG maps); ``to_json`` is the
``exelfs map --json`` object of DESIGN.md. Units: r angstrom, sigma2 angstrom^2, e0_shift eV.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..pipeline.result import jsonable
from .pixels import ANSWERED, MASK_NAMES

UNITS = {"r": "A", "sigma2": "A^2", "n": "", "e0": "eV", "snr": "", "mask": ""}


def unit_of(name: str) -> str:
    """Unit of a stored parameter from its name (r1 -> A, sigma2_1 -> A^2, e0_shift -> eV)."""
    for prefix, unit in UNITS.items():
        if name.startswith(prefix):
            return unit
    return ""


@dataclass
class MapResult:
    """setup (the MapSetup), values (navigation shape + (parameters,), float32), nav_axes (HyperSpy order),
    sum_result (the pipeline's Result on the image's sum), image (the Image mapped), timing (s: setup,
    pixels, total), settings (method, bin, scheduler, min_snr, chunk_pixels)."""

    setup: object
    values: np.ndarray
    nav_axes: list
    sum_result: object
    image: object
    timing: dict
    settings: dict = field(default_factory=dict)

    @property
    def names(self) -> list:
        return list(self.setup.names)

    def __getitem__(self, name: str) -> np.ndarray:
        """The map of one parameter as an array of the navigation shape (NaN where masked)."""
        return self.values[..., self.names.index(name)]

    @property
    def mask(self) -> np.ndarray:
        """True where the pixel holds no answer (its reason in ``self['mask']``)."""
        return self["mask"] != ANSWERED

    def mask_counts(self) -> dict:
        codes = self["mask"].astype(int).ravel()
        out = {"total": int(np.count_nonzero(codes != ANSWERED))}
        out.update({name: int(np.count_nonzero(codes == code)) for code, name in MASK_NAMES.items()})
        return out

    def summary(self) -> dict:
        """{parameter: {median, p05, p95}} over the answered pixels (None where none)."""
        keep = ~self.mask
        out = {}
        for name in self.names[:-2]:
            v = self[name][keep]
            v = v[np.isfinite(v)]
            out[name] = ({"median": round(float(np.median(v)), 5), "p05": round(float(np.percentile(v, 5)), 5),
                          "p95": round(float(np.percentile(v, 95)), 5)} if v.size else
                         {"median": None, "p05": None, "p95": None})
        return out

    def run_record(self) -> dict:
        """Everything about the run as plain data: choices of the plan, the sum's extraction and answer."""
        s, r = self.setup, self.sum_result
        return jsonable({
            "edge": s.plan.edge, "structure": s.plan.structure, "method": s.method, "e0_ev": round(s.e0, 2),
            "k_range": [round(x, 3) for x in s.k_range], "kweight": s.kweight, "rbkg": s.plan.rbkg,
            "pre_edge_window_ev": [round(x, 2) for x in s.window], "e_end_ev": round(s.e_end, 2),
            "r_range": None if s.r_range is None else list(s.r_range),
            "deconvolved": s.lowloss is not None, "t_lambda_sum": r.t_lambda,
            "shells_modelled": s.shells_ref, "map": dict(self.settings),
            "plan": r.settings, "sum": {"shells": r.to_json()["shells"],
                                        "undetermined_shells": r.to_json().get("undetermined_shells", [])},
            "timing_s": {k: round(v, 3) for k, v in self.timing.items()},
        })

    def warnings(self) -> list:
        w = [f"on the image's sum: {x}" for x in self.sum_result.warnings]
        counts = self.mask_counts()
        pixels = int(np.prod(self.values.shape[:-1]))
        if counts["total"]:
            w.append(f"{counts['total']} of {pixels} pixels masked (" + ", ".join(
                f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if k != "total" and v) + ")")
        return list(dict.fromkeys(w))

    def to_json(self, file=None, out=None) -> dict:
        """The ``exelfs map --json`` object: file, edge, method, pixels, parameters, out, masked, settings,
        warnings (plus structure, e0_ev, k_range, timing)."""
        rec = self.run_record()
        pixels = int(np.prod(self.values.shape[:-1]))
        return jsonable({"file": None if file is None else str(file), "edge": rec["edge"],
                          "structure": rec["structure"], "method": rec["method"], "pixels": pixels,
                          "parameters": self.summary(), "out": None if out is None else str(out),
                          "masked": self.mask_counts(), "e0_ev": rec["e0_ev"], "k_range": rec["k_range"],
                          "settings": {**rec["plan"], "map": rec["map"]}, "warnings": self.warnings(),
                          "timing_s": rec["timing_s"],
                          "pixels_per_s": round(pixels / max(self.timing["pixels_s"], 1e-9), 1)})

    # ------------------------------------------------------------------------------------ HyperSpy
    @property
    def signal(self):
        """All maps as one HyperSpy signal: navigation axes as in the input, signal axis = parameter."""
        import hyperspy.api as hs

        axes = [dict(a) for a in self.nav_axes][::-1]
        axes.append({"name": "parameter", "size": len(self.names), "offset": 0.0, "scale": 1.0, "units": ""})
        sig = hs.signals.Signal1D(self.values, axes=axes)
        sig.metadata.General.title = f"exelfs {self.setup.plan.edge} maps ({self.setup.method})"
        sig.metadata.set_item("exelfs.parameters", self.names)
        sig.metadata.set_item("exelfs.units", [unit_of(n) for n in self.names])
        sig.metadata.set_item("exelfs.mask_codes", json.dumps({"0": "answered", **{str(k): v for k, v in
                                                                                     MASK_NAMES.items()}}))
        sig.metadata.set_item("exelfs.run", json.dumps(self.run_record()))
        if self.image.source:
            sig.metadata.set_item("General.original_filename", str(self.image.source))
        return sig

    @property
    def maps(self) -> dict:
        """{parameter: HyperSpy signal} with the scan axes as signal axes (an image for a 2-D scan)."""
        sig = self.signal
        out = {}
        for i, name in enumerate(self.names):
            m = sig.isig[i].T
            m.metadata.General.title = f"{name} ({unit_of(name)})" if unit_of(name) else name
            out[name] = m
        return out

    def save(self, path, pngs: bool = True) -> list:
        """Write the maps to ``path`` (.hspy) and, with ``pngs``, one PNG per value map and the mask next to
        it (``<stem>_r1.png``...). Returns the written paths."""
        path = Path(path)
        self.signal.save(str(path), overwrite=True)
        written = [path]
        if pngs:
            from .figures import save_map_png

            for name in [n for n in self.names[:-2] if not n.endswith("_err")] + ["mask"]:
                written.append(save_map_png(self, name, path.with_name(f"{path.stem}_{name}.png")))
        return written
