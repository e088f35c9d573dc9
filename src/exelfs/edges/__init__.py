"""Edge detection and identification (element and edge from onset energies, shapes, partners)."""

from .tables import EdgeEntry, all_edges, edge_energy, edge_entry, parse_edge

__all__ = ["EdgeEntry", "all_edges", "edge_energy", "edge_entry", "parse_edge"]
