"""Edge detection and identification (element and edge from onset energies, shapes, partners)."""

from .detect import detect_edges, find_edges
from .identify import format_identification, identify
from .tables import EdgeEntry, all_edges, edge_energy, edge_entry, parse_edge

__all__ = ["EdgeEntry", "all_edges", "edge_energy", "edge_entry", "parse_edge", "detect_edges", "find_edges",
           "identify", "format_identification"]
