"""The typed result of one analysis: shells, undetermined shells, warnings, every setting, and the arrays
behind them (spectrum, backgrounds, chi(k), chi(R), model curves), like a Larch group.

``to_json()`` gives the ``exelfs analyze --json`` object of DESIGN.md; ``to_hyperspy()`` the curves as
HyperSpy signals; ``plot()`` a figure for Jupyter. Units: energies eV, k 1/angstrom, R angstrom,
sigma2 angstrom^2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# keys of the JSON object in the order DESIGN.md lists them, then the fit statistics
STAT_KEYS = ("n_independent", "n_parameters", "e0_shift", "chi2_reduced", "r_factor", "fit_mode", "n_from",
             "neighbours")
PUBLIC_SHELL_KEYS = ("scatterer", "r", "r_err", "n", "n_err", "sigma2", "sigma2_err", "r_crystal", "n_crystal",
                     "error_budget", "reason")
ERROR_MODEL = {
    "r_err": "quadrature sum of: Larch's statistical error (scaled to the misfit), the FEFF6 phase accuracy "
             "(0.010 A), the spread over k weights 1-3 and k ranges cut by 1 1/A at either end, the spread "
             "over equally good minima in delta E0, and for EELS 1 % of R for the energy-scale (dispersion) "
             "calibration; then floors where a parameter sits on a bound (see each shell's error_budget)",
    "n_err": "the amplitude's statistical error and its spread over the same analysis choices, with +-15 % "
             "for the assumed S0^2 (none when S0^2 is given); null when N is fixed to the crystal's",
    "sigma2_err": "Larch's statistical error, the spread over the analysis choices and the FEFF amplitude "
                  "accuracy (0.0005 A^2), in quadrature; with N fixed, also the assumed S0^2's effect",
}


def jsonable(obj):
    """obj with numpy scalars and arrays as Python numbers and lists, and NaN/inf as None (for JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


@dataclass
class Result:
    """One analysis. Scalars: edge, structure, method, kind ('eels', 'xas', 'chi'), e0_ev, k_range,
    r_range, t_lambda, stats (fit statistics). Lists: shells, undetermined_shells (each with 'reason'),
    warnings. settings: every choice {name: {value, set_by, reason}}. arrays: 'energy', 'signal',
    'pre_edge', 'mu', 'mu0', 'post_edge' (eV axis), 'k', 'chi' (extraction grid), 'fit_k', 'fit_chi',
    'chi_model', 'kwin' (fit grid), 'r', 'chir', 'chir_model', 'rwin' (complex chi(R) of k^w chi); the
    network's 'filtered_k', 'filtered_chi', 'filtered_chi_model' (k^2 chi it reads, data and forward model)
    and 'posterior_samples' (n, T) with 'posterior_names'.
    model: the fitted model as data (params, paths). source: input path; report: written report page.
    parts, chosen: with method 'both', each method's own Result and which one gave the top-level shells.
    rdf: with --rdf, the partial RDF per kind of neighbour (r in A, g/lo/hi in atoms per A)."""

    edge: str
    structure: str
    method: str
    kind: str
    e0_ev: float | None
    k_range: list
    r_range: list | None
    kweight: int
    shells: list
    undetermined_shells: list
    warnings: list
    settings: dict
    stats: dict = field(default_factory=dict)
    t_lambda: float | None = None
    arrays: dict = field(default_factory=dict, repr=False)
    model: dict = field(default_factory=dict, repr=False)
    source: str | None = None
    report: str | None = None
    parts: dict = field(default_factory=dict, repr=False)  # method 'both': {"fit": Result, "nn": Result}
    chosen: str | None = None  # method 'both': whose shells are the top-level ones
    rdf: dict | None = field(default=None, repr=False)  # --rdf: {r, g, lo, hi, ...} (exelfs.pipeline.rdf)

    def to_json(self) -> dict:
        """The ``analyze --json`` object (DESIGN.md) minus "file": contract keys, fit statistics, every
        setting and how the error bars are built."""
        def public(shells):
            return [{k: s[k] for k in PUBLIC_SHELL_KEYS if k in s} for s in shells]

        out = {"edge": self.edge, "structure": self.structure, "method": self.method,
               "e0_ev": None if self.e0_ev is None else round(float(self.e0_ev), 2),
               "k_range": [round(float(x), 3) for x in self.k_range],
               "r_range": self.r_range, "shells": public(self.shells), "warnings": list(self.warnings)}
        out.update({k: self.stats.get(k) for k in STAT_KEYS})
        out["t_lambda"] = None if self.t_lambda is None else round(float(self.t_lambda), 3)
        out["kweight"] = self.kweight
        if self.undetermined_shells:
            out["undetermined_shells"] = public(self.undetermined_shells)
        out["settings"] = self.settings
        out["error_model"] = ERROR_MODEL
        out["model_paths"] = [{k: p[k] for k in ("name", "label", "reff", "nleg", "degen")}
                              for p in self.model.get("paths", [])]
        if self.report:
            out["report"] = self.report
        if self.rdf is not None:
            out["rdf"] = self.rdf
        if self.parts:
            out["chosen"] = self.chosen
            for name, part in self.parts.items():
                sub = part.to_json()
                out[name] = {k: sub[k] for k in ("shells", "undetermined_shells", "warnings", "k_range", "e0_shift",
                                                 "r_factor", "n_from") if k in sub}
        return jsonable(out)

    def __getitem__(self, key):
        """Dict-style access to the JSON keys: ``result["shells"]``."""
        return self.to_json()[key]

    def to_hyperspy(self) -> dict:
        """The curves as HyperSpy signals: 'spectrum' (with 'background'), 'chi_k', 'chi_k_model' (over k,
        1/A), 'chi_r', 'chi_r_model' (complex, over R in A, not phase corrected)."""
        import hyperspy.api as hs

        a = self.arrays

        def sig(y, x, name, units, title, cls=hs.signals.Signal1D):
            x = np.asarray(x, float)
            if np.allclose(np.diff(x), x[1] - x[0], rtol=1e-4):
                axis = {"name": name, "units": units, "offset": float(x[0]), "scale": float(x[1] - x[0]), "size": x.size}
            else:  # X-ray energy grids are not uniform
                axis = {"name": name, "units": units, "axis": x}
            s = cls(np.asarray(y), axes=[axis])
            s.metadata.General.title = f"{self.edge}: {title}"
            return s

        out = {}
        if a.get("energy") is not None:
            out["spectrum"] = sig(a["signal"], a["energy"], "Energy", "eV", "spectrum")
            out["background"] = sig(a["pre_edge"], a["energy"], "Energy", "eV", "pre-edge background")
        if a.get("fit_k") is not None:
            out["chi_k"] = sig(a["fit_chi"], a["fit_k"], "k", "1/A", "chi(k)")
            out["chi_k_model"] = sig(a["chi_model"], a["fit_k"][: len(a["chi_model"])], "k", "1/A", "model chi(k)")
            out["chi_r"] = sig(a["chir"], a["r"], "R", "A", f"chi(R) of k^{self.kweight} chi", hs.signals.ComplexSignal1D)
            out["chi_r_model"] = sig(a["chir_model"], a["r"][: len(a["chir_model"])], "R", "A", "model chi(R)",
                                     hs.signals.ComplexSignal1D)
        return out

    def plot(self):
        """A three-panel matplotlib figure (spectrum, k^w chi(k), chi(R)) for Jupyter."""
        from .figures import overview_figure

        return overview_figure(self)


def format_result(result: Result, file: str | None = None) -> str:
    """Human-readable summary of a result."""
    j = result.to_json()
    lines = [f"file: {file}"] if file else []
    lines.append(f"edge: {j['edge']}   structure: {j['structure']}   method: {j['method']}")
    kr, rr = j.get("k_range") or [None, None], j.get("r_range") or [None, None]
    lines.append(f"E0 = {j['e0_ev']} eV   k = {kr[0]}-{kr[1]} 1/A   R = {rr[0]}-{rr[1]} A   "
                 f"N_idp = {j.get('n_independent')}   parameters = {j.get('n_parameters')}   "
                 f"R-factor = {j.get('r_factor') if j.get('r_factor') is None else round(j['r_factor'], 4)}")
    if j.get("t_lambda") is not None:
        lines.append(f"t/lambda = {j['t_lambda']}")
    lines += ["", f"{'shell':>5}  {'scatterer':>9}  {'R (A)':>14}  {'N':>12}  {'sigma2 (A^2)':>18}"]
    for i, s in enumerate(j["shells"], start=1):
        n_err = "fixed" if s.get("n_err") is None else f"{s['n_err']:4.1f}"
        lines.append(f"{i:>5}  {s['scatterer']:>9}  {s['r']:7.3f} +-{s['r_err']:5.3f}  "
                     f"{s['n']:5.1f} +-{n_err:>5}  {s['sigma2']:8.4f} +-{s['sigma2_err']:7.4f}")
    for s in j.get("undetermined_shells", []):
        lines.append(f"undetermined: {s['scatterer']} near {s['r']:.2f} A ({s['reason']})")
    if j.get("n_from"):
        lines.append(f"N: {j['n_from']}")
    for name in ("fit", "nn") if result.parts else ():
        part = j[name]
        s = part["shells"][0] if part["shells"] else None
        lines.append(f"{name}: " + (f"R1 = {s['r']:.3f} +- {s['r_err']:.3f} A" if s else "first shell undetermined")
                     + ("   (top-level shells)" if name == result.chosen else ""))
    lines += [f"warning: {w}" for w in j["warnings"]]
    if j.get("report"):
        lines.append(f"report: {j['report']}")
    return "\n".join(lines)
