"""Least-squares neighbour-shell fits (Larch feffit) of chi(k) with FEFF paths, alone or over a temperature series."""

from .series import fit_series_joint, fit_sigma2_series
from .shells import choose_model, fit_shells, n_independent

__all__ = ["fit_shells", "choose_model", "n_independent", "fit_series_joint", "fit_sigma2_series"]
