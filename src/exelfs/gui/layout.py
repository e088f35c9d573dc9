"""The page: four steps (load, spectrum and edges, structure, analysis), with the stable element ids of
the GUI contract (DESIGN.md): ``upload``, ``spectrum-plot``, ``identification``, ``structure-view``,
``chi-plot``, ``ft-plot``, ``results``; also ``rdf-option`` (compute the partial RDF with the nn method)
and ``rdf-plot``. Built anew for every page load, so every tab gets its own
session id and the methods registered at that time."""

from __future__ import annotations

import uuid

from dash import dash_table, dcc, html

from .figures import empty_figure, rdf_figure

# the pipeline's controls (Settings fields): label, unit, input step
CONTROLS = (("e0", "E0", "eV", 0.1), ("rbkg", "background rbkg", "A", 0.05), ("kmin", "k min", "1/A", 0.1),
            ("kmax", "k max", "1/A", 0.1), ("kweight", "k weight", "", 1), ("rmin", "R min", "A", 0.05),
            ("rmax", "R max", "A", 0.05), ("s02", "S0^2", "", 0.01), ("shells", "shells", "", 1))
BOX = {"border": "1px solid #ccc", "borderRadius": "6px", "padding": "10px 14px", "margin": "10px 0"}
DROP = {"border": "2px dashed #888", "borderRadius": "6px", "padding": "14px", "textAlign": "center",
        "cursor": "pointer", "margin": "6px 0"}
ROW = {"display": "flex", "flexWrap": "wrap", "gap": "10px", "alignItems": "center"}
ID_COLUMNS = [{"name": n, "id": i} for n, i in (("#", "rank"), ("edge", "edge"), ("score", "score"),
                                                 ("EELS onset (eV)", "eels"), ("X-ray (eV)", "xray"),
                                                 ("evidence", "evidence"))]


def _section(title: str, children: list) -> html.Div:
    return html.Div([html.H3(title, style={"margin": "4px 0 8px"})] + children, style=BOX)


def _load_section(limit_bytes: int) -> html.Div:
    return _section("1. Load a spectrum", [
        dcc.Upload(id="upload", style=DROP, multiple=False, children=html.Div([
            "Drag and drop a spectrum here, or click to choose one (.msa .dm3 .dm4 .hspy .emd .txt .xdi "
            f".prj .xmu .chi ...; at most {limit_bytes / 1e6:g} MB)"])),
        html.Div([html.Button("Load the generated example (MgO, Mg K and O K)", id="load-example"),
                  dcc.Upload(id="lowloss-upload", style={**DROP, "padding": "6px", "margin": 0},
                             children=html.Div("optional: drop the low-loss spectrum (for deconvolution)"))],
                 style=ROW),
        dcc.Loading(html.Div(id="load-message", style={"whiteSpace": "pre-wrap", "marginTop": "6px"})),
        html.Div(id="navigator-box", style={"display": "none"}, children=[
            dcc.Graph(id="navigator", style={"height": "340px", "maxWidth": "520px"}),
            html.Div([html.Button("Use the sum of all pixels", id="use-sum"), html.Span(id="selection-text")],
                     style=ROW)]),
    ])


def _spectrum_section() -> html.Div:
    return _section("2. Spectrum and edges", [
        html.Div([html.Span("intensity scale:"),
                  dcc.RadioItems(id="yscale", options=["linear", "log"], value="linear", inline=True)], style=ROW),
        # no spinner over the plot: it redraws at once, and a spinner would swallow the operator's clicks
        dcc.Graph(id="spectrum-plot", figure=empty_figure("load a spectrum"), style={"height": "420px"}),
        html.Div("Click on an edge in the spectrum to mark it and rank the element/edge candidates; choose a "
                 "candidate (the first is chosen) to propose the structure.", id="identify-message",
                 style={"whiteSpace": "pre-wrap", "margin": "6px 0"}),
        dash_table.DataTable(id="identification", columns=ID_COLUMNS, data=[], row_selectable="single",
                             selected_rows=[], style_cell={"textAlign": "left", "whiteSpace": "normal",
                                                           "height": "auto", "fontSize": "13px"},
                             style_header={"fontWeight": "bold"}),
    ])


def _structure_section() -> html.Div:
    return _section("3. Structure", [
        html.Div([html.Label("edge (El_EDGE)"), dcc.Input(id="edge", type="text", placeholder="e.g. O_K",
                                                          debounce=True, style={"width": "90px"}),
                  html.Label("structure (element, formula or CIF)"),
                  dcc.Input(id="structure-spec", type="text", placeholder="e.g. MgO", debounce=True),
                  dcc.Upload(id="cif-upload", style={**DROP, "padding": "6px", "margin": 0},
                             children=html.Div("or drop a CIF file"))], style=ROW),
        html.Div([html.Label("polymorph"), dcc.Dropdown(id="structure-choice", options=[], clearable=False,
                                                        style={"minWidth": "420px"})], style=ROW),
        html.Div(id="structure-message", style={"whiteSpace": "pre-wrap", "margin": "6px 0"}),
        html.Div([dcc.Loading(dcc.Graph(id="structure-view", figure=empty_figure("choose an edge candidate"),
                                        style={"height": "460px", "width": "560px"})),
                  html.Div(id="structure-shells")], style={**ROW, "alignItems": "flex-start"}),
    ])


def _analysis_section(methods: list[str]) -> html.Div:
    controls = [html.Div([html.Label(f"{label}" + (f" ({unit})" if unit else "")),
                          dcc.Input(id=f"ctl-{name}", type="number", step=step, placeholder="auto",
                                    style={"width": "80px"})], style={"display": "flex", "flexDirection": "column"})
                for name, label, unit, step in CONTROLS]
    return _section("4. Analysis", [
        html.Div(controls, style=ROW),
        html.Div([html.Span("methods:"), dcc.Checklist(id="methods", options=methods, value=list(methods),
                                                       inline=True),
                  dcc.Checklist(id="rdf-option", value=[], inline=True, options=[
                      {"label": "partial RDF (with nn; its network trains on first use, 1-2 min)", "value": "rdf"}]),
                  html.Button("Run the analysis", id="run-analysis", style={"fontWeight": "bold"}),
                  html.Span(id="progress", style={"color": "#555"})], style={**ROW, "marginTop": "8px"}),
        dcc.Interval(id="progress-tick", interval=400, disabled=True),
        html.Div(id="run-message", style={"whiteSpace": "pre-wrap", "margin": "6px 0"}),
        dcc.Loading([
            html.Div([dcc.Graph(id="background-plot", figure=empty_figure("step 1: background and E0"),
                                style={"height": "360px", "flex": "1 1 480px"}),
                      dcc.Graph(id="chi-plot", figure=empty_figure("step 2: chi(k)"),
                                style={"height": "360px", "flex": "1 1 480px"}),
                      dcc.Graph(id="ft-plot", figure=empty_figure("step 3: Fourier transform"),
                                style={"height": "360px", "flex": "1 1 480px"})], style=ROW),
            html.Div(id="results", style={**ROW, "alignItems": "flex-start"}),
            dcc.Graph(id="rdf-plot", figure=rdf_figure(None), style={"height": "380px", "maxWidth": "900px"}),
        ]),
        html.Div([html.Button("Download the report (zip)", id="download-report"),
                  html.Span(id="download-message")], style={**ROW, "marginTop": "8px"}),
        dcc.Download(id="download"),
    ])


def make_layout(methods: list[str], limit_bytes: int) -> html.Div:
    """The whole page for one new tab (a fresh random session id)."""
    return html.Div([
        dcc.Store(id="session-id", data=uuid.uuid4().hex, storage_type="memory"),
        dcc.Store(id="upload-limit", data=limit_bytes), dcc.Store(id="upload-payload"),
        dcc.Store(id="spectrum-token"), dcc.Store(id="mark-token"),
        html.H2("exelfs: local structure from EXELFS / EXAFS", style={"margin": "8px 0"}),
        _load_section(limit_bytes), _spectrum_section(), _structure_section(), _analysis_section(methods),
    ], style={"fontFamily": "sans-serif", "maxWidth": "1500px", "margin": "0 auto", "padding": "0 12px"})
