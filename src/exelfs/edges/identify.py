"""Element and edge identification of detected (or operator-given) edge onsets.

Every tabulated edge near an onset is a candidate. Its weight is the product of

* energy: a heavy-tailed likelihood of the onset given the EELS onset (exspy) AND the X-ray binding
  energy (xraydb) of the edge: the better of the two counts (the other at a discount, which depends
  on whether the data are EELS or X-ray absorption); the tolerance grows with channel width and energy;
* prior: major edges (K, L3, M5) over their spin-orbit partners (L2, M4, only seen with them) and
  over minor edges (L1, M1-3, N, O), exspy's 'Major'/'Minor' relevance (principal edges exspy does not
  list, e.g. S K, Cl K, Al L3, P L3, are not penalised), a mild base-rate prior for less common elements,
  and a penalty for radioactive elements and noble gases (rare in specimens);
* shape: the measured shape ('sharp' white line, 'abrupt' step, 'delayed' maximum) against exspy's
  description of the edge (threshold 'Sharp peak', 'Abrupt onset', 'Delayed maximum');
* partner: for an L3 (M5) with white lines, the L2 (M4) line at the tabulated spacing with a
  statistical-like height should show as a second peak (delayed and step-like edges get no partner
  factor: their partner's step is lost in the slow rise); for an L2 (M4), the L3 (M5) below it should be
  there;
* consistency: other edges of the same element in the spectrum's range: explaining another detected edge
  raises the element, a major edge that should be visible in the data but is not lowers it; an edge of
  an element that is the best explanation of another detected edge AT the tabulated spacing from it (L2
  or L1 above an L3, M4 above an M5, ...) is raised to the level of a principal edge (``sibling_factor``)
  and, when the weaker kind, marked ``secondary_of`` the other;
* a common calibration offset of the energy axis, estimated from the best set of identifications
  (two or more edges) and applied to all.

Scores are the weights normalised over all candidates plus a 'none of these' weight that is large for a
weak detection, so they lie in 0..1 and read as confidence. Spin-orbit partners found as separate onsets
(e.g. Ni L2 at 872 eV next to Ni L3 at 855 eV) are kept as their own edge entries with the partner as top
candidate and ``"secondary_of": "Ni_L3"``, so every onset found is accounted for.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError, number
from ..spectrum import Spectrum, as_data
from .detect import (Z_MIN, DetectedEdge, Prepared, Profile, _excess_curve, _smooth, characterise, edge_profile,
                     find_edges, post_window, pre_window, prepare)
from .tables import SPIN_ORBIT as PARTNER
from .tables import SPIN_ORBIT_PRIMARY as PRIMARY
from .tables import EdgeEntry, all_edges, edge_entry

N_CANDIDATES = 5

# Prior by edge type: how likely an isolated onset is this kind of edge.
EDGE_PRIOR = {"K": 1.0, "L3": 1.0, "M5": 0.7, "L2": 0.3, "M4": 0.25, "L1": 0.08, "M3": 0.1, "M2": 0.06,
              "M1": 0.03, "N5": 0.08, "N4": 0.06, "N3": 0.03, "N2": 0.02, "N1": 0.02, "N6": 0.03, "N7": 0.03,
              "O1": 0.01, "O2": 0.01, "O3": 0.01, "O4": 0.02, "O5": 0.02}
MAJOR_TYPES = ("K", "L3", "M5")
RARE_ELEMENTS = {  # radioactive (no stable isotope) and noble gases: rarely in a TEM specimen
    "Tc": 0.2, "Pm": 0.2, "Po": 0.1, "At": 0.1, "Rn": 0.1, "Fr": 0.1, "Ra": 0.1, "Ac": 0.1, "Pa": 0.1,
    "Np": 0.1, "Pu": 0.1, "Am": 0.1, "Cm": 0.1, "Bk": 0.1, "Cf": 0.1, "Es": 0.1, "Fm": 0.1,
    "He": 0.3, "Ne": 0.3, "Ar": 0.4, "Kr": 0.3, "Xe": 0.3, "Th": 0.4, "U": 0.4}
# A coarse, hand-set prevalence prior (base rate): elements found in most inorganic materials studied by
# EELS/XAS (oxides, nitrides, carbides, semiconductors, alloys, catalysts) count 1; the rest (less common
# transition metals, most lanthanides, heavy halogens, ...) LESS_COMMON. It only decides between edges
# the tables cannot separate (onsets within a few eV: O K / Sb M5, N K / Sc L3, Cu L3 / Pr M5,
# Mg K / Dy M5, Na K / Sm M5), where the base rate is the honest tie-breaker; any clear energy, shape or
# partner difference outweighs it. Measured on benchmarks/identify_sweep.py (252 synthetic spectra, 40 %
# of them of 'less common' elements, far more than in practice): 0.5 -> top-1 0.96, 0.7 -> 0.96-0.97,
# 1.0 -> 0.98; on the real files the O K / Sb M5 and N K / Sc L3 margins shrink with it (SrTiO3 O K
# 0.29/0.18 at 0.7 vs 0.28/0.28 at 1.0). 0.7 keeps those margins and costs rare elements less.
COMMON_ELEMENTS = set(
    "Li B C N O F Na Mg Al Si P S Cl K Ca Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Sr Y Zr Nb Mo Ru Pd Ag "
    "In Sn Ba La Ce Hf Ta W Ir Pt Au Pb Bi".split())
LESS_COMMON = 0.7
# measured shape -> expected (exspy) shape -> factor
SHAPE_MATCH = {
    "sharp": {"sharp": 1.0, "abrupt": 0.6, "delayed": 0.4},
    "peaked": {"sharp": 0.8, "abrupt": 1.0, "delayed": 0.5},
    "abrupt": {"sharp": 0.5, "abrupt": 1.0, "delayed": 0.8},
    "delayed": {"sharp": 0.35, "abrupt": 0.6, "delayed": 1.0},
}
PARTNER_SEEN = 1.5  # white-line edge whose spin-orbit partner line shows at the tabulated spacing
PARTNER_MISSING = 0.5  # ... that should show (resolvable spacing) and does not
SHIFT_MAX = 20.0  # eV: largest calibration offset of the energy axis searched for
SHIFT_SIGMA = 6.0  # eV: prior width of that offset
SHIFT_MIN_GAIN = 0.2  # log-evidence gain an offset must bring to be applied (the prior already
#                        keeps it small)


def _expected_shape(entry: EdgeEntry) -> str | None:
    """exspy's edge description as 'sharp', 'delayed', 'abrupt' (None when it has none)."""
    threshold = (entry.threshold or "").lower()
    shape = (entry.shape or "").lower()
    if "sharp" in threshold:
        return "sharp"
    if "delayed" in shape:
        return "delayed"
    if "abrupt" in shape:
        return "abrupt"
    return None


def _sigma_e(e: float, channel: float, kind: str) -> float:
    """Tolerance (eV) of an onset-to-table match: channel width, broadening with energy, table scatter."""
    if kind == "xas":
        return math.sqrt((2 * channel) ** 2 + (0.0012 * e) ** 2 + 3.0 ** 2)
    return math.sqrt((2 * channel) ** 2 + (0.006 * e) ** 2 + 2.5 ** 2)


def _likelihood(d: float, sigma: float) -> float:
    """Heavy-tailed (Student-t, 3 degrees of freedom) likelihood of an energy difference d."""
    return (1.0 + d * d / (3.0 * sigma * sigma)) ** -2


def _spacing(entry: EdgeEntry, partner: EdgeEntry) -> float | None:
    """Spin-orbit spacing partner - entry, eV (EELS table, X-ray table where EELS gives none)."""
    for a, b in ((partner.eels_onset, entry.eels_onset), (partner.xray_energy, entry.xray_energy)):
        if a is not None and b is not None and a - b > 0.3:
            return a - b
    return None


def _element_prior(entry: EdgeEntry, kind: str) -> float:
    p = EDGE_PRIOR.get(entry.edge, 0.01)
    if kind == "eels" and not (entry.edge in MAJOR_TYPES and entry.eels_onset is None):
        # exspy knows which edges matter in EELS; edges it lacks are X-ray-only (minor for EELS) -- except
        # the principal edges (K, L3, M5), which it simply does not list for some elements although they
        # are standard EELS edges (S K, Cl K, Al L2,3, P L2,3, S L2,3, Se M4,5): those keep the type prior
        p *= 1.0 if entry.relevance == "Major" else 0.5
        if entry.eels_onset is None:
            p *= 0.5
    p *= RARE_ELEMENTS.get(entry.element, 1.0 if entry.element in COMMON_ELEMENTS else LESS_COMMON)
    return p


class _Context:
    """The spectrum's prepared data and profile, shared by all candidate evaluations."""

    def __init__(self, spectrum: Spectrum):
        self.prep: Prepared = prepare(spectrum)
        self.profile: Profile = edge_profile(self.prep)
        self.kind = self.prep.kind
        self.channel = float(np.median(np.diff(self.prep.energy)))
        self.emin = float(self.prep.energy[0])
        self.emax = float(self.prep.energy[-1])
        self.metadata = dict(getattr(spectrum, "metadata", {}) or {})
        self._excess_cache = {}

    def inside(self, e: float) -> bool:
        """Whether an edge at e (eV) lies where the data could show it (pre- and post-edge room)."""
        return self.emin + 0.5 * float(pre_window(e)) <= e <= self.emax - float(post_window(e))

    def z_near(self, e: float, tol: float) -> float:
        sel = np.abs(self.profile.energy - e) <= tol
        return float(np.max(self.profile.z[sel])) if sel.any() else 0.0

    def excess(self, onset: float, floor: float | None = None):
        key = (round(onset, 3), floor)
        if key not in self._excess_cache:
            e_fit = onset - 0.5 * float(post_window(onset))
            if floor is not None:
                e_fit = max(e_fit, min(onset, floor + 6 * self.channel + max(self.channel, 0.5)))
            r = _excess_curve(self.prep, e_fit, floor=floor)
            self._excess_cache[key] = None if r is None else _smooth(r, 0.7 / max(self.channel, 1e-6))
        return self._excess_cache[key]


def _partner_evidence(ctx: _Context, edge: DetectedEdge, entry: EdgeEntry, onset_for_table: float) -> dict:
    """Look for the spin-orbit partner (L2 of an L3, M4 of an M5) at the tabulated spacing above."""
    pname = PARTNER.get(entry.edge)
    if pname is None:
        return {}
    try:
        partner = edge_entry(entry.element, pname)
    except InputError:
        return {}
    spacing = _spacing(entry, partner)
    if spacing is None:
        return {}
    ev = {"partner": partner.name, "spacing_ev": round(spacing, 1)}
    e_p = edge.onset_ev + spacing
    if spacing < 3 * ctx.channel or spacing < 2.0 or not (ctx.emin < e_p < ctx.emax - 5.0):
        ev["seen"] = None  # not resolvable in these data
        return ev
    r = ctx.excess(edge.onset_ev, edge.floor_ev)
    if r is None:
        ev["seen"] = None
        return ev
    e = ctx.prep.energy
    tol = max(2 * ctx.channel, 2.0, 0.15 * spacing)
    first = (e >= edge.onset_ev) & (e < edge.onset_ev + min(spacing, 0.7 * spacing + tol))
    near = (e >= e_p - tol) & (e <= e_p + tol + 4.0)
    if first.sum() < 2 or near.sum() < 2:
        ev["seen"] = None
        return ev
    top = float(np.max(r[first]))
    i_near = np.flatnonzero(near)
    j = i_near[np.argmax(r[i_near])]
    # a peak (or a new step) near the expected energy: a local rise above the valley before it
    below = (e >= e_p - spacing * 0.6) & (e <= e[j])
    valley = float(np.min(r[below])) if (j > 0 and below.any()) else 0.0
    rise = float(r[j]) - valley
    ratio = float(r[j]) / top if top > 0 else 0.0
    seen = top > 0 and rise > 0.12 * top
    ev.update(seen=bool(seen), found_at_ev=round(float(e[j]), 1), height_ratio=round(ratio, 2))
    return ev


def _candidate_factors(ctx: _Context, edge: DetectedEdge, entry: EdgeEntry) -> tuple[float, dict]:
    """Everything but the energy match: prior, shape, partners, file header. Returns (factor, evidence)."""
    kind = ctx.kind
    ev: dict = {"table_eels_onset_ev": entry.eels_onset, "table_xray_ev": entry.xray_energy}
    prior = _element_prior(entry, kind)
    ev["prior"] = round(prior, 3)
    weight = prior
    # shape (EELS only: X-ray K/L edges all look alike at this level)
    expected = _expected_shape(entry)
    if kind == "eels" and expected and edge.shape in SHAPE_MATCH:
        f = SHAPE_MATCH[edge.shape][expected]
        weight *= f
        ev.update(expected_shape=expected, measured_shape=edge.shape, shape_factor=f)
    # spin-orbit partner above an L3/M5
    if kind == "eels" and entry.edge in PARTNER and edge.z > 0:
        pe = _partner_evidence(ctx, edge, entry, edge.onset_ev)
        if pe:
            # only white lines show their partner as a second peak: for a delayed or step-like edge the
            # partner's step is lost in the slow rise and any bump there says nothing (it used to favour
            # e.g. Sb M5 over O K in oxides); the L2 (M4) line of a white-line edge at the tabulated
            # spacing with a statistical-like height (~1:2, 0.2-1.3 allowing for crystal fields) counts
            f = 1.0
            if expected == "sharp" and pe.get("seen") is True:
                f = PARTNER_SEEN if 0.2 <= pe.get("height_ratio", 0) <= 1.3 else 1.1
            elif expected == "sharp" and pe.get("seen") is False:
                f = PARTNER_MISSING
            pe["factor"] = f
            ev["partner"] = pe
            weight *= f
    # the major partner below an L2/M4 must be there
    if entry.edge in PRIMARY:
        try:
            major = edge_entry(entry.element, PRIMARY[entry.edge])
        except InputError:
            major = None
        spacing = _spacing(major, entry) if major else None
        if spacing:
            e_major = edge.onset_ev - spacing
            if ctx.inside(e_major):
                z = ctx.z_near(e_major, max(2 * ctx.channel, 0.3 * spacing, 2.0))
                f = 1.0 if z >= 3.0 else 0.25
                ev["major_partner"] = {"edge": major.name, "expected_at_ev": round(e_major, 1),
                                       "z": round(z, 1), "factor": f}
                weight *= f
    # file header (X-ray files often name the edge)
    md_el, md_edge = ctx.metadata.get("element"), ctx.metadata.get("edge")
    if md_el and str(md_el).strip().capitalize() == entry.element:
        f = 3.0 if (not md_edge or str(md_edge).strip().upper() == entry.edge.upper()) else 1.5
        ev["file_header"] = f"{md_el} {md_edge or ''}".strip()
        weight *= f
    return weight, ev


def _energy_match(kind: str, entry: EdgeEntry, e_corr: float, sigma: float) -> tuple[float, dict]:
    """Likelihood of an onset (eV, calibration offset removed) for an edge: the better of its EELS onset
    and X-ray binding energy (the one less suited to the data at a discount)."""
    refs = []
    if entry.eels_onset is not None:
        refs.append(("eels", entry.eels_onset, 1.0 if kind == "eels" else 0.6))
    if entry.xray_energy is not None:
        refs.append(("xray", entry.xray_energy, 0.7 if kind == "eels" else 1.0))
    best, used, ev = 0.0, None, {}
    for name, ref, w in refs:
        like = w * _likelihood(e_corr - ref, sigma)
        ev[f"diff_{name}_ev"] = round(e_corr - ref, 1)
        if like > best:
            best, used = like, name
    ev["energy_match"] = round(best, 3)
    ev["matched_table"] = used
    return best, ev


def _missing_edges(ctx: _Context, entry: EdgeEntry, e_obs: float, detected: list[DetectedEdge]) -> tuple[float, list]:
    """Factor and list for major edges of the same element that the data should show but do not."""
    shift = e_obs - entry.energy
    missing = []
    factor = 1.0
    for other in _element_edges(entry.element):
        if other.edge == entry.edge or other.edge not in MAJOR_TYPES:
            continue
        e_u = other.energy + shift
        if abs(e_u - e_obs) < 3 * float(post_window(e_obs)) or not ctx.inside(e_u):
            continue
        # inside the fine structure just after another detected edge the profile cannot tell
        if any(0 < e_u - d.onset_ev < 3 * float(post_window(d.onset_ev)) for d in detected):
            continue
        sig = _sigma_e(e_u, ctx.channel, ctx.kind)
        if any(abs(d.onset_ev - e_u) < 3 * sig for d in detected):
            continue
        z = ctx.z_near(e_u, 2 * sig)
        if z < 3.0:
            missing.append({"edge": other.name, "expected_at_ev": round(e_u, 1), "z": round(z, 1)})
            factor *= 0.35
    return factor, missing


_ELEMENT_EDGES = {}


def _element_edges(element: str) -> list[EdgeEntry]:
    if not _ELEMENT_EDGES:
        for e in all_edges(0.0, float("inf")):
            _ELEMENT_EDGES.setdefault(e.element, []).append(e)
    return _ELEMENT_EDGES.get(element, [])


def _pool(ctx: _Context, edge: DetectedEdge, e_obs: float, detected: list[DetectedEdge],
          extra_sigma: float = 0.0) -> dict:
    """Every tabulated edge that could explain an onset at e_obs (eV) under any calibration offset
    searched, with its energy-independent factor and evidence computed once."""
    sigma = math.hypot(_sigma_e(e_obs, ctx.channel, ctx.kind), extra_sigma)
    half = max(6 * sigma, 15.0)
    items = []
    for entry in all_edges(e_obs - half - SHIFT_MAX, e_obs + half + SHIFT_MAX):
        factor, ev = _candidate_factors(ctx, edge, entry)
        if factor <= 0:
            continue
        f, missing = _missing_edges(ctx, entry, e_obs, detected)
        if missing:
            ev["missing_edges"] = missing
            ev["missing_factor"] = round(f, 3)
            factor *= f
        items.append((entry, factor, ev))
    return {"e_obs": e_obs, "sigma": sigma, "half": half, "items": items}


def _rank(ctx: _Context, pool: dict, shift: float) -> list[dict]:
    """Candidates for one onset with weights and evidence (unnormalised, best first), given an offset."""
    e_corr = pool["e_obs"] - shift
    out = []
    for entry, factor, ev in pool["items"]:
        if not any(v is not None and abs(v - e_corr) <= pool["half"] for v in (entry.eels_onset, entry.xray_energy)):
            continue
        like, eev = _energy_match(ctx.kind, entry, e_corr, pool["sigma"])
        w = like * factor
        if w <= 0:
            continue
        out.append({"element": entry.element, "edge": entry.edge, "weight": w, "evidence": {**ev, **eev}})
    out.sort(key=lambda c: -c["weight"])
    return out


def _log_evidence(ctx: _Context, pools: list[dict], nulls: list[float], shift: float) -> float:
    """How well one calibration offset (eV) lets the table explain all onsets together (log scale)."""
    total = -0.5 * (shift / SHIFT_SIGMA) ** 2
    for pool, null in zip(pools, nulls):
        e_corr = pool["e_obs"] - shift
        w = sum(_energy_match(ctx.kind, entry, e_corr, pool["sigma"])[0] * factor
                for entry, factor, _ in pool["items"])
        total += math.log(null + w)
    return total


def _null_weight(z: float, operator: bool) -> float:
    """Weight of 'none of the candidates': an unexplained or spurious onset."""
    base = 0.03
    if operator:
        return base
    return base + 1.0 * math.exp(-(z - Z_MIN) / 1.5)


def _support(ranked: list[list[dict]], i: int, element: str) -> tuple[float, list]:
    """How well the element explains the other detected edges (0 per edge it cannot explain)."""
    total, which = 0.0, []
    for j, cands in enumerate(ranked):
        if j == i or not cands:
            continue
        top = cands[0]["weight"]
        best = max((c["weight"] for c in cands if c["element"] == element), default=0.0)
        if top > 0 and best / top >= 0.2:
            total += best / top
            which.append(next(f"{c['element']}_{c['edge']}" for c in cands if c["element"] == element))
    return total, which


def _estimate_shift(ctx: _Context, pools: list[dict], nulls: list[float]) -> tuple[float, dict]:
    """One calibration offset of the energy axis (eV, 0 when none is needed or it cannot be told).

    The offset that best lets the tables explain all detected onsets together, with a Gaussian prior of
    SHIFT_SIGMA eV; needs two or more onsets (with one, an offset cannot be told from another edge)."""
    info = {"n_edges": len(pools)}
    if len(pools) < 2:
        return 0.0, info
    step = max(0.5, 0.5 * ctx.channel)
    grid = np.arange(-SHIFT_MAX, SHIFT_MAX + step / 2, step)
    logev = np.array([_log_evidence(ctx, pools, nulls, float(sh)) for sh in grid])
    i = int(np.argmax(logev))
    best = float(grid[i])
    gain = float(logev[i] - _log_evidence(ctx, pools, nulls, 0.0))
    info.update(best_ev=round(best, 1), log_evidence_gain=round(gain, 2))
    if gain < SHIFT_MIN_GAIN or abs(best) < 1.0:
        return 0.0, info
    return best, info


def _finish(cands: list[dict], null_w: float) -> list[dict]:
    total = null_w + sum(c["weight"] for c in cands)
    out = []
    for c in cands[:N_CANDIDATES]:
        ev = dict(c["evidence"])
        ev["weight"] = round(c["weight"], 4)
        out.append({"element": c["element"], "edge": c["edge"], "score": round(c["weight"] / total, 3),
                    "evidence": ev})
    return out


def identify(spectrum: Spectrum, at: list[float] | None = None) -> dict:
    """Find edges (or use the operator's energies ``at``, eV) and rank element/edge candidates.

    Returns ``{"edges": [{"onset_ev", "candidates": [{"element", "edge", "score" (0..1), "evidence"}],
    ...}], "warnings": [...]}`` with edges in rising energy and candidates best first. A spectrum image is
    summed first. Works on EELS and X-ray absorption (``kind='xas'``) spectra, and on HyperSpy signals."""
    spectrum = as_data(spectrum)
    if not isinstance(spectrum, Spectrum):
        raise InputError("identify needs an energy-loss or absorption spectrum; chi(k) data have no edges to find")
    if at is not None:
        # outside the data an energy is still ranked on the tabulated energies (with a warning)
        at = [number(a, f"the edge energy --at {a} (eV)", 1.0, 1.0e6) for a in np.atleast_1d(np.asarray(at, object))]
    ctx = _Context(spectrum)
    warnings = list(ctx.prep.warnings)
    if spectrum.nav_shape:
        n = int(np.prod(spectrum.nav_shape))
        warnings.append(f"spectrum image: identified the sum of its {n} spectra")
    detected = find_edges(spectrum, prepared=ctx.prep, profile=ctx.profile)

    # every detected onset ranked on its own, a common calibration offset, then consistency between them
    pools = [_pool(ctx, d, d.onset_ev, detected) for d in detected]
    nulls = [_null_weight(d.z, False) for d in detected]
    shift, shift_info = _estimate_shift(ctx, pools, nulls)
    if abs(shift) >= max(2 * ctx.channel, 2.0):
        warnings.append(f"the energy axis looks offset by {shift:+.1f} eV (from {len(detected)} edges "
                        f"found together); candidates were matched after removing it")
    ranked = _apply_consistency(ctx, detected, [_rank(ctx, pool, shift) for pool in pools])

    if at:
        entries = _operator_edges(ctx, at, detected, ranked, shift, warnings)
    else:
        entries = []
        for d, r in zip(detected, ranked):
            entry = _edge_record(d)
            entry["candidates"] = _finish(r, _null_weight(d.z, False))
            sec = _secondary_tag(r)
            if sec:
                entry["secondary_of"] = sec
            entries.append(entry)
        if not entries:
            warnings.append("no edge found: no significant rise above the power-law background "
                            "(give the onset with --at EV to rank candidates anyway)")
    for entry in entries:
        for c in entry["candidates"]:
            c["evidence"]["calibration_shift_ev"] = round(shift, 1)
    return {"edges": entries, "warnings": warnings, "calibration": {"shift_ev": round(shift, 1), **shift_info}}


def _edge_record(d: DetectedEdge) -> dict:
    return {"onset_ev": round(d.onset_ev, 1), "significance": round(d.z, 1), "jump": round(d.delta, 3),
            "shape": d.shape, "peak_ev": round(d.peak_ev, 1)}


def _secondary_tag(cands: list[dict]) -> str | None:
    if cands and cands[0]["evidence"].get("secondary_of"):
        return cands[0]["evidence"]["secondary_of"]
    return None


def _apply_consistency(ctx: _Context, detected: list[DetectedEdge], ranked: list[list[dict]]) -> list[list[dict]]:
    """Raise elements that explain several detected edges; mark spin-orbit partners of stronger edges."""
    out = []
    for i, cands in enumerate(ranked):
        new = []
        for c in cands:
            c = {**c, "evidence": dict(c["evidence"])}
            support, which = _support(ranked, i, c["element"])
            if support > 0:
                f = 1.0 + min(support, 2.0)
                c["weight"] *= f
                c["evidence"]["same_element_edges"] = which
                c["evidence"]["consistency_factor"] = round(f, 2)
            # another edge of an element that is the best explanation of another detected edge, at the
            # tabulated spacing from it (an L2 or L1 above an L3, an M4 above an M5, ...): two energies
            # matching at once is strong evidence, and once the element is there its other edges are
            # expected; the weaker kind of edge is marked as secondary to the stronger one
            f, other = _sibling_factor(ctx, detected, ranked, i, c)
            if f > 1.0:
                c["weight"] *= f
                c["evidence"]["sibling_factor"] = round(f, 2)
                if EDGE_PRIOR.get(c["edge"], 0.01) < EDGE_PRIOR.get(other.split("_")[1], 0.01):
                    c["evidence"]["secondary_of"] = other
            new.append(c)
        new.sort(key=lambda c: -c["weight"])
        out.append(new)
    return out


def _sibling_factor(ctx: _Context, detected: list[DetectedEdge], ranked: list[list[dict]], i: int,
                    c: dict) -> tuple[float, str | None]:
    """Factor (>= 1) for a candidate whose element explains another detected edge at the tabulated spacing.

    4 for a candidate of a principal kind; for a weaker kind (L2, L1, M4, M3, ...) enough to put it on a
    par with a principal edge of an element that has no such support, because its prior (how likely an
    isolated onset is that kind of edge) no longer applies once the element is established."""
    try:
        entry = edge_entry(c["element"], c["edge"])
    except InputError:
        return 1.0, None
    best, which = 1.0, None
    for j, cands in enumerate(ranked):
        if j == i or not cands or cands[0]["element"] != c["element"] or cands[0]["edge"] == c["edge"]:
            continue
        other = edge_entry(c["element"], cands[0]["edge"])
        if entry.energy is None or other.energy is None:
            continue
        spacing = entry.energy - other.energy
        # a spacing within one spectrum: no calibration error, and the tables know spacings better than
        # absolute energies; the two onsets' reading errors remain (a few eV, channel width)
        sig = math.hypot(math.sqrt(2.0) * math.hypot(2 * ctx.channel, 2.5), 0.03 * abs(spacing))
        if abs(detected[i].onset_ev - detected[j].onset_ev - spacing) >= 2 * sig:
            continue
        f = 4.0 * max(1.0, 0.5 / max(_element_prior(entry, ctx.kind), 1e-3))
        if f > best:
            best, which = f, other.name
    return best, which


def _operator_edges(ctx: _Context, at: list[float], detected: list[DetectedEdge], ranked: list[list[dict]],
                    shift: float, warnings: list) -> list[dict]:
    """Candidates for the operator's onsets: measured near each where the data allow."""
    entries = []
    for e_at in sorted(float(a) for a in at):
        if not np.isfinite(e_at) or e_at <= 0:
            raise InputError(f"--at {e_at}: an edge energy must be a positive number of eV")
        near = [d for d in detected if abs(d.onset_ev - e_at) <= max(2 * _sigma_e(e_at, ctx.channel, ctx.kind),
                                                                       0.5 * float(post_window(e_at)))]
        if near:
            edge = min(near, key=lambda d: abs(d.onset_ev - e_at))
        elif ctx.emin <= e_at <= ctx.emax:
            z = ctx.z_near(e_at, max(3 * ctx.channel, 2.0))
            i = int(np.argmin(np.abs(ctx.profile.energy - e_at)))
            edge = characterise(ctx.prep, e_at, z, float(ctx.profile.delta[i]))
            edge.onset_ev = e_at  # the operator's energy stands; shape measured around it
        else:
            warnings.append(f"{e_at:g} eV lies outside the data ({ctx.emin:.0f}-{ctx.emax:.0f} eV): "
                            "ranked by tabulated energies only")
            edge = DetectedEdge(e_at, 0.0, 0.0, "unknown", 1.0, 0.0, e_at)
        others = [d for d in detected if d is not edge]
        cands = _rank(ctx, _pool(ctx, edge, e_at, others + [edge], extra_sigma=2.0), shift)
        # consistency with the edges found elsewhere in the spectrum
        other_ranked = [r for d, r in zip(detected, ranked) if d is not edge]
        for c in cands:
            support, which = _support(other_ranked + [cands], len(other_ranked), c["element"])
            if support > 0:
                c["weight"] *= 1.0 + min(support, 2.0)
                c["evidence"]["same_element_edges"] = which
        cands.sort(key=lambda c: -c["weight"])
        record = {"onset_ev": round(e_at, 1), "at_ev": round(e_at, 1)}
        if near:
            record.update(detected_onset_ev=round(edge.onset_ev, 1), significance=round(edge.z, 1),
                          jump=round(edge.delta, 3), shape=edge.shape)
        elif edge.shape != "unknown":
            record.update(significance=round(edge.z, 1), shape=edge.shape)
        record["candidates"] = _finish(cands, _null_weight(edge.z, True))
        entries.append(record)
    return entries


def format_identification(result: dict) -> str:
    """A readable table of the identification: one block per edge, candidates best first."""
    lines = []
    if result.get("file"):
        lines.append(f"file: {result['file']}")
    edges = result.get("edges", [])
    if not edges:
        lines.append("no edges found")
    for k, edge in enumerate(edges, 1):
        head = f"edge {k}: onset {edge['onset_ev']:.1f} eV"
        extras = []
        if "significance" in edge:
            extras.append(f"z={edge['significance']:.1f}")
        if "jump" in edge:
            extras.append(f"jump={edge['jump']:.3f}")
        if edge.get("shape"):
            extras.append(edge["shape"])
        if edge.get("secondary_of"):
            extras.append(f"spin-orbit partner of {edge['secondary_of']}")
        if edge.get("detected_onset_ev") is not None:
            extras.append(f"detected at {edge['detected_onset_ev']:.1f} eV")
        if extras:
            head += "  (" + ", ".join(extras) + ")"
        lines.append(head)
        lines.append(f"   {'edge':<8} {'score':>6}  {'EELS eV':>8} {'X-ray eV':>9}  why")
        for c in edge.get("candidates", []):
            ev = c.get("evidence", {})
            name = f"{c['element']}_{c['edge']}"
            eels = ev.get("table_eels_onset_ev")
            xray = ev.get("table_xray_ev")
            why = []
            if ev.get("measured_shape"):
                why.append(f"shape {ev['measured_shape']}/{ev.get('expected_shape')}")
            p = ev.get("partner")
            if p and p.get("seen") is not None and p.get("factor", 1.0) != 1.0:
                why.append(f"{p['partner']} {'seen' if p['seen'] else 'not seen'}")
            if ev.get("same_element_edges"):
                why.append("also " + ",".join(ev["same_element_edges"]))
            if ev.get("missing_edges"):
                why.append("missing " + ",".join(m["edge"] for m in ev["missing_edges"]))
            if ev.get("secondary_of"):
                why.append(f"partner of {ev['secondary_of']}")
            lines.append(f"   {name:<8} {c['score']:>6.2f}  {_fmt(eels):>8} {_fmt(xray):>9}  {'; '.join(why)}")
    for w in result.get("warnings", []):
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.1f}"
