"""HTML pieces of the page built from the pipeline's answers: identification rows with their evidence,
the structure's shells, and each method's results (shells with uncertainties, undetermined shells,
warnings). Distances in angstrom, sigma2 in angstrom^2, energies in eV."""

from __future__ import annotations

from dash import html

TABLE = {"borderCollapse": "collapse", "margin": "4px 0", "fontSize": "13px"}
CELL = {"border": "1px solid #ccc", "padding": "2px 8px", "textAlign": "left"}


def _table(head: list[str], rows: list[list], cls: str = "") -> html.Table:
    return html.Table([html.Thead(html.Tr([html.Th(h, style=CELL) for h in head]))] +
                      [html.Tbody([html.Tr([html.Td(c, style=CELL) for c in row], className=cls) for row in rows])],
                      style=TABLE)


def evidence_text(ev: dict) -> str:
    """One line of why a candidate ranks where it does (identify()'s evidence)."""
    parts = []
    used = ev.get("matched_table")
    if used:
        diff = ev.get(f"diff_{used}_ev")
        parts.append(f"{diff:+.1f} eV from the {'EELS onset' if used == 'eels' else 'X-ray energy'}"
                     f" (match {ev.get('energy_match')})")
    if ev.get("measured_shape"):
        parts.append(f"shape {ev['measured_shape']} vs {ev.get('expected_shape')} (x{ev.get('shape_factor')})")
    partner = ev.get("partner")
    if isinstance(partner, dict) and partner.get("seen") is not None:
        parts.append(f"{partner['partner']} {'seen' if partner['seen'] else 'not seen'} "
                     f"{partner.get('spacing_ev')} eV above (x{partner.get('factor')})")
    if ev.get("major_partner"):
        mp = ev["major_partner"]
        parts.append(f"{mp['edge']} expected at {mp['expected_at_ev']} eV (x{mp['factor']})")
    if ev.get("same_element_edges"):
        parts.append(f"also explains {', '.join(ev['same_element_edges'])}")
    if ev.get("missing_edges"):
        parts.append(f"missing {', '.join(str(m) for m in ev['missing_edges'])}")
    if ev.get("file_header"):
        parts.append(f"file header says {ev['file_header']}")
    parts.append(f"prior {ev.get('prior')}")
    return "; ".join(parts)


def identification_rows(ranked: dict) -> list[dict]:
    """DataTable rows of the first (the operator's) edge: rank, El_EDGE, score, table energies, evidence."""
    edges = ranked.get("edges") or []
    cands = edges[0]["candidates"] if edges else []
    return [{"rank": i, "edge": f"{c['element']}_{c['edge']}", "score": c["score"],
             "eels": c["evidence"].get("table_eels_onset_ev"), "xray": c["evidence"].get("table_xray_ev"),
             "evidence": evidence_text(c["evidence"])} for i, c in enumerate(cands, 1)]


def structure_shells(info: dict) -> html.Div:
    """The candidate's name, source and neighbour shells around the absorber."""
    rows = [[i, s["scatterer"], f"{s['r']:.3f}", s["n"] if isinstance(s["n"], int) else f"{s['n']:.2f}"]
            for i, s in enumerate(info["shells"], 1)]
    return html.Div([html.B(info["name"]), html.Div(info["source"], style={"fontSize": "12px", "color": "#555"}),
                     html.Div(f"shells around the absorber {info['absorber']} (red), within 6 A:"),
                     _table(["#", "scatterer", "R (A)", "N"], rows)], style={"maxWidth": "420px"})


def _pm(value, err, fmt: str) -> str:
    return f"{value:{fmt}} (fixed)" if err is None else f"{value:{fmt}} ± {err:{fmt}}"


def method_column(method: str, result) -> html.Div:
    """One method's answer: statistics, shells, undetermined shells and warnings (or its error)."""
    style = {"flex": "1 1 420px", "border": "1px solid #ddd", "borderRadius": "6px", "padding": "6px 10px"}
    if isinstance(result, str):
        return html.Div([html.H4(method), html.Div(f"could not run: {result}", style={"color": "#b00"})],
                        style=style, className="method-result")
    j = result.to_json()
    rf = j.get("r_factor")
    stats = (f"{j['edge']} in {j['structure']}; E0 = {j['e0_ev']} eV; k {j['k_range'][0]}-{j['k_range'][1]} 1/A "
             f"(k^{j['kweight']}); R window {j.get('r_range')}; independent points {j.get('n_independent')}, "
             f"parameters {j.get('n_parameters')}; R-factor {'-' if rf is None else round(rf, 4)}")
    rows = [[i, s["scatterer"], _pm(s["r"], s["r_err"], ".3f"), _pm(s["n"], s["n_err"], ".1f"),
             _pm(s["sigma2"], s["sigma2_err"], ".4f")] for i, s in enumerate(j["shells"], 1)]
    parts = [html.H4(method), html.Div(stats, style={"fontSize": "13px"}),
             _table(["#", "scatterer", "R (A)", "N", "sigma2 (A^2)"], rows, cls="shell-row") if rows
             else html.Div("no shell could be determined", style={"color": "#b00"})]
    und = [[s["scatterer"], f"{s['r']:.3f}", s["reason"]] for s in j.get("undetermined_shells", [])]
    if und:
        parts += [html.Div("undetermined:"), _table(["scatterer", "R (A)", "reason"], und)]
    if j["warnings"]:
        parts.append(html.Details([html.Summary(f"{len(j['warnings'])} warnings"),
                                   html.Ul([html.Li(w) for w in j["warnings"]], style={"fontSize": "12px"})],
                                  open=True))
    return html.Div(parts, style=style, className="method-result")
