"""Units and constants, one home for the whole package (Larch's values).

k = sqrt(ETOK * (E - E0)): k in 1/angstrom, E and E0 in eV.
"""

from __future__ import annotations

import numpy as np

# 2 m_e / hbar^2 in 1/(eV angstrom^2), Larch's larch.xafs.xafsutils.ETOK (checked against it in the tests)
ETOK = 0.26246842396479836
KTOE = 1.0 / ETOK


def k_from_e(energy, e0):
    """Photoelectron wavenumber k (1/angstrom) at energy (eV) above e0 (eV); 0 below e0."""
    return np.sqrt(ETOK * np.clip(np.asarray(energy, float) - e0, 0.0, None))


def e_from_k(k, e0=0.0):
    """Energy (eV) at which the photoelectron has wavenumber k (1/angstrom) above e0 (eV)."""
    return e0 + KTOE * np.asarray(k, float) ** 2
