"""Plotly figure builders of the GUI: pure functions from a Spectrum, an identification or the Results of
the pipeline (their ``arrays``) to a ``go.Figure``; the same curves as the report's matplotlib figures.
Axes: energy (eV), k (1/angstrom), R (angstrom, not phase corrected), r (angstrom) and atoms per angstrom
for the partial RDF."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..pipeline.rdf import kind_peaks
from ..units import e_from_k

DATA, MARK, EDGE, WINDOW = "#222222", "#d62728", "#1f77b4", "rgba(44,160,44,0.13)"
METHOD_COLOURS = ["#d62728", "#ff7f0e", "#9467bd", "#8c564b"]
KIND_COLOURS = [(214, 39, 40), (31, 119, 180), (44, 160, 44), (148, 103, 189), (255, 127, 14)]  # per neighbour
UNSEEN = "unseen spectrum: not a result"
MARGIN = dict(l=60, r=20, t=45, b=45)


def _layout(fig, title, xtitle, ytitle, **extra):
    fig.update_layout(title=title, xaxis_title=xtitle, yaxis_title=ytitle, margin=MARGIN, template="plotly_white",
                      legend=dict(orientation="h", y=-0.18), **extra)
    return fig


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says what to do next."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="#777777"))
    fig.update_layout(xaxis=dict(visible=False), yaxis=dict(visible=False), margin=MARGIN, template="plotly_white")
    return fig


def _edge_label(edge: dict) -> str:
    cands = edge.get("candidates") or []
    best = f"{cands[0]['element']}_{cands[0]['edge']}" if cands else "?"
    return f"{best} {edge['onset_ev']:.0f} eV"


def spectrum_figure(spectrum, title: str, found: dict | None = None, marked_ev: float | None = None,
                    log: bool = False) -> go.Figure:
    """The spectrum (counts or mu(E) against energy, eV), the detected edges marked (dotted, labelled with
    their best candidate) and the operator's mark (red). A click anywhere picks the nearest energy."""
    e, y = spectrum.energy, np.asarray(spectrum.intensity, float)
    if log:
        y = np.where(y > 0, y, np.nan)
    fig = go.Figure(go.Scatter(x=e, y=y, mode="lines", line=dict(color=DATA, width=1.2), name="spectrum",
                               hovertemplate="%{x:.1f} eV<extra>click to mark an edge</extra>"))
    for edge in (found or {}).get("edges", []):
        fig.add_vline(x=edge["onset_ev"], line=dict(color=EDGE, dash="dot", width=1.5))
        fig.add_annotation(x=edge["onset_ev"], y=1.0, yref="paper", text=_edge_label(edge), showarrow=False,
                           xanchor="left", yanchor="top", font=dict(color=EDGE))
    if marked_ev is not None:
        fig.add_vline(x=marked_ev, line=dict(color=MARK, dash="dash", width=2))
        fig.add_annotation(x=marked_ev, y=0.92, yref="paper", text=f"marked {marked_ev:.1f} eV", showarrow=False,
                           xanchor="left", font=dict(color=MARK))
    ytitle = "counts" if spectrum.kind == "eels" else "mu(E)"
    xtitle = "energy loss (eV)" if spectrum.kind == "eels" else "energy (eV)"
    return _layout(fig, title, xtitle, ytitle, hovermode="x", yaxis_type="log" if log else "linear",
                   showlegend=False)


def navigator_figure(image, selection: tuple | None) -> go.Figure:
    """The spectrum image's total counts per pixel; a click picks a pixel, a box (select tool) a region."""
    total = np.asarray(image.intensity, float).sum(axis=-1)
    total = total.reshape(1, -1) if total.ndim == 1 else total.reshape(total.shape[0], -1)
    fig = go.Figure(go.Heatmap(z=total, colorscale="Viridis", colorbar=dict(title="counts"),
                               hovertemplate="x %{x}, y %{y}: %{z:.3g}<extra></extra>"))
    if selection:
        if selection[0] == "pixel":
            y0 = y1 = selection[1]
            x0 = x1 = selection[2]
        else:
            y0, y1, x0, x1 = selection[1:]
        fig.add_shape(type="rect", x0=x0 - 0.5, x1=x1 + 0.5, y0=y0 - 0.5, y1=y1 + 0.5,
                      line=dict(color=MARK, width=2))
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    return _layout(fig, "spectrum image: click a pixel or draw a box (select tool)", "x (pixel)", "y (pixel)",
                   dragmode="select", clickmode="event+select")


def background_figure(result) -> go.Figure:
    """Step 1 of the chain: the edge region with the pre-edge background (power law for EELS, Larch's line
    for X-ray data), the post-edge mu0, E0 and the analysed k window (shaded)."""
    a = result.arrays
    if a.get("energy") is None:
        return empty_figure("chi(k) data: no spectrum, no background")
    e, sig, pre = (np.asarray(a[n], float) for n in ("energy", "signal", "pre_edge"))
    mu0 = np.asarray(a["mu0"], float)
    e0, (kmin, kmax) = float(result.e0_ev), result.k_range
    lo, hi = e_from_k(kmin, e0), e_from_k(kmax, e0)
    fig = go.Figure()
    if result.kind == "xas":
        step = a.get("edge_step") or 1.0
        curves = [("normalised mu(E)", (sig - pre) / step, DATA), ("mu0 (autobk)", (mu0 - pre) / step, MARK)]
        ytitle, log = "normalised mu(E)", False
    else:
        sel = (e >= e0 - 100) & (e <= hi + 50)
        e, sig, pre, mu0 = e[sel], sig[sel], pre[sel], mu0[sel]
        curves = [("data", sig, DATA), ("pre-edge power law", pre, EDGE), ("pre-edge + mu0", pre + mu0, "#ff7f0e")]
        ytitle, log = "counts", True
    for name, y, colour in curves:
        fig.add_trace(go.Scatter(x=e, y=np.where(np.asarray(y) > 0, y, np.nan) if log else y, name=name,
                                 mode="lines", line=dict(color=colour, width=1.2)))
    window = a.get("pre_edge_window")
    if window is not None and result.kind == "eels":
        fig.add_vrect(x0=float(window[0]), x1=float(window[1]), fillcolor="rgba(31,119,180,0.10)", line_width=0,
                      annotation_text="pre-edge fit", annotation_position="top left")
    fig.add_vrect(x0=lo, x1=hi, fillcolor=WINDOW, line_width=0, annotation_text=f"k {kmin:.1f}-{kmax:.1f} 1/A",
                  annotation_position="top right")
    fig.add_vline(x=e0, line=dict(color=MARK, dash="dot"), annotation_text=f"E0 {e0:.1f} eV")
    return _layout(fig, f"{result.edge}: background and E0", "energy (eV)", ytitle,
                   yaxis_type="log" if log else "linear")


def _colour(i: int) -> str:
    return METHOD_COLOURS[i % len(METHOD_COLOURS)]


def chik_figure(results: dict) -> go.Figure:
    """k^w chi(k) of the data with each method's model and the k window (results: {method: Result})."""
    if not results:
        return empty_figure("run the analysis to see chi(k)")
    first = next(iter(results.values()))
    a, kw = first.arrays, first.kweight
    k, chi = np.asarray(a["fit_k"]), np.asarray(a["fit_chi"])
    fig = go.Figure(go.Scatter(x=k, y=k ** kw * chi, name="data", mode="lines", line=dict(color=DATA, width=1.2)))
    for i, (method, res) in enumerate(results.items()):
        km, model = np.asarray(res.arrays["fit_k"]), np.asarray(res.arrays["chi_model"])
        fig.add_trace(go.Scatter(x=km[: model.size], y=km[: model.size] ** kw * model, name=f"{method} model",
                                 mode="lines", line=dict(color=_colour(i), width=1.5)))
    kmin, kmax = first.k_range
    fig.add_vrect(x0=kmin, x1=kmax, fillcolor=WINDOW, line_width=0)
    fig.update_xaxes(range=[0, kmax + 2])
    return _layout(fig, f"{first.edge}: k^{kw} chi(k)", "k (1/A)", f"k^{kw} chi(k) (A^-{kw})")


def chir_figure(results: dict) -> go.Figure:
    """|chi(R)| and Re chi(R) of the data, each method's |chi(R)| model, the R window and the fitted R."""
    if not results:
        return empty_figure("run the analysis to see the Fourier transform")
    first = next(iter(results.values()))
    r, chir = np.asarray(first.arrays["r"]), np.asarray(first.arrays["chir"])
    fig = go.Figure([go.Scatter(x=r, y=np.abs(chir), name="|chi(R)| data", line=dict(color=DATA, width=1.5)),
                     go.Scatter(x=r, y=chir.real, name="Re data", line=dict(color="#9467bd", width=0.8))])
    for i, (method, res) in enumerate(results.items()):
        rm, cm = np.asarray(res.arrays["r"]), np.asarray(res.arrays["chir_model"])
        fig.add_trace(go.Scatter(x=rm[: cm.size], y=np.abs(cm), name=f"|chi(R)| {method}",
                                 line=dict(color=_colour(i), width=1.5)))
        for s in res.shells:
            fig.add_vline(x=s["r"], line=dict(color=_colour(i), dash="dot", width=1),
                          annotation_text=f"{s['scatterer']} {s['r']:.2f}")
    if first.r_range:
        fig.add_vrect(x0=first.r_range[0], x1=first.r_range[1], fillcolor=WINDOW, line_width=0)
    fig.update_xaxes(range=[0, 6])
    return _layout(fig, f"{first.edge}: Fourier transform (marks: fitted R, phase corrected)",
                   "R (A), not phase corrected", f"|chi(R)| (A^-{first.kweight + 1})")


def rdf_figure(rdf: dict | None, edge: str = "") -> go.Figure:
    """The partial RDF of ``Result.rdf`` (exelfs.pipeline.rdf): per kind of neighbour the mean n_B(r) (line,
    atoms per A against r in A), its lo-hi band (filled), the crystal's shells (dotted, with their N) and the
    answered peaks (triangles: position ± error, hover: area ± error);
    an unseen spectrum (rdf["unseen"]) says so in the title. None: an empty figure with a hint."""
    if not rdf:
        return empty_figure("tick 'partial RDF' with the nn method and run the analysis to see the RDF")
    r = np.asarray(rdf["r"], float)
    fig = go.Figure()
    for i, kind in enumerate(rdf["g"]):
        rgb = ",".join(str(c) for c in KIND_COLOURS[i % len(KIND_COLOURS)])
        fig.add_trace(go.Scatter(x=r, y=rdf["lo"][kind], mode="lines", line=dict(width=0), showlegend=False,
                                 hoverinfo="skip", legendgroup=kind, name=f"{kind} band low"))
        fig.add_trace(go.Scatter(x=r, y=rdf["hi"][kind], mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor=f"rgba({rgb},0.2)", legendgroup=kind, name=f"{kind} band"))
        fig.add_trace(go.Scatter(x=r, y=rdf["g"][kind], mode="lines", line=dict(color=f"rgb({rgb})", width=1.5),
                                 legendgroup=kind, name=f"{kind} neighbours"))
        answered, undetermined = kind_peaks(rdf, kind)
        for shell in answered + undetermined:
            fig.add_vline(x=shell["r_ref"], line=dict(color=f"rgb({rgb})", dash="dot", width=1),
                          annotation_text=f"{kind} N={shell['n_ref']:g}", annotation_font_color=f"rgb({rgb})")
        if answered:
            fig.add_trace(go.Scatter(x=[p["r"] for p in answered], y=[np.interp(p["r"], r, rdf["hi"][kind]) for p in answered],
                                     mode="markers", marker=dict(symbol="triangle-down", color=f"rgb({rgb})"),
                                     error_x=dict(array=[p.get("r_err") or 0 for p in answered]), legendgroup=kind,
                                     name=f"{kind} peaks (r ± error)",
                                     text=[f"r {p['r']:.3f} ± {p.get('r_err') or 0:.3f} A, area {p['n']:.1f} ± "
                                           f"{p.get('n_err') or 0:.1f}" for p in answered], hoverinfo="text"))
    title = f"{edge}: partial RDF around the absorber (network, band ~95 %; dotted: crystal shells)".lstrip(": ")
    if rdf.get("unseen"):
        title = f"{UNSEEN}; {title}"
        fig.add_annotation(text=rdf.get("unseen_reason") or "the RDF network has not seen a spectrum like this",
                           x=0.5, y=0.9, xref="paper", yref="paper", showarrow=False, font=dict(color=MARK))
    fig.update_xaxes(range=[float(r[0]), float(r[-1])])
    fig.update_yaxes(rangemode="tozero")
    return _layout(fig, title, "r (A)", "atoms per A")
