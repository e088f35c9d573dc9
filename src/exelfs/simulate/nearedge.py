"""Near-edge nuisances of the EELS forward model: what real edges show in their first ~40 eV and what a
network must learn to ignore, not to predict. Energies in eV; heights in edge-step units of the edge.

- ELNES: Gaussian peaks of random position (0..range eV above the onset), width (FWHM growing with the
  distance from the onset: lifetime broadening) and height.
- A pre-peak where edges commonly have one: pi* / hybridised states on B, C, N, O K (O K of oxides at
  532 eV) and on 3d metal L3: a Lorentzian, its tails damped with a Gaussian of WHITE_LINE_TAIL_EV so that
  it stays local.

Each profile is evaluated on a local energy window (M,) for a batch: parameters (B, P), result (B, M).
"""

from __future__ import annotations

import numpy as np

PRE_PEAK_K_EDGES = frozenset({"B", "C", "N", "O"})  # K edges with a pi* or hybridised pre-peak
TM_3D = ("Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu")  # 3d metals: L3 pre-peaks (crystal field)
WHITE_LINE_TAIL_EV = 15.0  # Gaussian damping of the Lorentzian tails (sigma, eV)
BROADENING_AT_RANGE = 2.0  # ELNES peaks at the end of the near-edge range are 1 + this times wider
FOUR_LN2 = 4.0 * np.log(2.0)


def gaussians(energy, pos, fwhm, height) -> np.ndarray:
    """sum_p height exp(-4 ln2 (E - pos)^2 / fwhm^2) on `energy` (M,), parameters (B, P): (B, M)."""
    out = np.zeros((pos.shape[0], energy.size), np.float32)
    e = energy.astype(np.float32)[None, :]
    for p in range(pos.shape[1]):
        a = (FOUR_LN2 / fwhm[:, p:p + 1] ** 2).astype(np.float32)
        x = e - pos[:, p:p + 1].astype(np.float32)
        out += height[:, p:p + 1].astype(np.float32) * np.exp(-a * x * x)
    return out


def lorentzians(energy, pos, fwhm, height) -> np.ndarray:
    """sum_p height / (1 + ((E - pos) / (fwhm/2))^2), tails damped beyond ~WHITE_LINE_TAIL_EV: (B, M)."""
    out = np.zeros((pos.shape[0], energy.size), np.float32)
    e = energy.astype(np.float32)[None, :]
    damp = np.float32(0.5 / WHITE_LINE_TAIL_EV**2)
    for p in range(pos.shape[1]):
        x = e - pos[:, p:p + 1].astype(np.float32)
        x2 = x * x
        g2 = (0.5 * fwhm[:, p:p + 1]).astype(np.float32) ** 2
        out += height[:, p:p + 1].astype(np.float32) * np.exp(-damp * x2) / (1.0 + x2 / g2)
    return out


def has_pre_peak(element: str, shell: str) -> bool:
    """True for an edge that commonly shows a pre-peak: B, C, N, O K (pi*, hybridised states) and 3d metal L3
    (crystal-field / multiplet structure below the main white line)."""
    return (shell == "K" and element in PRE_PEAK_K_EDGES) or (shell == "L3" and element in TM_3D)


def elnes_peaks(rng, n: int, npeaks: int, span: float, width, height):
    """Random ELNES peaks for n spectra: positions (eV above the onset), FWHM (eV), heights, each (n, P).

    width, height: (lo, hi) uniform ranges; the FWHM grows linearly by BROADENING_AT_RANGE at `span`."""
    pos = rng.uniform(0.0, span, (n, npeaks))
    fwhm = rng.uniform(width[0], width[1], (n, npeaks)) * (1.0 + BROADENING_AT_RANGE * pos / max(span, 1e-9))
    h = rng.uniform(height[0], height[1], (n, npeaks))
    return pos, fwhm, h
