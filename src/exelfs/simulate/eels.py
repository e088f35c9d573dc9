"""EELS forward model: from chi(k) to a recorded core-loss spectrum (and its low-loss spectrum).

The chain, on a fine internal energy grid (true energy loss, eV):

    single scattering  S(E) = A E^-r                                   power-law pre-edge background
                            + sum_edges  sigma_edge(E) (1 + chi(k_edge(E)))   atomic edge x fine structure
                            + white lines (Lorentzians at L3/L2 or M5/M4)     for 'Sharp peak' edges
                            + other edges of the sample in the window
    plural scattering  J(E) = S (*) LL(E),  LL = R (*) sum_n P_n(t/lambda) S_pl^{*n}   (Poisson weights)
    detector           channel integration (channel width), calibration offset, Poisson noise, gain steps

Atomic cross-sections: exspy's hydrogenic GOS (K and L shells; offline), cached per edge, beam energy and
collection angle. Other shells (M, N) get an arctan step with a power-law decay. Every artefact has a switch
and a range in :class:`EELSConfig`; a range (lo, hi) is drawn uniformly per spectrum (log-uniformly for
counts), a number is used as is. The drawn values are stored in ``metadata['true']``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import numpy as np

from ..edges.tables import all_edges, edge_entry, parse_edge
from ..errors import InputError
from ..quiet import quiet
from ..spectrum import Spectrum
from ..units import KTOE
from .nearedge import elnes_peaks, gaussians, has_pre_peak, lorentzians

Range = float | tuple  # a fixed value or a (lo, hi) range drawn uniformly per spectrum


@dataclass
class EELSConfig:
    """Recipe of the EELS forward model. Energies eV, angles mrad; a tuple (lo, hi) is a drawn range."""

    edge: str = "Cu_L3"  # absorber edge carrying the fine structure (El_EDGE)
    e_before: float = 150.0  # window start below the onset, eV
    e_after: float = 700.0  # window end above the onset, eV
    beam_energy_kev: float = 200.0
    collection_mrad: float = 20.0
    convergence_mrad: float = 10.0
    channel_width: Range = 0.5  # eV (0.1-2 typical)
    # atomic edge shape and fine structure
    fine_structure: bool = True
    chi_scale: Range = 1.0  # multiplies chi (amplitude realism checks)
    chi_taper_k: tuple = (0.5, 1.5)  # chi rises smoothly from 0 to full between these k (1/A)
    edge_shift: Range = 0.0  # chemical shift of the onset, eV
    l2_weight: Range = 0.5  # L2 : L3 edge step (statistical 1:2)
    l1_weight: Range = 1.0  # L1 edge (step and fine structure) / exspy's hydrogenic L1 term (0 = no L1)
    white_lines: bool | None = None  # None: where the edge table says 'Sharp peak'
    white_line_height: Range = (1.0, 4.0)  # L3 white-line peak / L3 edge step
    m_white_line_height: Range = (8.0, 25.0)  # M5 (N5) white-line peak / M5 edge step: white lines dominate
    white_line_width: Range = (1.0, 3.0)  # Lorentzian FWHM, eV
    white_line_ratio: Range = (1.8, 2.6)  # L3 : L2 (M5 : M4) white-line intensity
    # solid-state edges (exelfs.simulate.batch.eels_batch only): white lines on 3d/4d L2,3 and lanthanide M4,5
    # of absorber and other elements, their continuum a flat step instead of the hydrogenic hump, l1_weight on
    # every L shell, near-edge peaks on every edge; off by default (today's spectra), on in training_config()
    solid_state: bool = False
    continuum_decay: Range = (0.5, 2.5)  # solid-state continuum ~ (E / (onset + 50))^-decay past the step
    hydrogenic_mix: Range = (0.0, 0.3)  # fraction of the hydrogenic shape kept in the solid-state continuum
    continuum_tilt: Range = (-1.5, 2.0)  # solid state: edges x (E / absorber onset)^tilt past the onset
    white_line_split: Range = 0.0  # solid state: L3 / L2 white lines split in two this far apart, eV
    # near-edge structure as a nuisance (exelfs.simulate.nearedge): off by default (today's spectra unchanged)
    near_edge: bool = False
    near_edge_range: float = 40.0  # eV above the onset holding the random ELNES peaks
    near_edge_peaks: int = 6  # Gaussian peaks drawn per edge
    near_edge_height: tuple = (0.0, 1.0)  # peak height / edge step
    near_edge_width: tuple = (1.0, 4.0)  # FWHM at the onset, eV (x3 at near_edge_range)
    pre_peak_height: tuple = (0.0, 4.0)  # B, C, N, O K pre-peak (Lorentzian) height / edge step
    pre_peak_width: tuple = (0.4, 1.5)  # FWHM, eV
    pre_peak_position: tuple = (-2.0, 2.0)  # eV from the onset
    other_elements: tuple = ()  # elements whose edges in the window are added (e.g. ('O',))
    # atoms of each other element per absorber atom; its edge steps follow from the hydrogenic
    # cross-sections per atom (edge_strength), e.g. O K next to Mg K: 1 O per Mg gives an O step ~8 Mg steps
    other_edge_weight: Range = (0.5, 2.0)
    # background
    background: bool = True
    background_r: Range = (2.0, 5.0)  # power-law exponent
    background_ratio: Range = (0.3, 5.0)  # background just below onset / edge step (1/(jump ratio-1))
    # plural scattering and resolution
    plural_scattering: bool = True
    t_lambda: Range = (0.0, 1.2)  # thickness / inelastic mean free path
    plasmon_energy: Range = (10.0, 30.0)  # eV
    plasmon_width: Range = (3.0, 10.0)  # Drude damping (FWHM of the loss function), eV
    resolution: bool = True
    resolution_fwhm: Range = (0.3, 2.0)  # Gaussian zero-loss FWHM, eV
    # detector
    noise: bool = True
    counts: Range = (1e3, 1e6)  # expected counts per eV just below the onset (drawn log-uniformly);
    # without a background: counts per eV of the edge 50 eV above the onset
    calibration: bool = True
    calibration_offset: Range = (-3.0, 3.0)  # recorded axis = true energy + offset, eV
    gain_steps: bool = False
    gain_segments: int = 4  # detector segments across the window (serial PEELS)
    gain_jump: Range = (-0.05, 0.05)  # fractional jump at each segment boundary
    lowloss: bool = True  # also return the matching low-loss spectrum
    lowloss_range: tuple = (-20.0, 200.0)  # eV

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "EELSConfig":
        known = set(cls.__dataclass_fields__)
        bad = set(d) - known
        if bad:
            raise InputError(f"unknown EELS config key(s) {sorted(bad)}; known: {sorted(known)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


def draw(value, rng, log: bool = False) -> float:
    """A number, or a value drawn uniformly (log-uniformly) from a (lo, hi) range."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InputError(f"a range must be (lo, hi), got {value}")
        lo, hi = float(value[0]), float(value[1])
        if log:
            return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        return float(rng.uniform(lo, hi))
    return float(value)


# ----------------------------------------------------------------------------------------------------
# atomic cross-sections


@lru_cache(maxsize=64)
def _hydrogenic_table(subshell: str, beam_energy_kev: float, collection_mrad: float):
    """exspy's hydrogenic cross-section of a K or L shell on a 0.25 eV grid above the onset (cached).

    Returns (energy above the onset eV, sigma, sigma_2p, l1_rel) or None where exspy has no hydrogenic GOS
    (M, N shells, elements missing from exspy). sigma is per atom in exspy's absolute units (the same for
    every edge, so that edges of different elements compare). exspy's hydrogenic L cross-section is the
    whole L shell starting at the L3 onset and switching on the 2s (L1) term at its L1 onset ``l1_rel`` eV
    above; ``sigma_2p`` is the same GOS with the L1 term switched off (the L2,3 part alone), so that
    sigma - sigma_2p is the L1 part. For K: sigma_2p = sigma, l1_rel = None.
    """
    element, shell = subshell.split("_")
    if shell[0] not in "KL":
        return None
    name = f"{element}_{'K' if shell == 'K' else 'L3'}"
    try:
        with quiet():
            from exspy.components import EELSCLEdge

            comp = EELSCLEdge(name, GOS="hydrogenic")
            comp.set_microscope_parameters(E0=beam_energy_kev, alpha=0.0, beta=collection_mrad,
                                           energy_scale=0.25)
            onset = comp.onset_energy.value
            energy = onset + 0.25 * np.arange(int(3000 / 0.25))
            sigma = np.asarray(comp.function(energy), float)
            l1_rel = None
            sigma_2p = sigma
            if shell[0] == "L":
                gos = comp.GOS
                l1_rel = float(gos.onset_energy_L1 - gos.onset_energy_L3)
                gos.onset_energy_L1 = 1e9  # the 2p (L2,3) GOS everywhere: no L1 term
                comp._integrate_GOS()
                sigma_2p = np.asarray(comp.function(energy), float)
    except Exception:  # exspy has no data for this element: fall back to the step model
        return None
    sigma = np.nan_to_num(sigma)
    sigma_2p = np.nan_to_num(sigma_2p)
    if not np.any(sigma > 0):
        return None
    return energy - onset, sigma, np.minimum(sigma_2p, sigma), l1_rel


def _table_interp(rel, sigma, x, onset):
    """sigma at x eV above `onset` (eV): linear inside the table, 0 below, power law in E beyond it."""
    out = np.interp(x, rel, sigma, left=0.0, right=0.0)
    tail = x > rel[-1]
    if np.any(tail) and sigma[-1] > 0 and sigma[-20] > 0:
        e1, e2 = onset + rel[-20], onset + rel[-1]
        r = np.log(sigma[-20] / sigma[-1]) / np.log(e2 / e1)
        out[tail] = sigma[-1] * ((onset + x[tail]) / e2) ** -r
    return out


def _step_shape(energy, onset):
    """Step model of an edge without a hydrogenic GOS: arctan (1.5 eV wide) times a power-law decay, 1 at
    onset + 50 eV."""
    step = 0.5 + np.arctan((energy - onset) / 1.5) / np.pi
    return step * (np.maximum(energy, onset) / (onset + 50.0)) ** -3.0


def edge_shape(element: str, shell: str, energy, onset: float, beam_energy_kev: float,
               collection_mrad: float) -> np.ndarray:
    """Atomic cross-section of one edge on `energy` (eV), normalised to 1 at onset + 50 eV (edge step).

    Hydrogenic (exspy) for K shells and for the L2,3 (2p) part of L shells (no L1 term: see
    :func:`l_shell_shape`); an arctan step (1.5 eV wide) times (E/onset)^-3 otherwise."""
    energy = np.asarray(energy, float)
    tab = _hydrogenic_table(f"{element}_{shell}", float(beam_energy_kev), float(collection_mrad))
    if tab is not None:
        rel, _, sigma_2p, _ = tab
        ref = float(np.interp(50.0, rel, sigma_2p))
        return _table_interp(rel, sigma_2p / ref, energy - onset, onset)
    return _step_shape(energy, onset)


# L1 step / L2,3 step of the hydrogenic GOS (each at its own onset + 50 eV), typical value for the step model
L1_STEP_FALLBACK = 0.1


def other_edge_families(elements, absorber: str, edge: str, e_lo: float, e_hi: float):
    """(element, first edge entry) of each major edge family (K, the L shell, the M shell) of the other
    ``elements`` with an edge between e_lo and e_hi (eV), rising in energy; the absorber and ``edge`` left out.
    The L shell (L3+L2+L1) and M4,5 are modelled once, from their first edge."""
    for el in elements:
        done = set()
        for ent in all_edges(e_lo, e_hi):
            if ent.element != el or ent.relevance != "Major" or ent.name == edge or el == absorber:
                continue
            family = ent.edge[0] if ent.edge[0] in "LM" else ent.edge
            if family not in done:
                done.add(family)
                yield el, ent


def l_energies(element: str, fallback: float) -> tuple:
    """(L3, L2, L1) onsets (eV) of ``element``: L3 falls back to ``fallback``, L2 to L3, L1 to None."""
    found = {}
    for sub in ("L3", "L2", "L1"):
        try:
            found[sub] = edge_entry(element, sub).energy
        except InputError:
            found[sub] = None
    e3 = found["L3"] if found["L3"] is not None else fallback
    return e3, found["L2"] if found["L2"] is not None else e3, found["L1"]


def l_shell_shape(element: str, energy, e3: float, e2: float, e1: float | None, l2_weight: float,
                  beam_energy_kev: float, collection_mrad: float):
    """The L shell as three edges, each with exactly one step: (l3, l2, l1) on `energy` (eV).

    The 2p cross-section P (exspy's hydrogenic L GOS with its L1 term switched off, normalised to 1 at
    50 eV above its onset) is shared: l3 = P(E - e3) / (1 + w), l2 = w P(E - e2) / (1 + w), w = l2_weight
    (L2 : L3 edge step, statistically 1 : 2). l1 is exspy's L1 term (the whole hydrogenic L GOS minus P)
    moved to onset e1, in the same units; None where e1 is None. Without a hydrogenic GOS, arctan steps
    (L1 step L1_STEP_FALLBACK)."""
    energy = np.asarray(energy, float)
    tab = _hydrogenic_table(f"{element}_L3", float(beam_energy_kev), float(collection_mrad))
    w = float(l2_weight)
    if tab is not None:
        rel, sigma, sigma_2p, l1_rel = tab
        ref = float(np.interp(50.0, rel, sigma_2p))
        l3 = _table_interp(rel, sigma_2p / ref, energy - e3, e3) / (1.0 + w)
        l2 = w * _table_interp(rel, sigma_2p / ref, energy - e2, e2) / (1.0 + w)
        l1 = None
        if e1 is not None:
            s1 = np.clip(sigma - sigma_2p, 0.0, None) / ref
            s1[rel < l1_rel] = 0.0
            l1 = _table_interp(rel, s1, energy - e1 + l1_rel, e1 - l1_rel)
            l1[energy < e1] = 0.0
        return l3, l2, l1
    l3 = _step_shape(energy, e3) / (1.0 + w)
    l2 = w * _step_shape(energy, e2) / (1.0 + w)
    l1 = None if e1 is None else L1_STEP_FALLBACK * _step_shape(energy, e1)
    return l3, l2, l1


def edge_strength(element: str, shell: str, beam_energy_kev: float = 200.0, collection_mrad: float = 20.0) -> float:
    """Cross-section per atom 50 eV above the onset of a shell (exspy's hydrogenic units, barn/eV scale).

    K: the K GOS; L2,3/L: the whole 2p shell; shells without a hydrogenic GOS (M, N, missing elements): the
    trend of the hydrogenic L shells, 71.6 (E/456 eV)^-2.45 (fitted on Ti..Sr L3 at 200 kV, 20 mrad),
    scaled to the beam energy and angle through Ti L3. Used to weigh the edges of different elements."""
    sub = "L3" if shell[0] == "L" else shell
    tab = _hydrogenic_table(f"{element}_{sub}", float(beam_energy_kev), float(collection_mrad))
    if tab is not None:
        rel, _, sigma_2p, _ = tab
        return float(np.interp(50.0, rel, sigma_2p))
    onset = edge_entry(element, shell).energy
    ti = _hydrogenic_table("Ti_L3", float(beam_energy_kev), float(collection_mrad))
    ti50 = float(np.interp(50.0, ti[0], ti[2])) if ti is not None else 71.6
    return ti50 * (onset / 456.0) ** -2.45


# ----------------------------------------------------------------------------------------------------
# low loss and plural scattering


def lowloss_kernel(de: float, n: int, t_lambda: float, plasmon_energy: float, plasmon_width: float,
                   resolution_fwhm: float | None, beam_energy_kev: float = 200.0,
                   collection_mrad: float = 20.0) -> np.ndarray:
    """Normalised low-loss distribution (unit area) on energies de*i, i = 0..n-1, wrapped (FFT order).

    Zero-loss peak (Gaussian of the resolution, or a delta) with weight exp(-t/lambda), plus the Poisson
    series of plasmon losses: in Fourier space exp(t/lambda (S - 1)), S the single-plasmon distribution
    (Drude loss function times the angular factor ln(1 + (beta/theta_E)^2), unit area). Hence
    ln(I_total / I_zlp) = t/lambda exactly.
    """
    e = de * np.fft.fftfreq(n, 1.0 / n)  # signed energies, wrapped
    pos = np.clip(e, 0.0, None)
    gamma = plasmon_width
    loss = pos * gamma * plasmon_energy**2 / ((pos**2 - plasmon_energy**2) ** 2 + (pos * gamma) ** 2)
    theta_e = pos / (2.0 * beam_energy_kev * 1e3) * 1e3  # characteristic angle, mrad (non-relativistic)
    with np.errstate(divide="ignore"):
        angular = np.where(pos > 0, np.log1p((collection_mrad / np.maximum(theta_e, 1e-12)) ** 2), 0.0)
    single = loss * angular
    single[e <= 0] = 0.0
    single /= single.sum()
    spec = np.exp(t_lambda * (np.fft.rfft(single) - 1.0))
    if resolution_fwhm:
        sig = resolution_fwhm / 2.3548
        f = np.fft.rfftfreq(n, de)
        spec = spec * np.exp(-2.0 * (np.pi * f * sig) ** 2)
    out = np.fft.irfft(spec, n)
    return out / out.sum()


def convolve_wrapped(signal: np.ndarray, kernel_wrapped: np.ndarray) -> np.ndarray:
    """Linear convolution of `signal` with a wrapped kernel of the same length (energy shifts >= 0 mostly)."""
    return np.fft.irfft(np.fft.rfft(signal) * np.fft.rfft(kernel_wrapped), signal.size)


def _fast_len(n: int) -> int:
    """An even FFT length >= n made of small primes (fast FFTs)."""
    from scipy.fft import next_fast_len

    m = next_fast_len(int(n), real=True)
    while m % 2:
        m = next_fast_len(m + 1, real=True)
    return m


def rebin_counts(fine_edges: np.ndarray, fine_counts: np.ndarray, new_edges: np.ndarray) -> np.ndarray:
    """Counts in the bins `new_edges` from counts in the bins `fine_edges` (eV), conserving counts.

    The cumulative count is interpolated linearly at the new edges (uniform density within a fine bin)."""
    cum = np.concatenate([[0.0], np.cumsum(fine_counts, axis=-1)])
    return np.diff(np.interp(new_edges, fine_edges, cum))


def gain_profile(n: int, segments: int, jumps) -> np.ndarray:
    """Multiplicative gain per channel: segment i+1 is (1 + jumps[i]) times segment i (serial PEELS)."""
    gain = np.ones(n)
    bounds = np.linspace(0, n, segments + 1).round().astype(int)[1:-1]
    for b, j in zip(bounds, jumps):
        gain[b:] *= 1.0 + j
    return gain


# ----------------------------------------------------------------------------------------------------
# the forward model


def _chi_on_energy(k, chi, energy, e_edge, taper):
    """chi(k) interpolated at k = sqrt((E - e_edge)/KTOE), tapered in on (taper k1, k2); 0 below e_edge."""
    if chi is None:
        return np.zeros_like(energy)
    kk = np.sqrt(np.clip(energy - e_edge, 0.0, None) / KTOE)
    out = np.interp(kk, k, chi, left=0.0, right=0.0)
    k1, k2 = taper
    ramp = np.clip((kk - k1) / max(k2 - k1, 1e-6), 0.0, 1.0)
    return out * np.sin(0.5 * np.pi * ramp) ** 2 * (energy > e_edge)


def _near_edge(cfg: EELSConfig, element: str, shell: str, fe, onset: float, rng, true: dict) -> np.ndarray:
    """Random ELNES peaks over the first near_edge_range eV (and a pre-peak on B, C, N, O K), in edge-step
    units on the fine grid `fe` (eV); the drawn peaks go to true['near_edge'] as [position eV, FWHM, height]."""
    pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (float(v), float(v))  # noqa: E731
    pos, fwhm, h = elnes_peaks(rng, 1, int(cfg.near_edge_peaks), float(cfg.near_edge_range),
                               pair(cfg.near_edge_width), pair(cfg.near_edge_height))
    pos = pos + onset
    out = gaussians(fe, pos, fwhm, h)[0].astype(float)
    true["near_edge"] = np.stack([pos[0], fwhm[0], h[0]], axis=1).tolist()
    if has_pre_peak(element, shell):
        pp = np.array([[onset + draw(cfg.pre_peak_position, rng)]])
        pw = np.array([[draw(cfg.pre_peak_width, rng)]])
        ph = np.array([[draw(cfg.pre_peak_height, rng)]])
        out += lorentzians(fe, pp, pw, ph)[0].astype(float)
        true["pre_peak"] = [float(pp[0, 0]), float(pw[0, 0]), float(ph[0, 0])]
    return out


def eels_spectrum(k=None, chi=None, config: EELSConfig | dict | None = None, seed=None, rng=None,
                  title: str = "synthetic EELS"):
    """A synthetic core-loss EELS spectrum with fine structure chi(k) on the absorber edge.

    k, chi: chi(k) of the absorber (1/angstrom); None for a bare atomic edge.
    config: :class:`EELSConfig` (or its dict); drawn values land in ``metadata['true']``.
    seed / rng: randomness (numpy Generator); the same seed gives the same spectrum.
    Returns a Spectrum (kind 'eels', counts per channel), or (core_loss, low_loss) when config.lowloss.
    With config.solid_state (e.g. :func:`exelfs.simulate.batch.training_config`) the spectrum is one of
    :func:`exelfs.simulate.batch.eels_batch` (solid-state edges, 0.25 eV float32 grid).
    """
    cfg = config if isinstance(config, EELSConfig) else EELSConfig.from_dict(config or {})
    rng = rng if rng is not None else np.random.default_rng(seed)
    element, shell = parse_edge(cfg.edge)
    entry = edge_entry(element, shell)
    onset_tab = entry.energy
    if onset_tab is None:
        raise InputError(f"no onset energy known for {cfg.edge}")
    if k is not None:
        k = np.asarray(k, float)
        chi = np.asarray(chi, float)
        if chi.shape != k.shape:
            raise InputError("chi must be a single chi(k) on the k grid given")
    if cfg.solid_state:  # solid-state edges are made by the batched model: one spectrum of a batch
        return _from_batch(k, chi, cfg, rng, title, element, shell)
    true: dict = {"edge": cfg.edge}
    shift = draw(cfg.edge_shift, rng)
    onset = onset_tab + shift
    true["onset_ev"] = onset
    width = draw(cfg.channel_width, rng)
    true["channel_width"] = width
    fwhm = draw(cfg.resolution_fwhm, rng) if cfg.resolution else 0.0
    true["resolution_fwhm"] = fwhm
    t_lambda = draw(cfg.t_lambda, rng) if cfg.plural_scattering else 0.0
    ep = draw(cfg.plasmon_energy, rng)
    gp = draw(cfg.plasmon_width, rng)
    true.update(t_lambda=t_lambda, plasmon_energy=ep, plasmon_width=gp)
    offset = draw(cfg.calibration_offset, rng) if cfg.calibration else 0.0
    true["calibration_offset"] = offset

    # recorded channels (axis labels) and the fine grid of true energies that feeds them
    e_lo, e_hi = max(onset_tab - cfg.e_before, 0.3 * onset_tab), onset_tab + cfg.e_after
    nchan = int(np.floor((e_hi - e_lo) / width)) + 1
    axis = e_lo + width * np.arange(nchan)
    de = min(0.1, width / 4.0, max(fwhm, 0.2) / 4.0)
    ext_lo = 5.0 * fwhm + 5.0  # energies below the window that feed it through the resolution tail
    ext_hi = (cfg.lowloss_range[1] if cfg.plural_scattering else 0.0) + 5.0 * fwhm + 5.0
    # plural scattering moves intensity upwards by up to ext_hi: start lower, and taper the single
    # scattering in smoothly (sin^2 over up to 100 eV) so that its cut-off, copied upwards by every plasmon
    # order, makes no false step in the window
    g_lo = e_lo - width - abs(offset)  # lowest true energy recorded
    f_lo = max(g_lo - ext_hi - 100.0, 0.15 * e_lo, 1.0)  # never down to zero loss (power law diverges)
    taper_hi = min(f_lo + 100.0, f_lo + 0.8 * max(g_lo - f_lo, 0.0))
    f_hi = e_hi + width + abs(offset) + ext_lo
    nfine = _fast_len(int(np.ceil((f_hi - f_lo) / de)))
    fe = f_lo + de * (np.arange(nfine) + 0.5)  # fine-bin centres (true energy)

    # single-scattering distribution, per eV
    sigma_main = np.zeros(nfine)
    chi_scale = draw(cfg.chi_scale, rng)
    true["chi_scale"] = chi_scale
    fs = cfg.fine_structure and chi is not None
    kk, cc = (k, chi * chi_scale) if fs else (None, None)
    if shell in ("L3", "L2", "L23"):
        # one L3, one L2 and one L1 step (exspy's L GOS already holds the L1 term: it is split off once)
        e3 = onset
        e2 = edge_entry(element, "L2").energy + shift
        w2 = draw(cfg.l2_weight, rng)
        w1 = draw(cfg.l1_weight, rng)
        try:
            e1 = edge_entry(element, "L1").energy + shift
        except InputError:
            e1 = None
        if w1 <= 0:
            e1 = None
        l3, l2, l1 = l_shell_shape(element, fe, e3, e2, e1, w2, cfg.beam_energy_kev, cfg.collection_mrad)
        fine_part = (l3 * _chi_on_energy(kk, cc, fe, e3, cfg.chi_taper_k)
                     + l2 * _chi_on_energy(kk, cc, fe, e2, cfg.chi_taper_k))
        smooth_main = l3 + l2
        true.update(l3_ev=e3, l2_ev=e2, l2_weight=w2)
        if l1 is not None:
            smooth_main = smooth_main + w1 * l1
            fine_part = fine_part + w1 * l1 * _chi_on_energy(kk, cc, fe, e1, cfg.chi_taper_k)
            true.update(l1_ev=e1, l1_weight=w1)
        sigma_main = smooth_main + fine_part
        partner = ("L2", e2)
    else:
        base = edge_shape(element, shell, fe, onset, cfg.beam_energy_kev, cfg.collection_mrad)
        fine_part = base * _chi_on_energy(kk, cc, fe, onset, cfg.chi_taper_k)
        sigma_main = base + fine_part
        partner = None
        if shell in ("M5", "M3", "N5"):
            nxt = {"M5": "M4", "M3": "M2", "N5": "N4"}[shell]
            try:
                partner = (nxt, edge_entry(element, nxt).energy + shift)
            except InputError:
                partner = None
            if partner is not None:
                sigma_main += 0.67 * edge_shape(element, nxt, fe, partner[1], cfg.beam_energy_kev,
                                                cfg.collection_mrad)
    if cfg.near_edge:
        sigma_main = sigma_main + _near_edge(cfg, element, shell, fe, onset, rng, true)
    white = cfg.white_lines if cfg.white_lines is not None else (entry.threshold == "Sharp peak")
    if white:
        height = draw(cfg.m_white_line_height if shell[0] in "MN" else cfg.white_line_height, rng)
        gam = draw(cfg.white_line_width, rng)
        ratio = draw(cfg.white_line_ratio, rng)
        peaks = [(onset + 0.5 * gam, height)]
        if partner is not None:
            peaks.append((partner[1] + 0.5 * gam, height / ratio))
        for pos, h in peaks:
            sigma_main += h / (1.0 + ((fe - pos) / (0.5 * gam)) ** 2)
        true.update(white_line_height=height, white_line_width=gam, white_line_ratio=ratio)
    ssd = sigma_main
    others = []
    main_strength = edge_strength(element, shell, cfg.beam_energy_kev, cfg.collection_mrad)
    for el, ent in other_edge_families(cfg.other_elements, element, cfg.edge, f_lo, f_hi):
        atoms = draw(cfg.other_edge_weight, rng)  # other atoms per absorber atom
        step = atoms * edge_strength(el, ent.edge, cfg.beam_energy_kev, cfg.collection_mrad) / main_strength
        if ent.edge[0] == "L":
            e3o, e2o, e1o = l_energies(el, ent.energy)
            parts = l_shell_shape(el, fe, e3o, e2o, e1o, 0.5, cfg.beam_energy_kev, cfg.collection_mrad)
            shape = sum(x for x in parts if x is not None)
        else:
            shape = edge_shape(el, ent.edge, fe, ent.energy, cfg.beam_energy_kev, cfg.collection_mrad)
            if ent.edge in ("M5", "M4"):
                try:
                    shape = shape + 0.67 * edge_shape(el, "M4", fe, edge_entry(el, "M4").energy,
                                                      cfg.beam_energy_kev, cfg.collection_mrad)
                except InputError:
                    pass
        ssd = ssd + step * shape
        others.append({"edge": ent.name, "onset_ev": ent.energy, "weight": atoms, "step_ratio": step})
    true["other_edges"] = others
    if cfg.background:
        r = draw(cfg.background_r, rng)
        ratio_bg = draw(cfg.background_ratio, rng)
        amp = ratio_bg * onset**r  # background = ratio_bg edge steps at the onset
        ssd = ssd + amp * fe ** (-r)
        true.update(background_r=r, background_ratio=ratio_bg)

    if taper_hi > f_lo:
        ssd = ssd * np.sin(0.5 * np.pi * np.clip((fe - f_lo) / (taper_hi - f_lo), 0.0, 1.0)) ** 2

    # plural scattering + resolution (the zero-loss peak carries the resolution)
    if cfg.plural_scattering or cfg.resolution:
        kern = lowloss_kernel(de, nfine, t_lambda, ep, gp, fwhm or None, cfg.beam_energy_kev,
                              cfg.collection_mrad)
        recorded = convolve_wrapped(ssd, kern)
    else:
        recorded = ssd.copy()
    recorded = np.clip(recorded, 0.0, None)

    # counts scale: expected counts per eV just below the onset
    # (without a background: counts per eV of the edge at onset + 50 eV); the scale comes from the smooth
    # model without fine structure, so that chi does not change the normalisation
    level = draw(cfg.counts, rng, log=True)
    if cfg.background:
        ref_sel = (fe > onset_tab - 15) & (fe < onset_tab - 5)
    else:
        ref_sel = (fe > onset + 45) & (fe < onset + 55)
    smooth = ssd - fine_part
    ref = float(np.mean(smooth[ref_sel])) if np.any(ref_sel) else 0.0
    if not ref > 0:
        ref = float(np.max(recorded)) or 1.0
    dens = recorded * (level / ref)  # counts per eV
    true["counts_per_ev"] = level
    fine_edges = f_lo + de * np.arange(nfine + 1)
    chan_edges = np.concatenate([axis - width / 2, [axis[-1] + width / 2]]) - offset
    expected = rebin_counts(fine_edges, dens * de, chan_edges)
    expected = np.clip(expected, 0.0, None)
    counts = rng.poisson(expected).astype(float) if cfg.noise else expected
    if cfg.gain_steps and cfg.gain_segments > 1:
        jumps = [draw(cfg.gain_jump, rng) for _ in range(cfg.gain_segments - 1)]
        counts = counts * gain_profile(nchan, cfg.gain_segments, jumps)
        true["gain_jumps"] = jumps
    md = {"true": true, "config": cfg.to_dict(), "synthetic": True, "element": element, "edge": shell}
    core = Spectrum(energy=axis, intensity=counts, kind="eels", source="exelfs.simulate", title=title,
                    beam_energy_kev=cfg.beam_energy_kev, convergence_mrad=cfg.convergence_mrad,
                    collection_mrad=cfg.collection_mrad, metadata=md)
    if not cfg.lowloss:
        return core
    return core, lowloss_spectrum(t_lambda, ep, gp, fwhm, width, offset, cfg, rng, level * 1e4)


def _from_batch(k, chi, cfg: EELSConfig, rng, title, element, shell):
    """eels_spectrum for config.solid_state: one spectrum of exelfs.simulate.batch.eels_batch (+ low loss)."""
    from .batch import eels_batch

    axis, counts, t = eels_batch(k, None if chi is None else chi[None, :], replace(cfg, lowloss=False),
                                 rng=rng, n=1)
    true = {key: (v[0].tolist() if isinstance(v, np.ndarray) else v) for key, v in t.items()}
    true["edge"] = cfg.edge
    md = {"true": true, "config": cfg.to_dict(), "synthetic": True, "element": element, "edge": shell}
    core = Spectrum(energy=axis, intensity=counts[0].astype(float), kind="eels", source="exelfs.simulate",
                    title=title, beam_energy_kev=cfg.beam_energy_kev, convergence_mrad=cfg.convergence_mrad,
                    collection_mrad=cfg.collection_mrad, metadata=md)
    if not cfg.lowloss:
        return core
    return core, lowloss_spectrum(true["t_lambda"], true["plasmon_energy"], true["plasmon_width"],
                                  true["resolution_fwhm"], true["channel_width"], true["calibration_offset"], cfg,
                                  rng, true["counts_per_ev"] * 1e4)


def lowloss_spectrum(t_lambda, plasmon_energy, plasmon_width, resolution_fwhm, width, offset,
                     cfg: EELSConfig, rng, total_counts: float = 1e8) -> Spectrum:
    """The low-loss spectrum matching a core-loss simulation (same t/lambda, plasmon, resolution, axis)."""
    lo, hi = cfg.lowloss_range
    nchan = int(np.floor((hi - lo) / width)) + 1
    axis = lo + width * np.arange(nchan)
    de = min(0.05, width / 4.0, max(resolution_fwhm, 0.2) / 4.0)
    span = (hi - lo) + 2 * width + 2 * abs(offset) + 10.0 + 200.0
    n = _fast_len(int(np.ceil(span / de)))
    kern = lowloss_kernel(de, n, t_lambda, plasmon_energy, plasmon_width, resolution_fwhm or None,
                          cfg.beam_energy_kev, cfg.collection_mrad)
    # unwrap: fine-bin centres at energies i*de (i >= 0) and negative ones at the end
    e = de * np.fft.fftfreq(n, 1.0 / n)
    order = np.argsort(e)
    centres, dens = e[order], kern[order] * total_counts
    fine_edges = np.concatenate([centres - de / 2, [centres[-1] + de / 2]])
    chan_edges = np.concatenate([axis - width / 2, [axis[-1] + width / 2]]) - offset
    expected = rebin_counts(fine_edges, dens, chan_edges)
    expected = np.clip(expected, 0.0, None)
    counts = rng.poisson(expected).astype(float) if cfg.noise else expected
    md = {"true": {"t_lambda": t_lambda, "plasmon_energy": plasmon_energy, "plasmon_width": plasmon_width,
                   "resolution_fwhm": resolution_fwhm, "calibration_offset": offset, "total_counts": total_counts},
          "synthetic": True}
    return Spectrum(energy=axis, intensity=counts, kind="eels", source="exelfs.simulate", title="synthetic low loss",
                    beam_energy_kev=cfg.beam_energy_kev, convergence_mrad=cfg.convergence_mrad,
                    collection_mrad=cfg.collection_mrad, metadata=md)
