"""Figure builders: pure functions from a Result to a matplotlib Figure (no files, no pyplot state).

The report saves them, ``Result.plot()`` shows them in Jupyter, and the GUI uses the same curves.
Axes: energy (eV), k (1/angstrom), R (angstrom, not phase corrected).
"""

from __future__ import annotations

import numpy as np

from ..units import e_from_k

FONT = 11
COLOURS = {"data": "k", "model": "tab:red", "pre": "tab:blue", "post": "tab:orange", "window": "tab:green",
           "re": "tab:purple", "im": "tab:cyan"}


def _figure(nrows=1, ncols=1, size=(8.0, 5.0)):
    """A bare Agg figure and its axes: no pyplot state, no backend switch (safe inside Jupyter)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols)
    return fig, axes


def _finish(ax, title, xlabel, ylabel):
    ax.set_title(title, fontsize=FONT + 1)
    ax.set_xlabel(xlabel, fontsize=FONT)
    ax.set_ylabel(ylabel, fontsize=FONT)
    ax.tick_params(labelsize=FONT - 1)
    ax.legend(fontsize=FONT - 2, loc="best")


def draw_spectrum(ax, result) -> None:
    """EELS: the edge region on a log scale with the power-law pre-edge and the smooth post-edge background;
    X-ray: normalised mu(E) with Larch's pre-edge and post-edge lines. The analysed k window is shaded."""
    a = result.arrays
    e, sig = np.asarray(a["energy"], float), np.asarray(a["signal"], float)
    e0 = float(result.e0_ev)
    kmin, kmax = result.k_range
    lo, hi = e_from_k(kmin, e0), e_from_k(kmax, e0)
    if result.kind == "xas" and a.get("post_edge") is not None:
        step = a.get("edge_step") or 1.0
        pre = np.asarray(a["pre_edge"], float)
        ax.plot(e, (sig - pre) / step, color=COLOURS["data"], lw=1, label="normalised mu(E)")
        ax.plot(e, (np.asarray(a["post_edge"]) - pre) / step, color=COLOURS["post"], lw=1, ls="--",
                label="post-edge line")
        ax.plot(e, np.zeros_like(e), color=COLOURS["pre"], lw=1, ls="--", label="pre-edge line")
        ax.plot(e, (np.asarray(a["mu0"]) - pre) / step, color=COLOURS["model"], lw=1, label="mu0 (autobk)")
        ylabel = "normalised mu(E)"
    else:
        sel = (e >= e0 - 100) & (e <= hi + 50)
        ax.semilogy(e[sel], np.clip(sig[sel], 1e-12, None), color=COLOURS["data"], lw=1, label="data")
        pre = np.asarray(a["pre_edge"], float)
        ax.semilogy(e[sel], np.clip(pre[sel], 1e-12, None), color=COLOURS["pre"], lw=1,
                    label="pre-edge power law")
        mu0 = np.asarray(a["mu0"], float)
        ok = sel & np.isfinite(mu0)
        ax.semilogy(e[ok], np.clip(pre[ok] + mu0[ok], 1e-12, None), color=COLOURS["post"], lw=1,
                    label="pre-edge + mu0 (post-edge)")
        ylabel = "counts"
    ax.axvline(e0, color=COLOURS["model"], lw=0.8, ls=":", label=f"E0 = {e0:.1f} eV")
    ax.axvspan(lo, hi, color=COLOURS["window"], alpha=0.12, label=f"k {kmin:.1f}-{kmax:.1f} 1/A")
    _finish(ax, f"{result.edge}: spectrum and backgrounds", "energy (eV)", ylabel)


def draw_chik(ax, result) -> None:
    """k^w chi(k): data, model and the k window."""
    a, kw = result.arrays, result.kweight
    k, chi = np.asarray(a["fit_k"]), np.asarray(a["fit_chi"])
    ax.plot(k, k ** kw * chi, color=COLOURS["data"], lw=1, label="data")
    km = np.asarray(a["chi_model"])
    ax.plot(k[: km.size], k[: km.size] ** kw * km, color=COLOURS["model"], lw=1.2, label=f"{result.method} model")
    kmin, kmax = result.k_range
    sel = (k >= kmin) & (k <= kmax)
    amp = float(np.nanmax(np.abs(k[sel] ** kw * chi[sel]))) if sel.any() else 1.0
    win = np.asarray(a.get("kwin") if a.get("kwin") is not None else np.zeros_like(k))
    ax.plot(k[: win.size], amp * win, color=COLOURS["window"], lw=0.8, label="window")
    ax.set_xlim(0, kmax + 2)
    ax.set_ylim(-1.3 * amp, 1.3 * amp)
    _finish(ax, f"{result.edge}: k^{kw} chi(k)", "k (1/A)", f"k^{kw} chi(k) (A^-{kw})")


def draw_chir(ax, result) -> None:
    """|chi(R)|, Re and Im of data and model, the fit window and the fitted distances."""
    a = result.arrays
    r, chir = np.asarray(a["r"]), np.asarray(a["chir"])
    cm = np.asarray(a["chir_model"])
    ax.plot(r, np.abs(chir), color=COLOURS["data"], lw=1.2, label="|chi(R)| data")
    ax.plot(r, chir.real, color=COLOURS["re"], lw=0.8, label="Re data")
    ax.plot(r, chir.imag, color=COLOURS["im"], lw=0.8, label="Im data")
    ax.plot(r[: cm.size], np.abs(cm), color=COLOURS["model"], lw=1.2, label="|chi(R)| model")
    ax.plot(r[: cm.size], cm.real, color=COLOURS["model"], lw=0.8, ls="--", label="Re model")
    if result.r_range:
        ax.axvspan(*result.r_range, color=COLOURS["window"], alpha=0.12, label="fit window")
    for s in result.shells:
        ax.axvline(s["r"], color="tab:gray", lw=0.7, ls=":")
        ax.text(s["r"], ax.get_ylim()[1] * 0.9, f" {s['scatterer']} {s['r']:.2f}", fontsize=FONT - 2)
    ax.set_xlim(0, 6)
    _finish(ax, f"{result.edge}: Fourier transform (shell marks: fitted R, phase corrected)",
            "R (A), not phase corrected", f"chi(R) (A^-{result.kweight + 1})")


def _single(draw, result, size=(8.0, 5.0)):
    fig, ax = _figure(size=size)
    draw(ax, result)
    return fig


def spectrum_figure(result):
    return _single(draw_spectrum, result)


def chik_figure(result):
    return _single(draw_chik, result)


def chir_figure(result):
    return _single(draw_chir, result)


def overview_figure(result):
    """The spectrum (where there is one), chi(k) and chi(R) side by side."""
    panels = ([draw_spectrum] if result.arrays.get("energy") is not None else []) + [draw_chik, draw_chir]
    fig, axes = _figure(1, len(panels), size=(5.5 * len(panels), 4.5))
    for draw, ax in zip(panels, np.atleast_1d(axes)):
        draw(ax, result)
    return fig
