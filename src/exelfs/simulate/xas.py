"""X-ray absorption counterpart: mu(E) = pre-edge line + edge step (arctan) x post-edge curve x (1 + chi).

Energies in eV (photon energy), k in 1/angstrom. A range (lo, hi) in :class:`XASConfig` is drawn per
spectrum; drawn values are stored in ``metadata['true']``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..edges.tables import edge_entry, parse_edge
from ..errors import InputError
from ..spectrum import Spectrum
from .eels import _chi_on_energy, draw


@dataclass
class XASConfig:
    """Recipe of the X-ray mu(E) model. Energies eV; a tuple (lo, hi) is a drawn range."""

    edge: str = "Cu_K"
    e_before: float = 150.0
    e_after: float = 800.0
    energy_step: tuple = (0.3, 1.0)  # eV between points
    e0_shift: tuple = (-2.0, 2.0)  # chemical shift of the edge, eV
    edge_width: tuple = (0.5, 3.0)  # arctan core-hole/resolution width, eV
    edge_step: tuple = (0.3, 2.0)  # mu jump
    pre_offset: tuple = (-0.2, 0.5)
    pre_slope: tuple = (-2e-4, 2e-4)  # per eV
    post_curvature: tuple = (-0.3, 0.1)  # relative change of the step over 1000 eV
    chi_taper_k: tuple = (0.5, 1.5)
    noise: tuple = (1e-4, 3e-3)  # Gaussian noise, fraction of the edge step

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "XASConfig":
        bad = set(d) - set(cls.__dataclass_fields__)
        if bad:
            raise InputError(f"unknown XAS config key(s) {sorted(bad)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})



def xas_spectrum(k=None, chi=None, config: XASConfig | dict | None = None, seed=None, rng=None,
                 title: str = "synthetic XAS") -> Spectrum:
    """A synthetic X-ray absorption spectrum mu(E) (kind 'xas') carrying chi(k) above the edge."""
    cfg = config if isinstance(config, XASConfig) else XASConfig.from_dict(config or {})
    rng = rng if rng is not None else np.random.default_rng(seed)
    element, shell = parse_edge(cfg.edge)
    ent = edge_entry(element, shell)
    e_tab = ent.xray_energy if ent.xray_energy is not None else ent.energy
    step_e = draw(cfg.energy_step, rng)
    e0 = e_tab + draw(cfg.e0_shift, rng)
    energy = np.arange(e_tab - cfg.e_before, e_tab + cfg.e_after, step_e)
    width = draw(cfg.edge_width, rng)
    jump = draw(cfg.edge_step, rng)
    pre0, slope = draw(cfg.pre_offset, rng), draw(cfg.pre_slope, rng)
    curv = draw(cfg.post_curvature, rng)
    noise = draw(cfg.noise, rng, log=True)
    x = energy - e0
    step = 0.5 + np.arctan(x / width) / np.pi
    post = 1.0 + curv * np.clip(x, 0, None) / 1000.0
    fine = _chi_on_energy(k, None if chi is None else np.asarray(chi, float), energy, e0, cfg.chi_taper_k) \
        if k is not None else np.zeros_like(energy)
    mu = pre0 + slope * x + jump * step * post * (1.0 + fine)
    mu = mu + rng.normal(0.0, noise * jump, size=mu.shape)
    true = {"edge": cfg.edge, "e0": e0, "energy_step": step_e, "edge_width": width, "edge_step": jump,
            "pre_offset": pre0, "pre_slope": slope, "post_curvature": curv, "noise": noise}
    return Spectrum(energy=energy, intensity=mu, kind="xas", source="exelfs.simulate", title=title,
                    metadata={"element": element, "edge": shell, "e0": e0, "true": true,
                              "config": cfg.to_dict(), "synthetic": True})
