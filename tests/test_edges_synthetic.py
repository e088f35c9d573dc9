"""Edge identification on spectra of the project's own EELS forward model (exelfs.simulate.eels): a small,
fast subset of benchmarks/identify_sweep.py. Representative (material, edge) cases across 190 eV - 2 keV
at channel widths 0.1-2 eV (K steps, 3d white lines, delayed 4p/4d L3, 4f M5 white lines, 4d M5, an edge
in the tail of another, an edge filling a fine-channel spectrum), and bare power laws with Poisson noise
(also with a detector point-spread) that must give no confident edge. All seeded."""

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
