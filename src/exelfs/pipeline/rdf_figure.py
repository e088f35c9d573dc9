"""The partial-RDF figure: n_B(r) per kind of neighbour with its band, the crystal's shells marked and the
answered peaks' positions with their errors.
Axes: r (angstrom), atoms per angstrom."""

from __future__ import annotations

import numpy as np

from .figures import FONT, _figure, _finish
from .rdf import kind_peaks

KIND_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange")


def draw_rdf(ax, rdf: dict, title: str = "partial RDF (network)") -> None:
    """n_B(r) per kind (lines), the calibrated band (shaded), the crystal's shells (ticks with N) and each
    answered peak's position with its error (triangles above the band); an unseen spectrum (rdf["unseen"]) is
    marked across the panel and in the title."""
    r = np.asarray(rdf["r"], float)
    for i, kind in enumerate(rdf["g"]):
        c = KIND_COLOURS[i % len(KIND_COLOURS)]
        ax.fill_between(r, rdf["lo"][kind], rdf["hi"][kind], color=c, alpha=0.2, lw=0)
        ax.plot(r, rdf["g"][kind], color=c, lw=1.3, label=f"{kind} neighbours")
        answered, undetermined = kind_peaks(rdf, kind)
        for shell in answered + undetermined:
            ax.axvline(shell["r_ref"], color=c, lw=0.6, ls=":")
            ax.text(shell["r_ref"], 0.97, f" {shell['n_ref']:g}", color=c, fontsize=FONT - 3,
                    transform=ax.get_xaxis_transform(), va="top")
        if answered:
            top = [np.interp(p["r"], r, rdf["hi"][kind]) for p in answered]
            ax.errorbar([p["r"] for p in answered], top, xerr=[p.get("r_err") or 0 for p in answered], fmt="v",
                        color=c, ms=4, lw=1, capsize=2)
    ax.set_xlim(r[0], r[-1])
    ax.set_ylim(bottom=0)
    if rdf.get("unseen"):
        title = f"UNRELIABLE (spectrum unlike the training set): {title}"
        ax.text(0.5, 0.5, "UNSEEN SPECTRUM: not a result", transform=ax.transAxes, ha="center", va="center",
                color="tab:red", fontsize=FONT + 4, alpha=0.6, rotation=15)
    _finish(ax, title, "r (A)", "atoms per A (band: ~95 %)")


def rdf_figure(result):
    """The RDF panel of a Result analysed with rdf=True (dotted: crystal shells, with their N)."""
    fig, ax = _figure(size=(8.0, 4.5))
    draw_rdf(ax, result.rdf, f"{result.edge}: partial RDF around the absorber (network, ~95 % band)")
    return fig
