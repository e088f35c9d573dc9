"""Batched EELS forward model: many recorded core-loss spectra at once, no per-spectrum Python loop.

``eels_batch(k, chi[n, K], EELSConfig, seed)`` follows :func:`exelfs.simulate.eels.eels_spectrum` step for
step (same parameters, same ranges, same physics) on one shared fine grid of <= 0.25 eV, in float32:

- edge shapes are evaluated once per batch on the fine grid (exspy's hydrogenic tables, cached per element,
  shell, beam energy and collection angle) and weighted / shifted per spectrum;
- chi(k) of every spectrum is interpolated onto the energy axis of each edge by one sparse product (the
  linear-interpolation weights, shared by the batch, as a matrix);
- power laws (background, solid-state continuum, tilt) are evaluated exactly on the fine grid (float32 exp);
- plural scattering and resolution: one FFT convolution over the whole chunk, the low-loss kernel built per
  spectrum in Fourier space (exp(t/lambda (S - 1)) times the Gaussian of the resolution);
- detector: channel integration with a per-spectrum calibration offset, then noise drawn in one call: exact
  Poisson for expected counts below POISSON_BELOW, the normal approximation (rounded; Box-Muller float32
  normals) above;
- chunks of CHUNK spectra, two at a time in threads; each chunk's noise has its own seed.

Solid-state realism (``EELSConfig.solid_state``, on in :func:`training_config`): white lines (split in
two by white_line_split eV, crystal field) on 3d / 4d transition-metal L2,3 and lanthanide M4,5 edges whether or not the edge is the absorber, their continuum a
nearly flat step (arctan, then (E/(onset+50))^-continuum_decay, mixed with a fraction hydrogenic_mix of the
hydrogenic hump) instead of the hydrogenic delayed maximum, every edge's continuum tilted by
(E/onset)^continuum_tilt past the absorber onset (cross-sections and background residuals of real spectra
decay more slowly or faster than the hydrogenic model), L1 weighted by l1_weight on every L shell, and
near-edge nuisance peaks (``near_edge``) with pre-peaks (B, C, N, O K; 3d L3) on every edge in the window.

Energies eV; the channel width must be a single number for a batch (one shared axis).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import scipy.fft

from ..edges.tables import edge_entry, parse_edge
from ..errors import InputError
from ..units import KTOE
from .eels import (EELSConfig, _fast_len, edge_shape, edge_strength, l_energies, l_shell_shape,
                   other_edge_families)
from .nearedge import TM_3D, elnes_peaks, gaussians, has_pre_peak, lorentzians

POISSON_BELOW = 100.0  # expected counts per channel below which noise is drawn exactly (Poisson)
FINE_STEP = 0.25  # eV: the fine grid is min(FINE_STEP, channel width / 2)
CHUNK = 128  # spectra per evaluation chunk (memory, cache, GIL share); each chunk draws its noise from its own seed
THREADS = 2  # chunks evaluated at once
TM_4D = ("Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag")
LANTHANIDES = ("La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu")
SOLID_WIDTH_EV = 1.0  # arctan width of the solid-state continuum step


def training_config(**overrides) -> EELSConfig:
    """The EELS recipe networks are trained on: solid-state edges, near-edge nuisances, small L1, broad
    white-line ranges (today's :class:`EELSConfig` defaults otherwise); keyword overrides win."""
    base = dict(solid_state=True, near_edge=True, l1_weight=(0.0, 0.08), white_line_height=(0.0, 8.0),
                white_line_ratio=(1.5, 4.0), white_line_width=(0.8, 3.0), white_line_split=(0.0, 2.5),
                near_edge_height=(0.0, 1.2))
    base.update(overrides)
    return EELSConfig(**base)


def white_line_family(element: str, shell: str) -> bool:
    """True for edges whose real spectra show white lines: 3d / 4d metal L2,3, lanthanide M4,5."""
    return (shell[0] == "L" and shell != "L1" and element in TM_3D + TM_4D) or \
        (shell in ("M5", "M4", "M45") and element in LANTHANIDES)


def _draw_n(value, rng, n, log=False) -> np.ndarray:
    """(n,) values: a number repeated, or drawn uniformly (log-uniformly) from a (lo, hi) range."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InputError(f"a range must be (lo, hi), got {value}")
        lo, hi = float(value[0]), float(value[1])
        if log:
            return np.exp(rng.uniform(np.log(lo), np.log(hi), n))
        return rng.uniform(lo, hi, n)
    return np.full(n, float(value))


def _hi(value) -> float:
    return float(max(value)) if isinstance(value, (tuple, list)) else float(value)


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (float(value), float(value))


def _lerp_index(pos, m):
    """Gather plan for linear interpolation of a table with m columns at fractional positions pos ((n or 1),
    P): (flat or column index j, weight f); positions outside [0, m - 1) point at a zero weight pair."""
    j = np.floor(pos)
    f = (pos - j).astype(np.float32)
    inside = (j >= 0) & (j < m - 1)
    f = np.where(inside, f, np.float32(0.0))
    j = np.where(inside, j, m - 1).astype(np.intp)  # the table's last column must be 0 (or unused)
    return j, f, inside


def _lerp_apply(table, idx):
    """Interpolated rows of table (n, M) from a plan of :func:`_lerp_index`."""
    j, f, inside = idx
    m = table.shape[1]
    if j.shape[0] == 1:  # the same positions for every row: a column gather
        jj = np.minimum(j[0] + 1, m - 1)
        a, b = table[:, j[0]], table[:, jj]
    else:
        flat = j + (m * np.arange(table.shape[0]))[:, None]
        a = np.take(table, flat)
        b = np.take(table, np.minimum(j + 1, m - 1) + (m * np.arange(table.shape[0]))[:, None])
    return a + f * (b - a)


def _lerp_matrix(idx, m):
    """The plan of :func:`_lerp_index` for positions shared by every row, as a sparse (P, m) float32 matrix:
    matrix @ table.T = the interpolated rows, transposed."""
    import scipy.sparse

    j, f, inside = idx[0][0], idx[1][0], idx[2][0]
    cols = np.nonzero(inside)[0]
    return scipy.sparse.csr_matrix(
        (np.concatenate([1.0 - f[cols], f[cols]]).astype(np.float32),
         (np.concatenate([cols, cols]), np.concatenate([j[cols], j[cols] + 1]))), shape=(j.size, m))


def _add_product(out, b_t, a=None, block=128):
    """out += a * b_t.T (a = 1 if None) for out, a (m, P) and b_t (P, m), in column blocks that stay in
    cache (a plain transposed copy of the whole array is several times slower)."""
    for c in range(0, out.shape[1], block):
        if a is None:
            out[:, c:c + block] += b_t[c:c + block].T
        else:
            out[:, c:c + block] += a[:, c:c + block] * b_t[c:c + block].T


def _lerp_rows(table, pos):
    """table (n, M) sampled at fractional column positions pos ((n or 1), P), linear, 0 outside."""
    j, f, inside = _lerp_index(pos, table.shape[1])
    return np.where(inside, _lerp_apply(table, (j, f, inside)), table.dtype.type(0))


class _Edge:
    """One edge term of the single-scattering distribution: weight (n,) x shape(E - shift) (1 + chi)."""

    def __init__(self, name, onset, shape, weight, shifted, chi_edge=None, solid=None):
        self.name, self.onset, self.shape, self.weight = name, onset, shape, weight
        self.shifted, self.chi_edge, self.solid = shifted, chi_edge, solid  # solid: (decay, mix) arrays


def eels_batch(k=None, chi=None, config: EELSConfig | dict | None = None, seed=None, n: int | None = None,
               rng=None):
    """n recorded core-loss EELS spectra on one energy axis, in one vectorised pass.

    k (K,), chi (n, K): chi(k) of the absorber on a uniform k grid (1/angstrom), or None for bare atomic
    edges (then give n). config: :class:`EELSConfig` (or its dict; channel_width a number, low-loss not
    made). Returns (energy (nE,) eV, counts (n, nE) float32 per channel, truth: dict of (n,) arrays of the
    drawn parameters, plus 'other_edges' names with 'other_weight' (n, n_other) and 'near_edge' (n, P, 3)
    [position eV, FWHM eV, height] where drawn). The same seed gives bit-identical output."""
    cfg = config if isinstance(config, EELSConfig) else EELSConfig.from_dict(config or {})
    rng = rng if rng is not None else np.random.default_rng(seed)
    if isinstance(cfg.channel_width, (tuple, list)):
        raise InputError("eels_batch needs one channel width for the whole batch, not a range")
    width = float(cfg.channel_width)
    if not width > 0:
        raise InputError(f"channel_width must be positive, got {width}")
    if chi is not None:
        chi = np.asarray(chi, np.float32)
        k = np.asarray(k, float)
        if chi.ndim == 1:
            chi = chi[None, :]
        if chi.ndim != 2 or chi.shape[1] != k.size or k.size < 3:
            raise InputError("chi must be (n, K) on the k grid given (K >= 3 points)")
        dk = np.diff(k)
        if not np.allclose(dk, dk[0], rtol=1e-6, atol=1e-9) or dk[0] <= 0:
            raise InputError("eels_batch needs chi on a uniform increasing k grid (e.g. standard_k)")
        if n is not None and int(n) != chi.shape[0]:
            raise InputError(f"n = {n} does not match the {chi.shape[0]} chi(k) given")
        n = chi.shape[0]
    if n is None or int(n) < 1:
        raise InputError("give chi (n, K) or the number n of spectra (at least 1)")
    n = int(n)
    element, shell = parse_edge(cfg.edge)
    entry = edge_entry(element, shell)
    onset_tab = entry.energy
    if onset_tab is None:
        raise InputError(f"no onset energy known for {cfg.edge}")

    # ---- draws (all up front, in a fixed order: independent of the chunking)
    t = {}
    t["edge_shift"] = _draw_n(cfg.edge_shift, rng, n)
    t["onset_ev"] = onset_tab + t["edge_shift"]
    t["resolution_fwhm"] = _draw_n(cfg.resolution_fwhm, rng, n) if cfg.resolution else np.zeros(n)
    t["t_lambda"] = _draw_n(cfg.t_lambda, rng, n) if cfg.plural_scattering else np.zeros(n)
    t["plasmon_energy"] = _draw_n(cfg.plasmon_energy, rng, n)
    t["plasmon_width"] = _draw_n(cfg.plasmon_width, rng, n)
    t["calibration_offset"] = _draw_n(cfg.calibration_offset, rng, n) if cfg.calibration else np.zeros(n)
    t["chi_scale"] = _draw_n(cfg.chi_scale, rng, n)

    # ---- grids: recorded channels, and one fine grid wide enough for every spectrum's offset / resolution
    fwhm_max = _hi(cfg.resolution_fwhm) if cfg.resolution else 0.0
    off_max = float(np.max(np.abs(t["calibration_offset"])))
    e_lo, e_hi = max(onset_tab - cfg.e_before, 0.3 * onset_tab), onset_tab + cfg.e_after
    nchan = int(np.floor((e_hi - e_lo) / width)) + 1
    axis = e_lo + width * np.arange(nchan)
    per_chan = max(2, int(np.ceil(width / FINE_STEP - 1e-9)))  # fine bins per channel
    de = width / per_chan
    ext_lo = 5.0 * fwhm_max + 5.0
    ext_hi = (cfg.lowloss_range[1] if cfg.plural_scattering else 0.0) + 5.0 * fwhm_max + 5.0
    g_lo = e_lo - width - off_max
    f_lo = max(g_lo - ext_hi - 100.0, 0.15 * e_lo, 1.0)
    below = int(np.ceil((axis[0] - width / 2 - f_lo) / de))  # fine bins below the first channel
    f_lo = axis[0] - width / 2 - below * de  # channel edges on fine-bin edges
    taper_hi = min(f_lo + 100.0, f_lo + 0.8 * max(g_lo - f_lo, 0.0))
    f_hi = e_hi + width + off_max + ext_lo
    nfine = _fast_len(max(int(np.ceil((f_hi - f_lo) / de)), below + per_chan * nchan))
    fe = f_lo + de * (np.arange(nfine) + 0.5)
    beam, coll = float(cfg.beam_energy_kev), float(cfg.collection_mrad)
    solid = bool(cfg.solid_state)

    # ---- edge terms
    edges: list[_Edge] = []
    main_strength = edge_strength(element, shell, beam, coll)
    ones = np.ones(n)
    fs = cfg.fine_structure and chi is not None

    def l_terms(el, e3, e2, e1, weight, shifted, prefix, w2, w1, with_chi):
        p3, _, l1 = l_shell_shape(el, fe, e3, e2, e1, 0.0, beam, coll)
        _, half2, _ = l_shell_shape(el, fe, e3, e2, None, 1.0, beam, coll)
        sol = None
        if solid and white_line_family(el, "L3"):
            sol = (_draw_n(cfg.continuum_decay, rng, n), _draw_n(cfg.hydrogenic_mix, rng, n))
        out = [_Edge(f"{prefix}L3", e3, p3, weight / (1.0 + w2), shifted, e3 if with_chi else None, sol),
               _Edge(f"{prefix}L2", e2, 2.0 * half2, weight * w2 / (1.0 + w2), shifted, e2 if with_chi else None,
                     sol)]
        if l1 is not None:
            out.append(_Edge(f"{prefix}L1", e1, l1, weight * w1, shifted, e1 if with_chi else None))
        return out

    partner = None
    if shell in ("L3", "L2", "L23"):
        e2 = edge_entry(element, "L2").energy
        w2 = _draw_n(cfg.l2_weight, rng, n)
        w1 = _draw_n(cfg.l1_weight, rng, n)
        try:
            e1 = edge_entry(element, "L1").energy
        except InputError:
            e1 = None
        if not np.any(w1 > 0):
            e1 = None
        t.update(l2_weight=w2, l1_weight=w1 if e1 is not None else np.zeros(n))
        edges += l_terms(element, onset_tab, e2, e1, ones, True, "", w2, w1, fs)
        partner = ("L2", e2)
    else:
        base = edge_shape(element, shell, fe, onset_tab, beam, coll)
        sol = None
        if solid and white_line_family(element, shell):
            sol = (_draw_n(cfg.continuum_decay, rng, n), _draw_n(cfg.hydrogenic_mix, rng, n))
        edges.append(_Edge(shell, onset_tab, base, ones, True, onset_tab if fs else None, sol))
        if shell in ("M5", "M3", "N5"):
            nxt = {"M5": "M4", "M3": "M2", "N5": "N4"}[shell]
            try:
                partner = (nxt, edge_entry(element, nxt).energy)
            except InputError:
                partner = None
            if partner is not None:
                edges.append(_Edge(nxt, partner[1], edge_shape(element, nxt, fe, partner[1], beam, coll),
                                   0.67 * ones, True, None, sol))

    # white lines and near-edge peaks: (edge name, L3/M5 onset, partner onset or None, weight, shifted)
    lined = []
    white = cfg.white_lines if cfg.white_lines is not None else (
        entry.threshold == "Sharp peak" or (solid and white_line_family(element, shell)))
    if white:
        lined.append(("", onset_tab, partner[1] if partner else None, ones, True, shell[0] in "MN"))
    near = [(cfg.edge, element, shell, onset_tab, ones, True)] if cfg.near_edge else []

    others, other_w = [], []
    for el, ent in other_edge_families(cfg.other_elements, element, cfg.edge, f_lo, f_hi):
        atoms = _draw_n(cfg.other_edge_weight, rng, n)
        step = atoms * edge_strength(el, ent.edge, beam, coll) / main_strength
        others.append(ent.name)
        other_w.append(atoms)
        if ent.edge[0] == "L":
            e3o, e2o, e1o = l_energies(el, ent.energy)
            w1o = _draw_n(cfg.l1_weight, rng, n) if solid else ones
            terms = l_terms(el, e3o, e2o, e1o, step, False, f"{el}_", 0.5 * ones, w1o, False)
            # today's model: the L shell of another element carries the statistical 1 : 2 L2 : L3 split
            edges += terms
            if solid and white_line_family(el, "L3"):
                lined.append((f"{el}_", e3o, e2o, step, False, False))
            onset_o = e3o
            sh_o = "L3"
        else:
            edges.append(_Edge(ent.name, ent.energy, edge_shape(el, ent.edge, fe, ent.energy, beam, coll),
                               step, False))
            onset_o, sh_o = ent.energy, ent.edge
            if ent.edge in ("M5", "M4"):
                try:
                    e4 = edge_entry(el, "M4").energy
                    m4 = edge_shape(el, "M4", fe, e4, beam, coll)
                except InputError:
                    e4 = None
                sol = None
                if solid and white_line_family(el, "M5"):
                    sol = (_draw_n(cfg.continuum_decay, rng, n), _draw_n(cfg.hydrogenic_mix, rng, n))
                    edges[-1].solid = sol
                    lined.append((f"{el}_", ent.energy, e4, step, False, True))
                if e4 is not None:
                    edges.append(_Edge(f"{el}_M4", e4, m4, 0.67 * step, False, None, sol))
        if solid and cfg.near_edge:
            near.append((ent.name, el, sh_o, onset_o, step, False))
    if others:
        t["other_weight"] = np.stack(other_w, axis=1)
    t["other_edges"] = others

    wl = []
    for prefix, e_a, e_b, weight, shifted, is_m in lined:
        h = _draw_n(cfg.m_white_line_height if is_m else cfg.white_line_height, rng, n)
        g = _draw_n(cfg.white_line_width, rng, n)
        r = _draw_n(cfg.white_line_ratio, rng, n)
        t[f"{prefix}white_line_height"], t[f"{prefix}white_line_width"] = h, g
        t[f"{prefix}white_line_ratio"] = r
        pos = [e_a + 0.5 * g] + ([e_b + 0.5 * g] if e_b is not None else [])
        hts = [h * weight] + ([h * weight / r] if e_b is not None else [])
        if solid and not is_m:  # crystal-field split L3 / L2 lines (t2g / eg): a second line `split` eV up
            split = _draw_n(cfg.white_line_split, rng, n)
            share = rng.uniform(0.2, 0.8, n)  # of each line's intensity in its upper component
            t[f"{prefix}white_line_split"], t[f"{prefix}white_line_share"] = split, share
            pos = pos + [p + split for p in pos]
            hts = [x * (1.0 - share) for x in hts] + [x * share for x in hts]
        # legacy white lines (the absorber's 'Sharp peak' edges) are plain Lorentzians over the whole grid
        wl.append((np.stack(pos, 1), np.stack([g] * len(pos), 1), np.stack(hts, 1), shifted,
                   not (solid and prefix)))
    ne = []
    for name, el, sh, e_on, weight, shifted in near:
        pos, fw, h = elnes_peaks(rng, n, int(cfg.near_edge_peaks), float(cfg.near_edge_range),
                                 _pair(cfg.near_edge_width), _pair(cfg.near_edge_height))
        pos = pos + e_on
        t[f"near_edge_{name}" if name != cfg.edge else "near_edge"] = np.stack([pos, fw, h], axis=2)
        ne.append((pos, fw, h * weight[:, None], shifted, False))
        if has_pre_peak(el, sh):
            pp = e_on + _draw_n(cfg.pre_peak_position, rng, n)
            pw = _draw_n(cfg.pre_peak_width, rng, n)
            ph = _draw_n(cfg.pre_peak_height, rng, n)
            t[f"pre_peak_{name}" if name != cfg.edge else "pre_peak"] = np.stack([pp, pw, ph], axis=1)
            ne.append((pp[:, None], pw[:, None], (ph * weight)[:, None], shifted, True))

    tilt = None
    if solid:
        tilt = t["continuum_tilt"] = _draw_n(cfg.continuum_tilt, rng, n)
    if cfg.background:
        t["background_r"] = _draw_n(cfg.background_r, rng, n)
        t["background_ratio"] = _draw_n(cfg.background_ratio, rng, n)
    t["counts_per_ev"] = _draw_n(cfg.counts, rng, n, log=True)
    jumps = None
    if cfg.gain_steps and cfg.gain_segments > 1:
        jumps = np.stack([_draw_n(cfg.gain_jump, rng, n) for _ in range(cfg.gain_segments - 1)], axis=1)
        t["gain_jumps"] = jumps

    # ---- evaluation, chunk by chunk
    chi_t = None
    if fs:
        k1, k2 = cfg.chi_taper_k
        ramp = np.clip((k - k1) / max(k2 - k1, 1e-6), 0.0, 1.0)
        taper_k = (np.sin(0.5 * np.pi * ramp) ** 2).astype(np.float32)
        chi_t = np.zeros((n, k.size + 2), np.float32)  # two zero columns: chi = 0 beyond the k grid
        chi_t[:, : k.size] = chi * taper_k * t["chi_scale"][:, None].astype(np.float32)
    fe32 = fe.astype(np.float32)
    taper = np.ones(nfine, np.float32)
    if taper_hi > f_lo:
        taper = (np.sin(0.5 * np.pi * np.clip((fe - f_lo) / (taper_hi - f_lo), 0.0, 1.0)) ** 2).astype(np.float32)
    n_taper = int(np.searchsorted(fe, taper_hi)) if taper_hi > f_lo else 0
    if cfg.background:
        ref_sel = (fe > onset_tab - 15) & (fe < onset_tab - 5)
    # power laws on the fine grid: exp(scale x lg + offset), lg a log of energy relative to the absorber onset
    lfe_rel = np.log(fe / onset_tab)
    tilt_lg = np.maximum(lfe_rel, 0.0).astype(np.float32)
    for ed in edges:  # the solid-state continuum: full step x (E / (onset + 50))^-decay, per edge
        ed.shape32 = ed.shape.astype(np.float32)
        if ed.solid is not None:
            ref50 = float(np.interp(ed.onset + 50.0, fe, ed.shape)) or 1.0
            ed.step = (ref50 * (0.5 + np.arctan((fe - ed.onset) / SOLID_WIDTH_EV) / np.pi)).astype(np.float32)
            ed.lg = (np.maximum(fe, ed.onset) / (ed.onset + 50.0)).astype(np.float32)
            ed.lg = np.log(ed.lg, out=ed.lg)
    lfe_rel = lfe_rel.astype(np.float32)

    convolve = cfg.plural_scattering or cfg.resolution or cfg.calibration
    counts = np.empty((n, nchan), np.float32)
    shift_all = t["edge_shift"]
    chunk_seeds = rng.integers(0, 2**63 - 1, size=(n + CHUNK - 1) // CHUNK)
    chi_cache: dict = {}

    # edges whose weight and position are the same for every spectrum: one smooth sum and one sparse matrix
    # (chi on the k grid -> weighted chi on the fine grid), made once per batch
    batch_const = bool(np.all(shift_all == shift_all[0]))
    static = [ed for ed in edges if ed.solid is None and np.all(ed.weight == ed.weight[0])
              and not (ed.shifted and not (batch_const and shift_all[0] == 0.0))]
    dynamic = [ed for ed in edges if not any(ed is x for x in static)]
    static_smooth = np.zeros(nfine, np.float32)
    chi_matrix = None
    rows_, cols_, vals_ = [], [], []
    for ed in static:
        static_smooth += np.float32(ed.weight[0]) * ed.shape.astype(np.float32)
        if fs and ed.chi_edge is not None:
            kk = np.sqrt(np.clip(fe - ed.chi_edge, 0.0, None) / KTOE) / (k[1] - k[0])
            j, f, inside = _lerp_index(kk[None, :], chi_t.shape[1])
            val = ed.weight[0] * ed.shape
            cols = np.nonzero(inside[0] & (val != 0))[0]
            for off, wgt in ((0, 1.0 - f[0, cols]), (1, f[0, cols])):
                rows_.append(cols)
                cols_.append(j[0, cols] + off)
                vals_.append(val[cols] * wgt)
    if rows_:
        import scipy.sparse

        chi_matrix = scipy.sparse.csr_matrix(
            (np.concatenate(vals_).astype(np.float32), (np.concatenate(rows_), np.concatenate(cols_))),
            shape=(nfine, chi_t.shape[1]))

    def run_chunk(a):
        noise_rng = np.random.default_rng(int(chunk_seeds[a // CHUNK]))
        sl = slice(a, min(a + CHUNK, n))
        m = sl.stop - sl.start
        shift = shift_all[sl]
        const_shift = bool(np.all(shift == shift[0]))
        sh_col = (np.full((1, 1), shift[0]) if const_shift else shift[:, None]) / de  # fine bins
        ssd = np.repeat(static_smooth[None, :], m, axis=0)
        fine = chi_rows = None
        if fs:
            fine = np.zeros((m, nfine), np.float32)
            chi_rows = np.ascontiguousarray(chi_t[sl].T)  # (K, m): sparse interpolation matrices act on it
            if chi_matrix is not None:
                _add_product(fine, chi_matrix @ chi_rows)
        for ed in dynamic:
            shape = ed.shape32
            w = ed.weight[sl, None].astype(np.float32)
            if ed.solid is not None:  # flat continuum step, partly hydrogenic; the weight folded in
                mix = ed.solid[1][sl, None].astype(np.float32)
                shape = _power(-ed.solid[0][sl], ed.lg)
                shape *= ed.step
                shape *= w * (1.0 - mix)
                shape += (w * mix) * ed.shape32
                w = None
            if ed.shifted and not (const_shift and shift[0] == 0.0):
                pos = np.arange(nfine)[None, :] - sh_col
                shape = _lerp_rows(np.broadcast_to(shape, (m, nfine)) if shape.ndim == 1 else shape, pos)
            term = shape if w is None else w * shape
            ssd += term
            if fs and ed.chi_edge is not None:  # only the columns where chi(k) is nonzero
                s_lo = float(shift.min()) if ed.shifted else 0.0
                s_hi = float(shift.max()) if ed.shifted else 0.0
                c0, c1 = np.searchsorted(fe, [ed.chi_edge + s_lo + KTOE * max(cfg.chi_taper_k[0], 0.0) ** 2,
                                              ed.chi_edge + s_hi + KTOE * k[-1] ** 2 + 1.0])
                key = (id(ed), c0, c1)
                if not (ed.shifted and not batch_const) and key in chi_cache:
                    idx = chi_cache[key]
                else:
                    kk = np.sqrt(np.clip(fe[None, c0:c1] - ed.chi_edge - (sh_col * de if ed.shifted else 0.0),
                                         0.0, None) / KTOE)
                    idx = _lerp_index(kk / (k[1] - k[0]), chi_t.shape[1])
                    if idx[0].shape[0] == 1:  # the same k positions for every row: a sparse matrix
                        idx = _lerp_matrix(idx, chi_t.shape[1])
                    if not (ed.shifted and not batch_const):
                        chi_cache[key] = idx
                if isinstance(idx, tuple):
                    fine[:, c0:c1] += term[:, c0:c1] * _lerp_apply(chi_t[sl], idx)
                else:
                    _add_product(fine[:, c0:c1], idx @ chi_rows, term[:, c0:c1])
        if tilt is not None:  # continuum tilt past the absorber onset, 1 below it
            fac = _power(tilt[sl], tilt_lg)
            ssd *= fac
            if fs:
                fine *= fac
        for pos, fw, h, shifted, legacy in wl:
            p = pos[sl] + (shift[:, None] if shifted else 0.0)
            if legacy:  # plain Lorentzians, out to 50 half widths (4e-4 of the peak)
                for j in range(p.shape[1]):
                    reach = 25.0 * float(np.max(fw[sl, j]))
                    c0, c1 = np.searchsorted(fe, [float(p[:, j].min()) - reach, float(p[:, j].max()) + reach])
                    inv = (2.0 / fw[sl, j:j + 1]).astype(np.float32)
                    x = (fe32[None, c0:c1] - p[:, j:j + 1].astype(np.float32)) * inv
                    ssd[:, c0:c1] += h[sl, j:j + 1].astype(np.float32) / (1.0 + x * x)
            else:
                _add_local(ssd, fe, p, fw[sl], h[sl], lorentzians, 60.0)
        for pos, fw, h, shifted, is_lor in ne:
            p = pos[sl] + (shift[:, None] if shifted else 0.0)
            _add_local(ssd, fe, p, fw[sl], h[sl], lorentzians if is_lor else gaussians,
                       60.0 if is_lor else 3.0 * float(np.max(fw[sl])))
        if cfg.background:
            r = t["background_r"][sl]  # ratio x (E / onset)^-r, the onset of each spectrum
            ssd += _power(-r, lfe_rel, np.log(t["background_ratio"][sl]) + r * np.log(t["onset_ev"][sl] / onset_tab))
        ssd[:, :n_taper] *= taper[:n_taper]
        if cfg.background:
            ref = ssd[:, ref_sel].mean(axis=1) if np.any(ref_sel) else np.zeros(m)
        else:
            lo_i, hi_i = np.searchsorted(fe, [onset_tab + shift.min() + 45, onset_tab + shift.max() + 55])
            blk = fe[lo_i:hi_i][None, :] - t["onset_ev"][sl, None]
            sel = (blk > 45) & (blk < 55)
            ref = (ssd[:, lo_i:hi_i] * sel).sum(1) / np.maximum(sel.sum(1), 1)
        if fs:  # the counts scale comes from the smooth model: chi does not change the normalisation
            ssd += fine
        if convolve:  # plural scattering, resolution and the calibration offset (a phase) in one pass
            rec = _convolve_lowloss(ssd, de, t["t_lambda"][sl], t["plasmon_energy"][sl], t["plasmon_width"][sl],
                                    t["resolution_fwhm"][sl], beam, coll, t["calibration_offset"][sl])
        else:
            rec = ssd
        np.clip(rec, 0.0, None, out=rec)
        ref = np.where(ref > 0, ref, np.maximum(rec.max(axis=1), 1e-30))
        scale = t["counts_per_ev"][sl] / ref * de
        stop = below + per_chan * nchan
        binned = rec[:, below:stop:per_chan].copy()
        for i in range(1, per_chan):
            binned += rec[:, below + i:stop:per_chan]
        expected = np.clip(binned * scale[:, None].astype(np.float32), 0.0, None)
        if cfg.noise:
            expected = _noise(expected, noise_rng)
        if jumps is not None:
            bounds = np.linspace(0, nchan, cfg.gain_segments + 1).round().astype(int)[1:-1]
            seg = np.searchsorted(bounds, np.arange(nchan), side="right")
            gains = np.cumprod(np.concatenate([np.ones((m, 1)), 1.0 + jumps[sl]], axis=1), axis=1)
            expected = expected * gains[:, seg].astype(np.float32)
        counts[sl] = expected

    starts = range(0, n, CHUNK)
    if n > CHUNK:  # numpy and scipy.fft release the GIL: two chunks at a time keep both cores busy
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            list(pool.map(run_chunk, starts))
    else:
        for a in starts:
            run_chunk(a)
    t["channel_width"] = np.full(n, width)
    return axis, counts, t


def _power(scale, lg, offset=None):
    """exp(scale (m,) x lg (N,) + offset (m,)) as float32 (m, N), evaluated in place."""
    out = np.multiply(np.asarray(scale, np.float32)[:, None], lg[None, :])
    if offset is not None:
        out += np.asarray(offset, np.float32)[:, None]
    return np.exp(out, out=out)


def _add_local(out, fe, pos, fwhm, height, profile, reach):
    """out[:, cols] += profile(fe[cols], pos, fwhm, height) on the columns within `reach` eV of the peaks."""
    lo, hi = np.searchsorted(fe, [float(np.min(pos)) - reach, float(np.max(pos)) + reach])
    if hi > lo:
        out[:, lo:hi] += profile(fe[lo:hi], pos, fwhm, height)


def _convolve_lowloss(ssd, de, t_lambda, ep, gp, fwhm, beam_energy_kev, collection_mrad, offset):
    """Each row of ssd (m, N) convolved with its low-loss distribution (zero loss + Poisson plasmon series,
    Gaussian resolution of FWHM fwhm), as :func:`exelfs.simulate.eels.lowloss_kernel` builds it, and moved
    up by `offset` eV (the calibration offset: recorded = true energy + offset) as a Fourier phase."""
    m, nf = ssd.shape
    # the plasmon distribution is smooth (widths >= ~1 eV): sampled at 2 de over the same span its transform
    # is the same up to half the Nyquist frequency, and negligible beyond
    e_ang, e2, freq, freq2 = _lowloss_grids(nf, float(de), float(beam_energy_kev), float(collection_mrad))
    ep2 = (ep**2)[:, None].astype(np.float32)
    g2 = (gp**2)[:, None].astype(np.float32)
    den = np.subtract(e2, ep2)  # (E^2 - Ep^2)^2 + E^2 g^2
    np.square(den, out=den)
    den += e2 * g2
    single = np.multiply((gp[:, None] * ep2).astype(np.float32), e_ang)
    single /= den
    s_f = scipy.fft.rfft(single, n=nf // 2, axis=1)  # the transform up to half the Nyquist frequency
    tl = t_lambda[:, None].astype(np.float32)
    s_f *= tl / s_f[:, :1].real
    sig = (fwhm / 2.3548).astype(np.float32)
    # exp(t/lambda (S/S(0) - 1)) x the Gaussian of the resolution x the offset phase: exp(re + i im), S = 0
    # beyond half the Nyquist frequency; from float32 exp, cos, sin (vectorised; complex exp is not)
    q = s_f.shape[1]
    re = np.multiply((np.float32(-2.0 * np.pi**2) * sig * sig)[:, None], freq2)
    re -= tl
    re[:, :q] += s_f.real
    im = np.multiply((np.float32(-2.0 * np.pi) * offset.astype(np.float32))[:, None], freq)
    im[:, :q] += s_f.imag
    np.exp(re, out=re)
    fac = np.empty(re.shape, np.complex64)
    np.multiply(re, np.cos(im), out=fac.real)
    np.multiply(re, np.sin(im, out=im), out=fac.imag)
    spec = scipy.fft.rfft(ssd, axis=1)
    spec *= fac
    return scipy.fft.irfft(spec, n=nf, axis=1)


@lru_cache(maxsize=16)
def _lowloss_grids(nf, de, beam_energy_kev, collection_mrad):
    """float32 grids of the low-loss kernel for an N = nf fine grid of step de: E x angular factor and E^2 on
    the positive energies of the wrapped 2 de grid (N / 4 points, index 0: zero loss), the frequencies of the
    N-point real transform (1/eV) and their squares."""
    e = 2.0 * de * np.arange(nf // 4)
    theta_e = e / (2.0 * beam_energy_kev * 1e3) * 1e3  # characteristic angle, mrad
    with np.errstate(divide="ignore"):
        angular = np.where(e > 0, np.log1p((collection_mrad / np.maximum(theta_e, 1e-12)) ** 2), 0.0)
    freq = scipy.fft.rfftfreq(nf, de)
    out = tuple(a.astype(np.float32) for a in (e * angular, e * e, freq, freq * freq))
    for arr in out:
        arr.flags.writeable = False
    return out


def _noise(expected, rng):
    """Counts drawn around `expected` (float32): exact Poisson below POISSON_BELOW, rounded normal above."""
    out = _normals(rng, expected.shape)
    out *= np.sqrt(expected)
    out += expected
    np.rint(out, out=out)
    small = expected < POISSON_BELOW
    if np.any(small):
        out[small] = rng.poisson(expected[small])
    return np.clip(out, 0.0, None, out=out)


def _normals(rng, shape) -> np.ndarray:
    """Standard normal float32 numbers by Box-Muller from float32 uniforms (twice as fast as numpy's
    ziggurat; the tails end at 5.8 sigma, the resolution of the uniforms)."""
    size = int(np.prod(shape))
    h = (size + 1) // 2
    u = rng.random(2 * h, dtype=np.float32)
    r, a = u[:h], u[h:]
    np.subtract(np.float32(1.0), r, out=r)  # (0, 1]
    np.log(r, out=r)
    r *= np.float32(-2.0)
    np.sqrt(r, out=r)
    a *= np.float32(2.0 * np.pi)
    z = np.empty(2 * h, np.float32)
    np.cos(a, out=z[:h])
    np.sin(a, out=z[h:])
    z[:h] *= r
    z[h:] *= r
    return z[:size].reshape(shape)
