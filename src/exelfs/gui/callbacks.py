"""The page's callbacks: thin Dash wrappers over ``actions`` on the tab's own session. The browser holds
only the session id and small tokens; spectra, results and files stay on the server, in the session.
Every failure becomes a message in the page (the app stays usable)."""

from __future__ import annotations

import logging
import math

from dash import Input, Output, State, ctx, dcc, html, no_update

from ..errors import InputError
from ..spectrum import ChiData
from . import actions, views
from .figures import (background_figure, chik_figure, chir_figure, empty_figure, navigator_figure,
                      rdf_figure, spectrum_figure)
from .layout import CONTROLS

log = logging.getLogger("exelfs.gui")

# the upload's size is checked in the browser, so that an oversized file is never sent
CHECK_UPLOAD = """
function(contents, filename, limit) {
    if (!contents) { return window.dash_clientside.no_update; }
    var size = Math.floor((contents.length - contents.indexOf(',') - 1) * 3 / 4);
    if (size > limit) { return {filename: filename, too_large: size}; }
    return {filename: filename, contents: contents};
}
"""


def error_message(exc: Exception) -> html.Div:
    """An InputError's sentence, or a short note of a program fault (logged with its traceback)."""
    if isinstance(exc, InputError):
        text = str(exc)
    else:
        log.error("GUI step failed", exc_info=exc)
        text = f"internal error ({type(exc).__name__}: {exc}); the page is still usable"
    return html.Div(text, className="error", style={"color": "#b00", "whiteSpace": "pre-wrap"})


def register(app, store, limit_bytes: int) -> None:
    """Attach every callback of the page to ``app`` (sessions from ``store``)."""
    app.clientside_callback(CHECK_UPLOAD, Output("upload-payload", "data"), Input("upload", "contents"),
                            State("upload", "filename"), State("upload-limit", "data"))
    _register_loading(app, store, limit_bytes)
    _register_spectrum(app, store)
    _register_structure(app, store, limit_bytes)
    _register_analysis(app, store)


def _loaded(session):
    data = session.data
    image = getattr(data, "nav_shape", ())
    if image:
        return (session.version, navigator_figure(data, session.selection), {"display": "block"},
                actions.selection_text(session))
    return session.version, no_update, {"display": "none"}, ""


def _centres_inside(span) -> tuple[int, int]:
    """The first and last pixel whose centre lies in a box side (pixel units); the pixel under the middle
    of a box too small to hold a centre."""
    lo, hi = sorted(float(v) for v in span)
    first, last = math.ceil(lo), math.floor(hi)
    return (first, last) if first <= last else (round((lo + hi) / 2),) * 2


def _navigator_selection(props: set, click, selected):
    """A box drawn with the select tool (a region), else a clicked pixel; a click also "selects" its
    point, so both props may arrive together."""
    if "navigator.selectedData" in props and selected and selected.get("range"):
        return ("region", *_centres_inside(selected["range"]["y"]), *_centres_inside(selected["range"]["x"]))
    if "navigator.clickData" in props and click and click.get("points"):
        p = click["points"][0]
        return ("pixel", p["y"], p["x"])
    return no_update


def _register_loading(app, store, limit_bytes):
    @app.callback(Output("load-message", "children"), Output("spectrum-token", "data"),
                  Output("navigator", "figure"), Output("navigator-box", "style"), Output("selection-text", "children"),
                  Input("upload-payload", "data"), Input("load-example", "n_clicks"),
                  Input("lowloss-upload", "contents"), Input("navigator", "clickData"),
                  Input("navigator", "selectedData"), Input("use-sum", "n_clicks"),
                  State("lowloss-upload", "filename"), State("session-id", "data"), prevent_initial_call=True)
    def on_data(payload, _example, low, click, selected, _sum, low_name, sid):
        trigger = ctx.triggered[0]["prop_id"] if ctx.triggered else ""
        try:
            session = store.get(sid)
            with session.lock:
                if trigger.startswith("upload-payload"):
                    if payload.get("too_large"):
                        actions.check_size(payload["filename"], payload["too_large"], limit_bytes)
                    raw = actions.decode_upload(payload.get("contents"), payload["filename"], limit_bytes)
                    message = actions.load_file(session, payload["filename"], raw)
                elif trigger.startswith("load-example"):
                    message = actions.load_example(session)
                elif trigger.startswith("lowloss-upload"):
                    raw = actions.decode_upload(low, low_name, limit_bytes)
                    note = actions.load_lowloss(session, low_name, raw)
                    text = note if session.data is None else actions.describe(session)
                    return text, no_update, no_update, no_update, no_update
                elif trigger.startswith("use-sum"):
                    message = actions.select(session, None)
                else:
                    selection = _navigator_selection(set(ctx.triggered_prop_ids), click, selected)
                    if selection is no_update:
                        return (no_update,) * 5
                    message = actions.select(session, selection)
                return (message, *_loaded(session))
        except Exception as exc:  # noqa: BLE001 - every failure is shown in the page
            return error_message(exc), no_update, no_update, no_update, no_update


def _register_spectrum(app, store):
    @app.callback(Output("spectrum-plot", "figure"), Input("spectrum-token", "data"), Input("mark-token", "data"),
                  Input("yscale", "value"), State("session-id", "data"), prevent_initial_call=True)
    def draw_spectrum(_token, _mark, scale, sid):
        session = store.get(sid)
        with session.lock:
            if session.data is None:
                return empty_figure("load a spectrum")
            if isinstance(session.data, ChiData):
                return empty_figure("chi(k) data: no spectrum to show; give the edge in step 3")
            spec = actions.active(session)
            title = session.filename + (f" ({actions.selection_text(session)})" if session.data.nav_shape else "")
            return spectrum_figure(spec, title, found=session.found, marked_ev=session.marked_ev,
                                   log=scale == "log")

    @app.callback(Output("identification", "data"), Output("identification", "selected_rows"),
                  Output("mark-token", "data"), Output("identify-message", "children"),
                  Input("spectrum-plot", "clickData"), Input("spectrum-token", "data"), State("session-id", "data"),
                  prevent_initial_call=True)
    def on_click(click, _token, sid):
        if ctx.triggered_id == "spectrum-token" or not click or not click.get("points"):
            return [], [], None, "Click on an edge in the spectrum to rank the element/edge candidates."
        energy = float(click["points"][0]["x"])
        try:
            session = store.get(sid)
            with session.lock:
                ranked = actions.mark_edge(session, energy)
        except Exception as exc:  # noqa: BLE001
            return no_update, no_update, no_update, error_message(exc)
        rows = views.identification_rows(ranked)
        edge = ranked["edges"][0] if ranked.get("edges") else {}
        text = f"marked {energy:.1f} eV"
        if edge.get("detected_onset_ev") is not None:
            text += f" (edge detected at {edge['detected_onset_ev']:.1f} eV, significance {edge['significance']})"
        text += f": best {rows[0]['edge']} (score {rows[0]['score']})" if rows else ": no tabulated edge near"
        text += "".join(f"\nnote: {w}" for w in ranked.get("warnings", []))
        return rows, [0] if rows else [], energy, text


def _register_structure(app, store, limit_bytes):
    @app.callback(Output("edge", "value"), Output("structure-spec", "value"), Output("structure-message", "children"),
                  Input("identification", "selected_rows"), Input("identification", "data"),
                  Input("spectrum-token", "data"), Input("cif-upload", "contents"), Input("edge", "value"),
                  State("cif-upload", "filename"), State("structure-spec", "value"), State("session-id", "data"),
                  prevent_initial_call=True)
    def propose(selected, rows, _token, cif, typed_edge, cif_name, spec, sid):
        """A chosen candidate (or an edge typed with no structure yet) proposes the structure; a CIF
        file replaces it; a new spectrum clears both."""
        props = set(ctx.triggered_prop_ids)
        try:
            session = store.get(sid)
            if "cif-upload.contents" in props:
                raw = actions.decode_upload(cif, cif_name, limit_bytes)
                path = session.path(f"structure-{cif_name}")
                path.write_bytes(raw)
                return no_update, str(path), f"structure from the CIF file {cif_name}"
            if "spectrum-token.data" in props:     # a new spectrum: the old proposal goes with it
                return "", "", ""
            if props == {"edge.value"}:
                if not typed_edge or spec:
                    return no_update, no_update, no_update
                edge = typed_edge
            elif selected and rows and selected[0] < len(rows):
                edge = rows[selected[0]]["edge"]
            else:
                return no_update, no_update, no_update
            with session.lock:
                spec, why = actions.propose_structure(session, edge)
            return edge, spec, why
        except Exception as exc:  # noqa: BLE001
            return no_update, no_update, error_message(exc)

    @app.callback(Output("structure-choice", "options"), Output("structure-choice", "value"),
                  Output("structure-view", "figure"), Output("structure-shells", "children"),
                  Input("structure-spec", "value"), Input("edge", "value"), Input("structure-choice", "value"),
                  State("session-id", "data"), prevent_initial_call=True)
    def show_structure(spec, edge, choice, sid):
        if not spec:
            return [], None, empty_figure("choose an edge candidate or give a structure"), ""
        options, index = no_update, choice or 0
        try:
            session = store.get(sid)
            if ctx.triggered_id != "structure-choice":
                cands = actions.structure_candidates(spec)
                # names only: a candidate's source is settled when its atoms are built (shown beside the view)
                options = [{"label": c.name + (" (proposed)" if i == 0 else ""), "value": i}
                           for i, c in enumerate(cands)]
                index = 0
            with session.lock:
                info = actions.build_structure(session, spec, index, edge or None)
        except Exception as exc:  # noqa: BLE001
            return options, no_update, empty_figure("no structure"), error_message(exc)
        return options, index, info["figure"], views.structure_shells(info)


def _placeholders(results: dict) -> list[str]:
    settings = next((r.settings for r in results.values() if not isinstance(r, str)), {})
    out = []
    for name, *_ in CONTROLS:
        s = settings.get(name)
        out.append(f"auto {s['value']}" if s and s["set_by"] == "auto" else "auto")
    return out


def _register_analysis(app, store):
    names = [name for name, *_ in CONTROLS]
    outputs = [Output("background-plot", "figure"), Output("chi-plot", "figure"), Output("ft-plot", "figure"),
               Output("results", "children"), Output("rdf-plot", "figure"), Output("run-message", "children"),
               Output("progress", "children", allow_duplicate=True)]
    outputs += [Output(f"ctl-{n}", "placeholder") for n in names]

    @app.callback(*outputs, Input("run-analysis", "n_clicks"), Input("spectrum-token", "data"),
                  State("edge", "value"), State("methods", "value"), State("rdf-option", "value"),
                  *[State(f"ctl-{n}", "value") for n in names],
                  State("session-id", "data"), prevent_initial_call=True,
                  running=[(Output("run-analysis", "disabled"), True, False),
                           (Output("progress-tick", "disabled"), False, True)])
    def run_analysis(_n, _token, edge, methods, rdf_option, *rest):
        *values, sid = rest
        blank = [empty_figure("step 1: background and E0"), chik_figure({}), chir_figure({}), [], rdf_figure(None),
                 ""]
        if ctx.triggered_id == "spectrum-token":
            return (*blank, "", *["auto"] * len(names))
        controls = {n: v for n, v in zip(names, values) if v is not None}
        wanted = "rdf" in (rdf_option or [])
        try:
            session = store.get(sid)
            results = actions.analyse(session, edge, controls, methods or [], rdf=wanted)
        except Exception as exc:  # noqa: BLE001
            return (*blank[:5], error_message(exc), "", *[no_update] * len(names))
        good = {m: r for m, r in results.items() if not isinstance(r, str)}
        columns = [views.method_column(m, r) for m, r in results.items()]
        first = next(iter(good.values()), None)
        with_rdf = next((r for r in good.values() if r.rdf is not None), None)
        figs = [background_figure(first) if first else blank[0], chik_figure(good), chir_figure(good)]
        rdf_fig = (rdf_figure(with_rdf.rdf, with_rdf.edge) if with_rdf else
                   empty_figure("no partial RDF: the nn method gave no result (see its message)") if wanted
                   else blank[4])
        note = "" if good else "no method gave a result (see each method's message)"
        return (*figs, columns, rdf_fig, note, session.progress, *_placeholders(results))

    @app.callback(Output("progress", "children", allow_duplicate=True), Input("progress-tick", "n_intervals"),
                  State("session-id", "data"), prevent_initial_call=True)
    def tick(_n, sid):
        return store.get(sid).progress

    @app.callback(Output("download", "data"), Output("download-message", "children"),
                  Input("download-report", "n_clicks"), State("session-id", "data"), prevent_initial_call=True,
                  running=[(Output("download-report", "disabled"), True, False)])
    def download(_n, sid):
        try:
            session = store.get(sid)
            with session.lock:
                path = actions.report_zip(session)
        except Exception as exc:  # noqa: BLE001
            return no_update, error_message(exc)
        return dcc.send_file(path, filename="exelfs-report.zip"), "report: JSON, PNG, HTML page, data, Larch script"
