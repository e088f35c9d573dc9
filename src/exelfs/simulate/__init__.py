"""Synthetic spectra: EXAFS chi(k) from FEFF paths (vectorised), disorder, EELS and X-ray forward models,
seeded data sets.

- ``chi_from_paths(paths, k, params)``: Larch's ff2chi for a whole batch of parameter sets at once.
- ``disordered_ensemble`` / ``chi_from_distances`` / ``radial_distribution``: disordered clusters.
- ``ensembles`` (module): per-shell distance distributions (disorder, skew, small particles, mixed
  occupancy) with their chi(k) and n_B(r), the RDF network's training data.
- ``eels_spectrum(k, chi, EELSConfig(...))``: recorded core-loss (and low-loss) EELS spectrum.
- ``eels_batch(k, chi[n, K], config, seed)``: n spectra at once (vectorised; >= 5,000/s on 2 cores);
  ``training_config()``: the EELS recipe with solid-state edges and near-edge nuisances for training.
- ``xas_spectrum(k, chi, XASConfig(...))``: X-ray mu(E).
- ``make_dataset(recipe, n, seed, out_path)`` / ``load_dataset(path)``: reproducible data sets.
"""

from .batch import eels_batch, training_config
from .dataset import Recipe, load_dataset, make_dataset, simulate_batch
from .disorder import (chi_from_distances, disordered_ensemble, neighbour_distances, radial_distribution,
                       shell_statistics, strain, thermal_displacements)
from .eels import EELSConfig, eels_spectrum, gain_profile, lowloss_kernel, lowloss_spectrum, rebin_counts
from .exafs import chi_from_paths, path_tables, shell_to_path_params, standard_k
from .xas import XASConfig, xas_spectrum

__all__ = [
    "chi_from_paths", "path_tables", "shell_to_path_params", "standard_k",
    "thermal_displacements", "strain", "neighbour_distances", "disordered_ensemble", "shell_statistics",
    "chi_from_distances", "radial_distribution",
    "EELSConfig", "eels_spectrum", "eels_batch", "training_config", "lowloss_spectrum", "lowloss_kernel",
    "rebin_counts", "gain_profile",
    "XASConfig", "xas_spectrum",
    "Recipe", "make_dataset", "simulate_batch", "load_dataset",
]
