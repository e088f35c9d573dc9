"""3D pictures of the cluster around an absorbing atom: plotly (interactive HTML, the web GUI) and
matplotlib (PNG). The absorber is red; other elements get distinct colours (positions in angstrom)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError

ABSORBER_COLOUR = "#d62728"   # red
# distinct, non-red colours for the other elements, in order of first appearance
PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#bcbd22", "#7f7f7f",
           "#e377c2", "#393b79", "#637939", "#8c6d31"]
VIEW_RADIUS = 5.5   # angstrom


def _cluster_for(spec, absorber, radius):
    from ase import Atoms

    from .candidates import buildable, propose
    from .report import choose_absorber
    from .shells import cluster

    if isinstance(spec, Atoms):
        el = absorber or spec.get_chemical_symbols()[0]
        return cluster(spec, el, radius), el, spec.info.get("name", spec.get_chemical_formula())
    cand = buildable(propose(spec))[0]
    el = choose_absorber(cand, absorber)
    return cluster(cand.atoms, el, radius), el, cand.name


def _colours(symbols: list[str]) -> dict[str, str]:
    """A distinct non-red colour per element, in order of first appearance."""
    return {s: PALETTE[k % len(PALETTE)] for k, s in enumerate(dict.fromkeys(symbols))}


def _bonds(pos: np.ndarray, cut: float):
    """Pairs closer than ``cut`` (the first-shell distance plus a margin), to draw as sticks."""
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    i, j = np.where(np.triu(d < cut, 1))
    return list(zip(i.tolist(), j.tolist()))


def cluster_figure(spec, absorber: str | None = None, radius: float = VIEW_RADIUS):
    """plotly Figure of the cluster within ``radius`` (angstrom) of the absorber (SPEC or ase.Atoms)."""
    import plotly.graph_objects as go

    clus, el, name = _cluster_for(spec, absorber, radius)
    pos = clus.positions
    syms = clus.get_chemical_symbols()
    colours = _colours(syms[1:])
    fig = go.Figure()
    d = np.linalg.norm(pos, axis=1)
    if len(pos) > 1:
        cut = d[1] * 1.15
        xs, ys, zs = [], [], []
        for a, b in _bonds(pos, cut):
            xs += [pos[a, 0], pos[b, 0], None]
            ys += [pos[a, 1], pos[b, 1], None]
            zs += [pos[a, 2], pos[b, 2], None]
        fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line=dict(color="#999999", width=3),
                                   hoverinfo="skip", showlegend=False))
    for s in dict.fromkeys(syms[1:]):
        idx = [k for k in range(1, len(syms)) if syms[k] == s]
        fig.add_trace(go.Scatter3d(
            x=pos[idx, 0], y=pos[idx, 1], z=pos[idx, 2], mode="markers", name=s,
            marker=dict(size=7, color=colours[s], line=dict(width=0.5, color="#333333")),
            text=[f"{s} r = {d[k]:.3f} A" for k in idx], hoverinfo="text"))
    fig.add_trace(go.Scatter3d(x=[0], y=[0], z=[0], mode="markers", name=f"{el} (absorber)",
                               marker=dict(size=11, color=ABSORBER_COLOUR, line=dict(width=1, color="#000")),
                               text=[f"{el} absorber"], hoverinfo="text"))
    fig.update_layout(title=f"{name}: cluster around {el} (r < {radius:g} A)",
                      scene=dict(xaxis_title="x (A)", yaxis_title="y (A)", zaxis_title="z (A)",
                                 aspectmode="data"),
                      legend=dict(title="element"), margin=dict(l=0, r=0, t=40, b=0))
    return fig


def _png(spec, out_path, absorber, radius):
    # a bare Figure with the Agg canvas: no pyplot state, no backend switch (safe inside Jupyter)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    clus, el, name = _cluster_for(spec, absorber, radius)
    pos = clus.positions
    syms = clus.get_chemical_symbols()
    colours = _colours(syms[1:])
    fig = Figure(figsize=(6.4, 6.0), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection="3d")
    d = np.linalg.norm(pos, axis=1)
    if len(pos) > 1:
        for a, b in _bonds(pos, d[1] * 1.15):
            ax.plot(*pos[[a, b]].T, color="#aaaaaa", lw=1.0, zorder=1)
    for s in dict.fromkeys(syms[1:]):
        idx = [k for k in range(1, len(syms)) if syms[k] == s]
        ax.scatter(*pos[idx].T, s=60, color=colours[s], edgecolors="#333333", linewidths=0.4,
                   label=s, depthshade=True)
    ax.scatter([0], [0], [0], s=160, color=ABSORBER_COLOUR, edgecolors="k", label=f"{el} (absorber)")
    ax.set_xlabel("x (A)")
    ax.set_ylabel("y (A)")
    ax.set_zlabel("z (A)")
    lim = max(radius, 1.0)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_zlim(-lim, lim)
    try:
        ax.set_box_aspect((1, 1, 1))
    except AttributeError:  # older matplotlib
        pass
    ax.set_title(f"{name}\ncluster around {el} (r < {radius:g} A)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, title="element")
    fig.tight_layout()
    fig.savefig(out_path)


def render_cluster(spec, out_path, absorber: str | None = None, radius: float = VIEW_RADIUS) -> str:
    """Write a 3D picture of the cluster around the absorber: ``.png`` (matplotlib) or ``.html`` (plotly,
    with plotly.js inline so it opens off-line). Returns the path written."""
    out_path = os.fspath(out_path)
    ext = os.path.splitext(out_path)[1].lower()
    if ext not in (".png", ".html", ".htm"):
        raise InputError(f"cannot write a picture to {out_path}: use a .png or .html file name.")
    folder = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(folder):
        raise InputError(f"the folder {folder} does not exist; create it or choose another path.")
    if ext == ".png":
        _png(spec, out_path, absorber, radius)
    else:
        fig = cluster_figure(spec, absorber, radius)
        fig.write_html(out_path, include_plotlyjs=True, full_html=True)
    return out_path
