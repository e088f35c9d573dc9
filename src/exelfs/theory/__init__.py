"""Theory: FEFF scattering paths (Larch's feff6l), cached on disk, and the EXAFS equation per path."""

from .feff import HOLE, PathTable, cache_dir, feff_input, feff_paths, path_chi
from .shells import SHELL_TOL, group_shells

__all__ = ["PathTable", "feff_paths", "feff_input", "path_chi", "cache_dir", "HOLE", "group_shells", "SHELL_TOL"]
