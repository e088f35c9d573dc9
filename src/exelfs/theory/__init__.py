"""Theory: FEFF scattering paths (Larch's feff6l), cached on disk, and the EXAFS equation per path."""

from .feff import FEFF_AMP_SIGMA2, FEFF_PHASE_R, HOLE, PathTable, cache_dir, feff_input, feff_paths, path_chi
from .shells import SHELL_TOL, group_shells

__all__ = ["FEFF_PHASE_R", "FEFF_AMP_SIGMA2", "PathTable", "feff_paths", "feff_input", "path_chi", "cache_dir", "HOLE", "group_shells", "SHELL_TOL"]
