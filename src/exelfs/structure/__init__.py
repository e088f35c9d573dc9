"""Reference crystal structures and neighbour shells (distances in angstrom).

``propose(spec)`` ranks candidate crystals for an element, formula, mineral name or CIF path (ASE's
reference states and Larch's bundled AMCSD database); ``reference_atoms`` gives the best one;
``shells``/``cluster`` describe the neighbourhood of an absorbing atom; ``structure_report`` is the
``exelfs structure --json`` result; ``render_cluster``/``cluster_figure`` draw it in 3D.
"""

from .candidates import StructureCandidate, propose, reference_atoms, spec_for_elements
from .report import format_structure, structure_report
from .shells import absorber_sites, cluster, shells
from .view import cluster_figure, render_cluster

__all__ = ["StructureCandidate", "propose", "reference_atoms", "spec_for_elements", "shells", "cluster", "absorber_sites",
           "structure_report", "format_structure", "render_cluster", "cluster_figure"]
