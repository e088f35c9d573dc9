"""The report of one analysis, in a folder: figures (PNG), chi(k) and chi(R) as text columns, the FEFF
paths of the model with a Larch script that redoes the fit outside exelfs, result.json with provenance
(version, input file and its sha256, every setting, date), and an HTML page tying them together. For the
network: its posterior (corner plot, correlation table) and its reconstructed chi (the forward model at
its answer over the data it read)."""

from __future__ import annotations

import datetime
import hashlib
import html
import json
import shutil
from pathlib import Path

import numpy as np

from .figures import CORNER, chik_figure, chir_figure, corner_figure, reconstruction_figure, series_figure, spectrum_figure

DPI = 150


def _sha256(path) -> str | None:
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except (OSError, TypeError):
        return None


def provenance(result) -> dict:
    """Version, input path and sha256, date (UTC) and the library versions that made the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    libs = {}
    for name in ("xraylarch", "exspy", "hyperspy", "numpy"):
        try:
            libs[name] = version(name)
        except PackageNotFoundError:
            libs[name] = None
    return {"exelfs_version": __version__, "input": result.source,
            "input_sha256": _sha256(result.source) if result.source else None,
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "libraries": libs}


def _write_columns(out: Path, result) -> list[str]:
    a = result.arrays
    if a.get("fit_k") is None:
        return []
    k, chi, model = np.asarray(a["fit_k"]), np.asarray(a["fit_chi"]), np.asarray(a["chi_model"])
    n = min(k.size, model.size)
    win = np.asarray(a["kwin"])[:n] if a.get("kwin") is not None else np.zeros(n)
    np.savetxt(out / "chi_k.dat", np.column_stack([k[:n], chi[:n], model[:n], win]), fmt="%.7g",
               header=f"exelfs {result.edge} in {result.structure}: k (1/A), chi (data), chi (model), k window")
    r, chir, cm = np.asarray(a["r"]), np.asarray(a["chir"]), np.asarray(a["chir_model"])
    m = min(r.size, cm.size)
    np.savetxt(out / "chi_r.dat", np.column_stack([r[:m], np.abs(chir[:m]), chir[:m].real, chir[:m].imag,
                                                   np.abs(cm[:m]), cm[:m].real, cm[:m].imag]), fmt="%.7g",
               header=f"exelfs {result.edge}: R (A, not phase corrected), |chi(R)|, Re, Im (data, k^"
                      f"{result.kweight} weighted), |chi(R)|, Re, Im (model)")
    return ["chi_k.dat", "chi_r.dat"]


def _larch_params(params: dict) -> str:
    """The lines of a Larch param_group(...) for a model's parameters as data."""
    return ",\n".join(f"    {name}=param({p['value']:.6g}, vary={p['vary']}, min={p['min']:g}, max={p['max']:g})"
                       for name, p in params.items())


def _larch_feffpath(p: dict, feff_dir: str) -> str:
    """A Larch feffpath(...) call for one path of a model as data, its FEFF file under here/feff_dir."""
    where = " / ".join(f"'{part}'" for part in Path(feff_dir).parts)
    return (f"feffpath(str(here / {where} / '{Path(p['filename']).name}'), "
            f"s02='{p['s02']}', e0='{p['e0']}', deltar='{p['deltar']}', sigma2='{p['sigma2']}')")


def larch_script(result) -> str:
    """A Python script that redoes the fit with Larch alone, from chi_k.dat and the copied FEFF files."""
    m = result.model
    pars = _larch_params(m["params"])
    paths = ",\n".join(f"    '{p['name']}': {_larch_feffpath(p, 'feff')}" for p in m["paths"])
    (kmin, kmax), (rmin, rmax) = m["k_range"], m["r_range"]
    return f'''"""Redo the exelfs fit of {result.edge} in {result.structure} with Larch alone: python refit_larch.py"""
from pathlib import Path

import numpy as np
from larch import Group
from larch.fitting import param, param_group
from larch.xafs import feffit, feffit_dataset, feffit_report, feffit_transform, feffpath

here = Path(__file__).resolve().parent
k, chi = np.loadtxt(here / "chi_k.dat", usecols=(0, 1), unpack=True)
pars = param_group(
{pars})
paths = {{
{paths}}}
transform = feffit_transform(kmin={kmin}, kmax={kmax}, kweight={m["kweight"]}, dk={m["dk"]}, window="{m["window"]}",
                             rmin={rmin}, rmax={rmax}, fitspace="r")
out = feffit(pars, feffit_dataset(data=Group(k=k, chi=chi), paths=paths, transform=transform))
print(feffit_report(out))
'''


def _write_model(out: Path, result) -> list[str]:
    if not result.model.get("paths"):
        return []
    (out / "feff").mkdir(exist_ok=True)
    for name in {p["filename"] for p in result.model["paths"]}:
        shutil.copyfile(name, out / "feff" / Path(name).name)
    (out / "refit_larch.py").write_text(larch_script(result))
    return ["refit_larch.py", "feff/"]


def _table(rows, head) -> str:
    esc = html.escape
    cells = "".join(f"<tr>{''.join(f'<td>{esc(str(c))}</td>' for c in row)}</tr>" for row in rows)
    return f"<table><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr>{cells}</table>"


def _html(result, data: dict, figures: list, files: list) -> str:
    esc = html.escape
    def pm(v, e, fmt):
        return "fixed" if e is None else f"{v:{fmt}} ± {e:{fmt}}"
    shells = [(i, s["scatterer"], pm(s["r"], s["r_err"], ".3f"), pm(s["n"], s["n_err"], ".1f"),
               pm(s["sigma2"], s["sigma2_err"], ".4f")) for i, s in enumerate(data["shells"], 1)]
    undetermined = [(s["scatterer"], f"{s['r']:.3f}", s["reason"]) for s in data.get("undetermined_shells", [])]
    paths = [(p["name"], p["label"], f"{p['reff']:.3f}", p["nleg"], p["degen"]) for p in data["model_paths"]]
    settings = [(k, v["value"], v["set_by"], v["reason"]) for k, v in data["settings"].items()]
    prov = [(k, v) for k, v in data["provenance"].items()]
    stats = [(k, data.get(k)) for k in ("method", "e0_ev", "k_range", "r_range", "kweight", "n_independent",
                                        "n_parameters", "fit_mode", "chi2_reduced", "r_factor", "t_lambda", "n_from")]
    warn = "".join(f"<li>{esc(str(w))}</li>" for w in data["warnings"]) or "<li>none</li>"
    figs = "".join(f'<figure><img src="{esc(f)}" alt="{esc(f)}"></figure>' for f in figures)
    post = data.get("posterior")
    posterior = ""
    if post:
        idx = [post["names"].index(n) for n in CORNER if n in post["names"]]
        rows = [[post["names"][i]] + [f"{post['correlation'][i][j]:+.2f}" for j in idx] for i in idx]
        posterior = (f'<h2>Network posterior</h2><div id="posterior"><p>{esc(post["source"])}, {post["samples"]} '
                     f'samples: correlation coefficients</p>{_table(rows, [""] + [post["names"][i] for i in idx])}'
                     '</div>')
    links = " · ".join(f'<a href="{esc(f)}">{esc(f)}</a>' for f in files)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>exelfs: {esc(result.edge)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse;margin:0.5em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}img{{max-width:100%}}</style></head>
<body><h1>exelfs analysis: {esc(result.edge)} in {esc(result.structure)}</h1>
<h2>Shells</h2><div id="results">{_table(shells, ["#", "scatterer", "R (Å)", "N", "σ² (Å²)"]) if shells else "<p>no shell determined</p>"}</div>
{"<h2>Undetermined</h2>" + _table(undetermined, ["scatterer", "R (Å)", "reason"]) if undetermined else ""}
<h2>How the error bars are built</h2><ul>{"".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in data["error_model"].items())}</ul>
<h2>Fit</h2>{_table(stats, ["", "value"])}
{posterior}
<h2>Paths in the model</h2>{_table(paths, ["name", "FEFF path", "reff (Å)", "legs", "degeneracy"])}
<h2>Settings</h2>{_table(settings, ["setting", "value", "set by", "reason"])}
<h2>Warnings</h2><ul>{warn}</ul>
<h2>Figures</h2>{figs}
<h2>Files</h2><p>{links}</p>
<h2>Provenance</h2>{_table(prov, ["", "value"])}
</body></html>
"""


def write_report(result, out_dir) -> Path:
    """Write the report of ``result`` into ``out_dir`` (created); return the path of its index.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    builders = [("spectrum.png", spectrum_figure)] if result.arrays.get("energy") is not None else []
    if result.arrays.get("fit_k") is not None:
        builders += [("chi_k.png", chik_figure), ("chi_r.png", chir_figure)]
    if result.arrays.get("filtered_chi") is not None:
        builders.append(("nn_reconstruction.png", reconstruction_figure))
    if result.arrays.get("posterior_samples") is not None:
        builders.append(("posterior_corner.png", corner_figure))
    if result.rdf is not None:
        from .rdf_figure import rdf_figure

        builders.append(("rdf.png", rdf_figure))
    for name, build in builders:
        build(result).savefig(out / name, dpi=DPI)
        figures.append(name)
    files = _write_columns(out, result) + _write_model(out, result) + ["result.json"]
    page = out / "index.html"
    result.report = str(page)
    data = {**result.to_json(), "provenance": provenance(result)}
    if result.stats.get("posterior"):
        data["posterior"] = result.stats["posterior"]
    (out / "result.json").write_text(json.dumps(data, indent=1))
    page.write_text(_html(result, data, figures, files))
    return page


def write_series_report(results, series: dict, out_dir) -> Path:
    """The report of a temperature series in ``out_dir``: each spectrum's own report in <T>K/, the sigma2(T)
    figure, series.json and a page with the characteristic temperature; return the page's path."""
    esc = html.escape
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    subdirs = []
    for t, result in zip(series["temperatures"], results):
        subdirs.append(f"{t:g}K")
        write_report(result, out / subdirs[-1])
    series_figure(series).savefig(out / "series.png", dpi=DPI)
    if series.get("model_paths"):
        (out / "refit_series_larch.py").write_text(series_larch_script(series, subdirs))
    (out / "series.json").write_text(json.dumps({"series": series}, indent=1))
    rows = [(f"{t:g}", f"{s2:.5f} ± {e:.5f}", f'<a href="{d}/index.html">{d}</a>')
            for t, s2, e, d in zip(series["temperatures"], series["sigma2"], series["sigma2_err"], subdirs)]
    table = _table([r[:2] for r in rows], ["T (K)", "first-shell σ² (Å²)"])
    links = " · ".join(r[2] for r in rows)
    two = series.get("two_step")
    alone = (f"<p>Each spectrum alone, then σ²(T): θ = {two['theta_k']:.0f} ± {two['theta_err']:.0f} K.</p>"
             if two else "")
    page = out / "index.html"
    page.write_text(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>exelfs: temperature series</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px}}img{{max-width:100%}}</style></head>
<body><h1>exelfs temperature series: {esc(str(series.get("shell", "")))} shell, {esc(series["model"])} model</h1>
<div id="results"><p><b>θ = {series["theta_k"]:.1f} ± {series["theta_err"]:.1f} K</b>, σ²_static =
{series["sigma2_static"]:.5f}{"" if series.get("sigma2_static_err") is None else f" ± {series['sigma2_static_err']:.5f}"} Å²
({esc(series.get("how", series.get("sigma2_err_from", "")))}; error: {esc(series["err_from"])}).</p>{alone}</div>
{table}<figure><img src="series.png" alt="series.png"></figure>
<h2>Each spectrum</h2><p>{links} · <a href="series.json">series.json</a>{
    ' · <a href="refit_series_larch.py">refit_series_larch.py</a>' if series.get("model_paths") else ""}</p>
</body></html>
""")
    return page


def series_larch_script(series: dict, subdirs: list) -> str:
    """A Python script that redoes the joint series fit with Larch alone, from each spectrum's report
    (<T>K/chi_k.dat and its copied FEFF files)."""
    pars = _larch_params(series["model_params"])
    sets = []
    for sub, paths in zip(subdirs, series["model_paths"]):
        rows = ",\n".join(f"        '{p['name']}': {_larch_feffpath(p, f'{sub}/feff')}" for p in paths)
        sets.append(f"    ('{sub}', {{\n{rows}}})")
    sets = ",\n".join(sets)
    (kmin, kmax), (rmin, rmax) = series["k_range"], series["r_range"]
    return f'''"""Redo the exelfs joint fit of the temperature series ({series["model"]} model) with Larch alone:
python refit_series_larch.py. Each path's sigma2 is written out with its geometry (Larch's sigma2_eins in a
path expression reads the geometry of whichever path was prepared last)."""
from pathlib import Path

import numpy as np
from larch import Group
from larch.fitting import param, param_group
from larch.xafs import feffit, feffit_dataset, feffit_report, feffit_transform, feffpath

here = Path(__file__).resolve().parent
pars = param_group(
{pars})
transform = feffit_transform(kmin={kmin}, kmax={kmax}, kweight={series["kweight"]}, dk={series["dk"]},
                             window="{series["window"]}", rmin={rmin}, rmax={rmax}, fitspace="r")
datasets = []
for sub, paths in [
{sets}]:
    k, chi = np.loadtxt(here / sub / "chi_k.dat", usecols=(0, 1), unpack=True)
    datasets.append(feffit_dataset(data=Group(k=k, chi=chi), paths=paths, transform=transform))
out = feffit(pars, datasets)
print(feffit_report(out))
print("theta =", out.params["theta"].value, "+-", out.params["theta"].stderr, "K")
'''
