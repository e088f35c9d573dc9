"""Least-squares neighbour-shell fits (Larch feffit) of chi(k) with FEFF paths."""

from .shells import choose_model, fit_shells, n_independent

__all__ = ["fit_shells", "choose_model", "n_independent"]
