"""Report of one analysis: PNG figures, one HTML page and result.json in a folder.

Figures: the spectrum with its background and the analysed window (energy, eV); k^w chi(k) with the fit
(k, 1/angstrom); |chi(R)| with the fit and the fitted R window (R, angstrom).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

ETOK = 0.2624682843  # 1/(eV A^2): k^2 = ETOK (E - E0)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _axes():
    """A bare Agg figure and its axes: no pyplot state, no backend switch (safe inside Jupyter)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig, ax, title, xlabel, ylabel, path):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _figure_spectrum(extraction, result, path):
    fig, ax = _axes()
    energy = np.asarray(extraction.energy, float)
    signal = np.asarray(extraction.signal, float)
    ax.plot(energy, signal, lw=1, color="k", label="data")
    pre = getattr(extraction, "pre_edge", None)
    if pre is not None and np.shape(pre) == np.shape(energy):
        ax.plot(energy, pre, lw=1, color="tab:blue", label="pre-edge background")
    e0 = float(extraction.e0)
    ax.axvline(e0, color="tab:red", lw=0.8, label=f"E0 = {e0:.1f} eV")
    kmin, kmax = result["k_range"]
    ax.axvspan(e0 + kmin ** 2 / ETOK, e0 + kmax ** 2 / ETOK, color="tab:green", alpha=0.12,
               label=f"k window {kmin:.1f}-{kmax:.1f} 1/A")
    _save(fig, ax, f"{result.get('edge')}: spectrum and background", "energy (eV)", "intensity", path)


def _figure_chik(fit, result, path):
    c = fit["curves"]
    kw = fit.get("kweight", 2)
    k = np.asarray(c["k"])
    fig, ax = _axes()
    ax.plot(k, k ** kw * np.asarray(c["chi"]), color="k", lw=1, label="data")
    km = np.asarray(c["chi_model"])
    ax.plot(k[: km.size], k[: km.size] ** kw * km, color="tab:red", lw=1, label="fit")
    kmin, kmax = fit["k_range"]
    sel = (k >= kmin - 1) & (k <= kmax + 1)
    if sel.any():
        amp = np.nanmax(np.abs(k[sel] ** kw * np.asarray(c["chi"])[sel]))
        win = np.asarray(c.get("kwin", np.zeros_like(k)))
        ax.plot(k[: win.size], amp * win, color="tab:green", lw=0.8, label="window")
        ax.set_xlim(0, kmax + 2)
        ax.set_ylim(-1.3 * amp, 1.3 * amp)
    _save(fig, ax, f"{result.get('edge')}: k^{kw} chi(k)", "k (1/A)", f"k^{kw} chi(k)", path)


def _figure_chir(fit, result, path):
    c = fit["curves"]
    fig, ax = _axes()
    r = np.asarray(c["r"])
    ax.plot(r, c["chir_mag"], color="k", lw=1, label="data")
    rm = np.asarray(c["chir_mag_model"])
    ax.plot(r[: rm.size], rm, color="tab:red", lw=1, label="fit")
    rmin, rmax = fit["r_range"]
    ax.axvspan(rmin, rmax, color="tab:green", alpha=0.12, label="fit window")
    for s in result.get("shells", []):
        ax.axvline(s["r"], color="tab:purple", lw=0.6, ls="--")
    ax.set_xlim(0, 6)
    _save(fig, ax, f"{result.get('edge')}: Fourier transform", "R (A), not phase corrected", "|chi(R)| (A^-3)",
          path)


def _html(result, figures) -> str:
    esc = html.escape
    rows = []
    for i, s in enumerate(result.get("shells", []), start=1):
        n_err = "fixed" if s.get("n_err") is None else f"{s['n_err']:.1f}"
        rows.append(f"<tr><td>{i}</td><td>{esc(s['scatterer'])}</td><td>{s['r']:.3f} &plusmn; {s['r_err']:.3f}</td>"
                    f"<td>{s['n']:.1f} &plusmn; {n_err}</td><td>{s['sigma2']:.4f} &plusmn; {s['sigma2_err']:.4f}</td></tr>")
    warn = "".join(f"<li>{esc(str(w))}</li>" for w in result.get("warnings", []))
    figs = "".join(f'<figure><img src="{esc(f)}" alt="{esc(f)}"></figure>' for f in figures)
    meta = {k: result.get(k) for k in ("edge", "structure", "method", "e0_ev", "k_range", "r_range",
                                       "n_independent", "n_parameters", "fit_mode", "chi2_reduced",
                                       "r_factor", "t_lambda", "n_from")}
    meta_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in meta.items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>exelfs: {esc(str(result.get('edge')))}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}img{{max-width:100%}}</style></head>
<body><h1>exelfs analysis: {esc(str(result.get('edge')))} in {esc(str(result.get('structure')))}</h1>
<h2>Shells</h2><table id="results"><tr><th>#</th><th>scatterer</th><th>R (&Aring;)</th><th>N</th>
<th>&sigma;&sup2; (&Aring;&sup2;)</th></tr>{''.join(rows) or '<tr><td colspan=5>no shell determined</td></tr>'}</table>
<h2>Fit</h2><table>{meta_rows}</table>
<h2>Warnings</h2><ul>{warn or '<li>none</li>'}</ul>
<h2>Figures</h2>{figs}
</body></html>
"""


def write_report(result: dict, extraction, fit: dict, out_dir) -> Path:
    """Write figures (PNG), index.html and result.json into out_dir; return the HTML path.

    extraction: the Extraction (None for chi(k) input: no spectrum figure); fit: fit_shells()'s dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    if extraction is not None and getattr(extraction, "energy", None) is not None:
        _figure_spectrum(extraction, result, out / "spectrum.png")
        figures.append("spectrum.png")
    if fit is not None and fit.get("curves"):
        _figure_chik(fit, result, out / "chi_k.png")
        _figure_chir(fit, result, out / "chi_r.png")
        figures += ["chi_k.png", "chi_r.png"]
    (out / "result.json").write_text(json.dumps(_jsonable(result), indent=1))
    page = out / "index.html"
    page.write_text(_html(result, figures))
    return page
