"""Edge identification on spectra of the project's own EELS forward model (exelfs.simulate.eels): a small,
fast subset of benchmarks/identify_sweep.py. Representative (material, edge) cases across 190 eV - 2 keV
at channel widths 0.1-2 eV (K steps, 3d white lines, delayed 4p/4d L3, 4f M5 white lines, 4d M5, an edge
in the tail of another, an edge filling a fine-channel spectrum), and bare power laws with Poisson noise
(also with a detector point-spread) that must give no confident edge; and the O K edge of oxides on the
tail of the metal's L2,3 white lines (CaO, Sc2O3, TiO2; V2O5 as a known gap). All seeded."""

import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from exelfs.edges import identify
from exelfs.edges.tables import edge_entry, parse_edge
from exelfs.simulate.eels import EELSConfig, eels_spectrum
from exelfs.spectrum import Spectrum

warnings.filterwarnings("ignore", category=DeprecationWarning)

# (absorber edge, other elements, channel width eV, seed, counts per eV below the onset, extra config)
CASES = [
    ("B_K", ("N",), 0.5, 11, 3e4, {"plural_scattering": False}),
    ("N_K", ("Ti",), 1.0, 12, 1e5, {}),
    ("O_K", ("Mg",), 0.5, 13, 2e4, {}),
    ("Mg_K", ("O",), 2.0, 14, 1e5, {}),
    ("Al_K", ("O",), 0.1, 15, 3e3, {}),  # one edge filling a 205 eV, 0.1 eV/channel spectrum
    ("Si_K", ("O",), 0.5, 16, 1e4, {}),
    ("Ti_L3", ("O",), 0.1, 17, 2e4, {}),
    ("Cr_L3", ("O",), 0.5, 18, 7e4, {"other_edge_weight": 1.0}),  # Cr L3 43 eV above O K, in its tail
    ("Fe_L3", ("O",), 1.0, 19, 3e4, {}),
    ("Ni_L3", ("O",), 2.0, 20, 1e5, {}),
    ("Ga_L3", ("As",), 1.0, 21, 3e4, {}),
    ("Sr_L3", ("Ti", "O"), 0.5, 22, 2e4, {}),
    ("La_M5", ("O",), 0.5, 23, 3e4, {}),
    ("Ag_M5", (), 1.0, 24, 3e4, {}),
]


def toy_chi(seed):
    """A first-shell-like chi(k) (1/angstrom): damped sine at R ~ 2 angstrom, amplitude ~0.1."""
    rng = np.random.default_rng(seed)
    k = np.linspace(0.0, 16.0, 641)
    r = rng.uniform(1.8, 2.6)
    return k, 0.8 * np.sin(2 * k * r + rng.uniform(0, 2 * np.pi)) * np.exp(-0.012 * k * k) / np.maximum(k, 1.0) / r


def simulate(edge, others, width, seed, counts, extra):
    """2048 channels (at most 1500 eV), 30 % below the onset; calibration offset, resolution, thickness
    and background drawn by the forward model from its default ranges."""
    span = min(2048 * width, 1500.0)
    before = max(40.0, 0.3 * span)
    cfg = EELSConfig(edge=edge, channel_width=width, e_before=before, e_after=span - before,
                     other_elements=others, counts=counts, lowloss=False, **extra)
    return eels_spectrum(*toy_chi(seed), config=cfg, seed=seed)


def tops(result):
    return [(e["onset_ev"], f"{e['candidates'][0]['element']}_{e['candidates'][0]['edge']}",
             e["candidates"][0]["score"]) for e in result["edges"] if e["candidates"]]


@pytest.fixture(scope="module")
def results():
    out = []
    for edge, others, width, seed, counts, extra in CASES:
        s = simulate(edge, others, width, seed, counts, extra)
        out.append((edge, others, s.metadata["true"], tops(identify(s))))
    return out


def test_synthetic_top1_accuracy(results):
    """The absorber's element and edge are the best candidate of a detected edge in >= 90 % of cases,
    with the onset where the edge starts on the recorded axis (table onset + calibration offset)."""
    hits, errors = 0, []
    for edge, _, true, found in results:
        e_true = edge_entry(*parse_edge(edge)).energy + true["calibration_offset"]
        ok = [onset for onset, name, _ in found if name == edge]
        if ok:
            hits += 1
            errors.append(min(ok, key=lambda o: abs(o - e_true)) - e_true)
    assert hits >= 0.9 * len(results), [(r[0], r[3]) for r in results]
    assert np.median(np.abs(errors)) < 3.0 and np.max(np.abs(errors)) < 8.0, errors


def test_synthetic_no_confident_strangers(results):
    """No confident (score >= 0.5) edge of an element that is not in the material."""
    strangers = [(edge, hit) for edge, others, _, found in results for hit in found
                 if hit[1].split("_")[0] not in {edge.split("_")[0], *others} and hit[2] >= 0.5]
    assert len(strangers) <= 1, strangers


@pytest.mark.parametrize("width,start,psf,seed", [(0.1, 450.0, 0.0, 31), (0.5, 300.0, 1.5, 32),
                                                  (1.0, 800.0, 0.7, 33), (2.0, 150.0, 0.0, 34),
                                                  (0.25, 1800.0, 1.5, 35)])
def test_bare_power_law_has_no_confident_edge(width, start, psf, seed):
    """A power law (exponent 2-5) with Poisson noise, optionally spread over neighbouring channels by the
    detector (psf: Gaussian sigma in channels): no edge with a confident candidate."""
    rng = np.random.default_rng(seed)
    e = start + width * np.arange(2048)
    lam = np.exp(rng.uniform(np.log(1e3), np.log(1e6))) * width * (e / start) ** -rng.uniform(2.0, 5.0)
    counts = rng.poisson(lam).astype(float)
    if psf:
        counts = gaussian_filter1d(counts, psf, mode="nearest")
    result = identify(Spectrum(e, counts, kind="eels"))
    assert not [t for t in tops(result) if t[2] >= 0.5], tops(result)


# Oxides whose metal L2,3 white lines lie below O K (532 eV): CaO (Ca L3 346 eV), Sc2O3 (402), TiO2 (456),
# V2O5 (513); O atoms per metal atom. The O K edge rides on the tail of the white-line edge, where the
# power law fitted over the normal pre-edge window does not follow the background.
OXIDES = {"Ca": 1.0, "Sc": 1.5, "Ti": 2.0, "V": 2.5}
OXIDE_COUNTS = 2e4  # counts per eV just below the first edge
OXIDE_WIDTHS = (0.1, 0.25, 0.5, 1.0)


def metal_edge_oxide(metal, width, seed):
    """The metal L2,3 edge as the forward model's absorber, with its white lines at 3-8 edge steps and
    random near-edge structure, and the O K edge of the oxide's oxygen above it."""
    l3 = edge_entry(metal, "L3").energy
    cfg = EELSConfig(edge=f"{metal}_L3", channel_width=width, e_before=60.0, e_after=532.0 - l3 + 120.0,
                     other_elements=("O",), other_edge_weight=OXIDES[metal], counts=OXIDE_COUNTS,
                     lowloss=False, near_edge=True, white_line_height=(3.0, 8.0))
    return eels_spectrum(*toy_chi(seed), config=cfg, seed=seed)


def oxygen_edge_oxide(metal, width, seed):
    """O K as the forward model's absorber (near-edge structure and pre-peak), the metal L2,3 edge below it,
    and L3/L2 white lines (Lorentzians, 3-8 metal edge steps high, L3:L2 1.8-2.6) added before the Poisson
    noise (the forward model gives white lines to its absorber edge only)."""
    l3, l2 = edge_entry(metal, "L3").energy, edge_entry(metal, "L2").energy
    cfg = EELSConfig(edge="O_K", channel_width=width, e_before=532.0 - l3 + 60.0, e_after=120.0,
                     other_elements=(metal,), other_edge_weight=1.0 / OXIDES[metal], counts=OXIDE_COUNTS,
                     lowloss=False, near_edge=True, noise=False)
    s = eels_spectrum(*toy_chi(seed), config=cfg, seed=seed)
    rng = np.random.default_rng(seed + 1)
    e, y = np.asarray(s.energy), np.asarray(s.intensity, float)
    off = s.metadata["true"]["calibration_offset"]
    # the metal's edge step (counts per channel) over the power law fitted below it
    pre, post = (e > l3 + off - 40) & (e < l3 + off - 5), (e > l3 + off + 30) & (e < l3 + off + 40)
    coef = np.polyfit(np.log(e[pre]), np.log(y[pre]), 1)
    step = float(np.mean(y[post] - np.exp(np.polyval(coef, np.log(e[post])))))
    height, fwhm, ratio = rng.uniform(3.0, 8.0), rng.uniform(1.5, 2.5), rng.uniform(1.8, 2.6)
    for pos, h in ((l3 + off, height * step), (l2 + off, height / ratio * step)):
        y = y + h / (1.0 + ((e - pos - 0.5 * fwhm) / (0.5 * fwhm)) ** 2)
    return s.with_intensity(rng.poisson(np.clip(y, 0.0, None)).astype(float))


def oxide_results(metals):
    out = []
    for metal in metals:
        for build in (metal_edge_oxide, oxygen_edge_oxide):
            for width in OXIDE_WIDTHS:
                s = build(metal, width, int(100 * width) + 7)
                out.append((metal, build.__name__, width, s.metadata["true"]["calibration_offset"], tops(identify(s))))
    return out


@pytest.fixture(scope="module")
def oxides():
    return oxide_results(("Ca", "Sc", "Ti"))


def _found(hits, name, e_true, tol):
    return any(n == name and abs(onset - e_true) <= tol for onset, n, _ in hits)


def test_oxygen_k_on_the_tail_of_white_lines(oxides):
    """CaO, Sc2O3, TiO2 (O K 186, 130, 76 eV above the metal L3 white lines), channels 0.1-1 eV, both
    builds: O K is found (best candidate, onset within 5 eV) in >= 90 % of the spectra and in at least
    6 of the 8 of each oxide (17 of the 24 without the step-fit pass on the tail)."""
    missed = [(m, b, w, hits) for m, b, w, off, hits in oxides if not _found(hits, "O_K", 532.0 + off, 5.0)]
    assert len(missed) <= 0.1 * len(oxides), missed
    for metal in ("Ca", "Sc", "Ti"):
        assert sum(m == metal for m, *_ in missed) <= 2, missed


def test_metal_l23_still_found_next_to_oxygen(oxides):
    """The metal L2,3 edge itself stays detected (an edge within 6 eV of its L3 onset in every spectrum)
    and is best identified as the metal's L3 in >= 80 % (Sc L3 402 eV and N K 401 eV share an onset)."""
    for metal, build, width, off, hits in oxides:
        l3 = edge_entry(metal, "L3").energy + off
        assert any(abs(onset - l3) <= 6.0 for onset, _, _ in hits), (metal, build, width, hits)
    named = [_found(hits, f"{m}_L3", edge_entry(m, "L3").energy + off, 6.0) for m, _, _, off, hits in oxides]
    assert np.mean(named) >= 0.8, oxides


def test_oxides_no_confident_strangers(oxides):
    """No confident (score >= 0.5) edge of an element that is not in the oxide in more than one spectrum."""
    strangers = [(m, b, w, hit) for m, b, w, _, hits in oxides for hit in hits
                 if hit[1].split("_")[0] not in (m, "O") and hit[2] >= 0.5]
    assert len(strangers) <= 1, strangers


@pytest.mark.xfail(strict=True, reason="V2O5: O K lies 11 eV above the V L2 white line, inside the near-edge "
                                       "region that the tail pass leaves out; not found yet")
def test_oxygen_k_after_vanadium_white_lines():
    """V2O5 (O K 19 eV above V L3): O K found in at least half of the spectra (known gap: see xfail)."""
    results = oxide_results(("V",))
    assert np.mean([_found(hits, "O_K", 532.0 + off, 5.0) for *_, off, hits in results]) >= 0.5, results
