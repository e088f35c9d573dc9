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


CORNER = ("r1", "n1", "sigma2_1", "e0_shift", "s02")
LABELS = {"r1": "R1 (A)", "n1": "N1", "sigma2_1": "sigma2_1 (A^2)", "e0_shift": "dE0 (eV)", "s02": "S0^2"}


def corner_figure(result):
    """The network's posterior of one spectrum: histograms of R1, N1, sigma2_1, delta E0 and S0^2 on the
    diagonal, pairwise densities below it with their correlation coefficients."""
    a = result.arrays
    names = list(a["posterior_names"])
    cols = [names.index(n) for n in CORNER if n in names]
    s = np.asarray(a["posterior_samples"], float)[:, cols]
    labels = [LABELS[names[c]] for c in cols]
    n = len(cols)
    fig, axes = _figure(n, n, size=(2.1 * n + 1, 2.1 * n + 1))
    axes = np.atleast_2d(axes)
    corr = np.corrcoef(s.T) if n > 1 else np.ones((1, 1))
    for i in range(n):
        for j in range(n):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(s[:, i], bins=40, color=COLOURS["data"], histtype="step")
                lo, mid, hi = np.quantile(s[:, i], [0.1587, 0.5, 0.8413])
                for v in (lo, hi):
                    ax.axvline(v, color=COLOURS["model"], lw=0.8, ls="--")
                ax.axvline(mid, color=COLOURS["model"], lw=1)
                ax.set_yticks([])
            else:
                ax.hist2d(s[:, j], s[:, i], bins=30, cmap="Greys")
                ax.text(0.04, 0.9, f"r = {corr[i, j]:+.2f}", transform=ax.transAxes, fontsize=FONT - 2,
                        color=COLOURS["model"])
            ax.tick_params(labelsize=FONT - 3)
            if i == n - 1:
                ax.set_xlabel(labels[j], fontsize=FONT - 1)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i], fontsize=FONT - 1)
            elif j > 0:
                ax.set_yticklabels([])
    source = (result.stats.get("posterior") or {}).get("source", "the network")
    fig.suptitle(f"{result.edge}: posterior from {source}\n(lines: median and central 68 % interval)",
                 fontsize=FONT)
    return fig


def reconstruction_figure(result):
    """What the network reads, k^2 chi Fourier-filtered to its R window, for the data and for the forward
    model at the network's answer; beside it |chi(R)| of both."""
    a = result.arrays
    fig, (ax, bx) = _figure(1, 2, size=(11.0, 4.5))
    k = np.asarray(a["filtered_k"])
    data, model = np.asarray(a["filtered_chi"]), np.asarray(a["filtered_chi_model"])
    kmin, kmax = result.k_range
    sel = (k >= kmin - 0.5) & (k <= kmax + 0.5)
    ax.plot(k[sel], data[sel], color=COLOURS["data"], lw=1, label="data, Fourier-filtered")
    ax.plot(k[sel], model[sel], color=COLOURS["model"], lw=1.2, label="forward model at the network's answer")
    rf = result.stats.get("reconstruction_r_factor")
    _finish(ax, "the network's reconstructed chi" + ("" if rf is None else f" (R-factor {rf:.3f})"), "k (1/A)",
            "k^2 chi(k) (A^-2), filtered")
    r, chir, cm = np.asarray(a["r"]), np.asarray(a["chir"]), np.asarray(a["chir_model"])
    bx.plot(r, np.abs(chir), color=COLOURS["data"], lw=1.2, label="|chi(R)| data")
    bx.plot(r, np.abs(cm), color=COLOURS["model"], lw=1.2, label="|chi(R)| network's answer")
    if a.get("rwin") is not None:
        bx.plot(r, np.abs(chir).max() * np.asarray(a["rwin"]), color=COLOURS["window"], lw=0.8,
                label="R window the network reads")
    bx.set_xlim(0, 6)
    _finish(bx, f"{result.edge}: |chi(R)| of k^{result.kweight} chi", "R (A), not phase corrected",
            f"|chi(R)| (A^-{result.kweight + 1})")
    return fig


def series_figure(series: dict):
    """sigma2(T) of a temperature series (exelfs.pipeline.series): each spectrum's first-shell sigma2 with
    its error, and the fitted Einstein / correlated-Debye curve. T in K, sigma2 in A^2."""
    fig, ax = _figure()
    ax.errorbar(series["temperatures"], series["sigma2"], yerr=series["sigma2_err"], fmt="o", color=COLOURS["data"],
                capsize=3, label="each spectrum's first-shell sigma2")
    curve = series["curve"]
    how = "one fit of all spectra" if series.get("two_step") else "network posteriors combined"
    ax.plot(curve["t"], curve["sigma2"], color=COLOURS["model"],
            label=f"{series['model']}: theta = {series['theta_k']:.0f} ± {series['theta_err']:.0f} K ({how})")
    ax.set_xlim(0, max(curve["t"]))
    _finish(ax, f"sigma2(T) of the {series.get('shell', 'first')} shell", "T (K)", "sigma2 (Å²)")
    return fig
