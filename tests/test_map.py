"""Spectrum-image maps: a generated 4x2 image with two regions of known R, the same map on a dask.distributed
LocalCluster, the .hspy output, the batched extraction against the one-spectrum chain (Larch autobk, exspy
deconvolution), the real h-BN spectrum image and bad input."""

import json

import numpy as np
import pytest

from exelfs.errors import InputError
from exelfs.extract import batch, extract_chi
from exelfs.io import read_spectrum
from exelfs.mapping import map_image
from exelfs.spectrum import Spectrum

R_MGO = 2.106           # Mg-O in MgO (A)
DELTA_R = (0.0, 0.08)   # left and right half of the image: R = 2.106 and 2.186 A
HBN = "eels_hBN_BK_NK_SI200_HLmulti_02_cal.dm3"
HBN_LL = "eels_hBN_lowloss_LL_02_cal.msa"


def _region_spectra():
    """Noise-free Mg K spectra of MgO with the first two shells moved by DELTA_R (one per region)."""
    from exelfs.simulate import EELSConfig, eels_spectrum
    from exelfs.simulate.exafs import chi_from_paths, shell_to_path_params, standard_k
    from exelfs.theory import feff_paths, group_shells

    paths = feff_paths("MgO", "Mg", edge="K", rmax=4.0)
    shells = group_shells(paths)[:2]
    k = standard_k(16.0)
    cfg = EELSConfig(edge="Mg_K", e_before=150.0, e_after=650.0, channel_width=1.0, plural_scattering=False,
                     resolution_fwhm=1.0, counts=1e6, calibration=False, background_r=3.0, background_ratio=2.0,
                     gain_steps=False, noise=False, lowloss=False)
    out = []
    for dr in DELTA_R:
        params = shell_to_path_params(paths, {"s02": 0.9, "e0": 1.0, "deltar": np.array([dr, dr]),
                                              "sigma2": np.array([0.005, 0.008])}, shells=shells)
        out.append(eels_spectrum(k, chi_from_paths(paths, k, params), cfg, seed=1))
    return out


@pytest.fixture(scope="module")
def regions():
    return _region_spectra()


@pytest.fixture(scope="module")
def image(regions):
    """4 x 2 pixels (x, y), left two columns R = 2.106 A, right two 2.186 A, Poisson noise (seeded), 2 nm
    pixels."""
    left, right = regions
    truth = np.where(np.arange(4)[None, :] < 2, R_MGO + DELTA_R[0], R_MGO + DELTA_R[1]) * np.ones((2, 1))
    rng = np.random.default_rng(7)
    counts = np.where((truth < 2.15)[..., None], left.intensity, right.intensity)
    counts = rng.poisson(counts).astype(np.float32)
    nav = [{"name": "x", "size": 4, "offset": 0.0, "scale": 2.0, "units": "nm"},
           {"name": "y", "size": 2, "offset": 10.0, "scale": 2.0, "units": "nm"}]
    spec = Spectrum(left.energy, counts, kind="eels", metadata={"navigation_axes": nav})
    return spec.to_hyperspy(), truth


@pytest.fixture(scope="module")
def fit_map(image):
    sig, _ = image
    return map_image(sig, edge="Mg_K", structure="MgO", method="fit")


def test_fit_map_recovers_r_per_region(image, fit_map):
    _, truth = image
    r1 = fit_map["r1"]
    assert r1.shape == (2, 4)
    assert not fit_map.mask.any(), fit_map["mask"]
    for region in (truth < 2.15, truth > 2.15):
        median = float(np.median(r1[region]))
        assert abs(median - truth[region][0]) < 0.02, (median, truth[region][0])
    # the two regions are told apart pixel by pixel, and the error bars cover the truth
    assert r1[truth > 2.15].min() > r1[truth < 2.15].max()
    assert np.mean(np.abs(r1 - truth) <= 2 * fit_map["r1_err"]) >= 0.75
    j = fit_map.to_json(file="synthetic", out=None)
    assert j["pixels"] == 8 and j["masked"]["total"] == 0 and j["method"] == "fit"
    assert j["parameters"]["r1"]["p05"] <= j["parameters"]["r1"]["median"] <= j["parameters"]["r1"]["p95"]
    json.dumps(j)


def test_distributed_cluster_gives_the_local_result(image, fit_map):
    distributed = pytest.importorskip("distributed")
    sig, _ = image
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1",
                                  protocol="tcp://", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            remote = map_image(sig, method="fit", scheduler=client, reuse=fit_map)  # the same plan, on the cluster
    assert remote.settings["scheduler"].startswith("tcp://127.0.0.1")
    assert remote.values.shape == fit_map.values.shape == (2, 4, len(fit_map.names))
    np.testing.assert_array_equal(remote.values, fit_map.values)


@pytest.fixture(scope="module")
def nn_map(image, tmp_path_factory):
    """The nn map of the same image with a tiny network (trained here, cached in a temporary folder) and one
    pixel dimmed 100000x (too weak for an answer)."""
    from exelfs.nn import default_config, get_model
    from exelfs.pipeline import make_plan

    sig, _ = image
    dim = sig.deepcopy()
    dim.data[1, 3] = np.random.default_rng(3).poisson(dim.data[1, 3] * 1e-5)
    mp = pytest.MonkeyPatch()
    mp.setenv("EXELFS_CACHE", str(tmp_path_factory.mktemp("nn-cache")))
    total = Spectrum(dim.axes_manager.signal_axes[0].axis, dim.data.reshape(-1, dim.data.shape[-1]).sum(0))
    plan = make_plan(total, edge="Mg_K", structure="MgO")
    cfg = default_config("MgO", "Mg_K", "eels", samples=4000, epochs=10, calibration_samples=800, seed=3)
    plan.__dict__["_nn_model"], _ = get_model(plan.paths, cfg, progress=False)
    try:
        yield map_image(dim, plan=plan, method="nn")
    finally:
        mp.undo()


def test_nn_map_tells_the_regions_apart_and_masks_weak_pixels(image, nn_map):
    _, truth = image
    assert nn_map["mask"][1, 3] == 1 and np.isnan(nn_map["r1"][1, 3])  # weak signal
    assert nn_map.mask_counts() == {"total": 1, "weak_signal": 1, "ood": 0, "rejected": 0, "failed": 0}
    r1, err = nn_map["r1"], nn_map["r1_err"]
    left, right = truth < 2.15, (truth > 2.15) & ~nn_map.mask
    assert np.nanmin(r1[right]) > np.nanmax(r1[left])
    for region in (left, right):
        assert abs(np.median(r1[region]) - truth[region][0]) < 2 * np.median(err[region])
    assert np.all(err[~nn_map.mask] < 0.15)  # answered: known better than the honesty rule's limit
    j = nn_map.to_json()
    assert j["method"] == "nn" and j["masked"]["weak_signal"] == 1 and j["pixels"] == 8


def test_hspy_output_opens_with_navigation_axes(fit_map, tmp_path):
    import hyperspy.api as hs

    written = fit_map.save(tmp_path / "maps.hspy")
    loaded = hs.load(tmp_path / "maps.hspy")
    nav = loaded.axes_manager.navigation_axes
    assert loaded.axes_manager.navigation_shape == (4, 2)
    assert [a.name for a in nav] == ["x", "y"] and nav[1].offset == 10.0 and nav[0].scale == 2.0
    assert str(nav[0].units) == "nm"
    names = list(loaded.metadata.exelfs.parameters)
    np.testing.assert_allclose(loaded.data[..., names.index("r1")], fit_map["r1"])
    run = json.loads(loaded.metadata.exelfs.run)
    assert run["edge"] == "Mg_K" and run["method"] == "fit" and run["k_range"][1] > 9
    pngs = [p for p in map(str, written) if p.endswith(".png")]
    assert any(p.endswith("maps_r1.png") for p in pngs) and any(p.endswith("maps_mask.png") for p in pngs)
    assert fit_map.maps["r1"].axes_manager.signal_shape == (4, 2)


def test_cli_maps_a_lazy_hspy_file(image, tmp_path, capsys):
    """``exelfs map`` on an .hspy file (read lazily), binned 2x2 (to 2 x 1 pixels), with --out and --json."""
    from exelfs import cli

    sig, _ = image
    sig.save(tmp_path / "image.hspy")
    out = tmp_path / "maps.hspy"
    code = cli.main(["map", str(tmp_path / "image.hspy"), "--edge", "Mg_K", "--structure", "MgO", "--method", "fit",
                     "--bin", "2x2", "--out", str(out), "--json"])
    assert code == 0
    j = json.loads(capsys.readouterr().out)
    assert j["pixels"] == 2 and j["out"] == str(out) and j["settings"]["map"]["bin"] == "2x2"
    assert abs(j["parameters"]["r1"]["p05"] - 2.106) < 0.03 and abs(j["parameters"]["r1"]["p95"] - 2.186) < 0.03
    import hyperspy.api as hs

    assert hs.load(out).axes_manager.navigation_axes[0].scale == 4.0  # 2 nm pixels binned by 2


def test_bad_input(real_dir, image):
    sig, _ = image
    with pytest.raises(InputError, match="single spectrum"):
        map_image(real_dir / "eels_MgO_MgK_OK_atlas.msa", edge="O_K", structure="MgO", method="fit")
    with pytest.raises(InputError, match="outside the data"):
        map_image(sig, edge="O_K", structure="MgO", method="fit")
    with pytest.raises(InputError, match="--bin"):
        map_image(sig, edge="Mg_K", structure="MgO", method="fit", bin="2x2x2")
    with pytest.raises(InputError, match="no dask scheduler answers"):
        map_image(sig, edge="Mg_K", structure="MgO", method="fit", scheduler="tcp://127.0.0.1:9")
    from exelfs import cli

    assert cli.main(["map", str(real_dir / "eels_MgO_MgK_OK_atlas.msa"), "--edge", "O_K", "--method", "fit"]) == 2


def test_nan_pixel_is_refused_with_the_file_name(image, tmp_path, capsys):
    """One NaN in one pixel of an .hspy image: exit 2 and a sentence naming the file, not 'the spectrum'."""
    from exelfs import cli

    sig, _ = image
    bad = sig.deepcopy()
    bad.data[1, 2, 40] = np.nan
    bad.save(tmp_path / "nan.hspy")
    before = (tmp_path / "nan.hspy").read_bytes()
    assert cli.main(["map", str(tmp_path / "nan.hspy"), "--edge", "Mg_K", "--structure", "MgO", "--method", "fit"]) == 2
    err = capsys.readouterr().err
    assert "nan.hspy" in err and "NaN or infinite values in 1 of the" in err and "Traceback" not in err
    assert (tmp_path / "nan.hspy").read_bytes() == before


def test_spline_background_against_larch_autobk(regions):
    """The linear-least-squares spline of every pixel against Larch autobk, on one region's spectrum."""
    total = regions[0]
    ext = extract_chi(total, "Mg_K", rbkg=1.0, elements=["Mg", "O"])
    log_a, r = batch.power_law_fit(total.energy, total.intensity[None, :], ext.pre_edge_window)
    assert abs(float(r[0]) - ext.pre_edge_fit["r"]) < 0.05
    mu = total.intensity[None, :] - batch.power_law(total.energy, log_a, r)
    k = batch.k_grid(ext.e0, ext.e_end)
    chi, _ = batch.chi_batch((batch.k_operator(total.energy, ext.e0, k) @ mu.T).T,
                             batch.spline_operator(k, 1.0, float(k[-1]), 1.0, 2), k)
    # chi(k) alike up to 1 1/A before the end (there both clamp the spline, each its own way) ...
    sel = (k >= ext.k_range[0]) & (k <= ext.k_range[1] - 1.0)
    larch = np.interp(k[sel], ext.k, ext.chi)
    w = k[sel] ** 2
    assert np.corrcoef(chi[0, sel] * w, larch * w)[0, 1] > 0.99
    # ... and the same first-shell distance when each is fitted over the whole k range
    from exelfs.fit import fit_shells
    from exelfs.theory import feff_paths

    paths = feff_paths("MgO", "Mg", edge="K", rmax=4.0)
    r_ours, r_larch = (fit_shells(kk, cc, paths, ext.k_range, stability=False, e0_starts=(0.0,))["shells"][0]["r"]
                       for kk, cc in ((k, chi[0]), (ext.k, ext.chi)))
    assert abs(r_ours - r_larch) < 0.01 and abs(r_ours - R_MGO) < 0.01


def test_batch_deconvolution_matches_exspy(real_dir):
    """The batched Fourier ratio against exspy's on the h-BN sum (same low-loss preparation)."""
    from exelfs.extract.deconvolution import fourier_ratio, prepare_lowloss

    core = read_spectrum(real_dir / HBN).summed()
    ll = prepare_lowloss(read_spectrum(real_dir / HBN_LL), core.channel_width, 188.0)
    edge = np.where(core.energy >= 182.0, core.intensity - core.intensity[0] * (core.energy / core.energy[0]) ** -4,
                    0.0)
    top = np.nonzero(ll.intensity >= 0.5 * ll.intensity.max())[0]
    fwhm = max(float(ll.energy[top[-1]] - ll.energy[top[0]]) + core.channel_width, core.channel_width)
    extrapolate = bool(ll.intensity.size > 200 and np.all(ll.intensity[-100:] > 0))
    ours = batch.fourier_ratio(np.vstack([edge, 2 * edge]), ll.energy, ll.intensity[None, :], fwhm, ll.threshold,
                               extrapolate)
    ref = fourier_ratio(core.energy, edge, ll)
    sel = core.energy > 200
    assert np.corrcoef(ours[0, sel], ref[sel])[0, 1] > 0.9999
    np.testing.assert_allclose(ours[1], 2 * ours[0], rtol=1e-9, atol=1e-6 * np.abs(ours[0]).max())


def test_real_hbn_image(real_dir):
    """The real h-BN line scan (200 pixels, binned by 100 to 2): B K with the low-loss, classical fit. The
    k range ends at 7 1/A (N K edge at 400 eV): the first shell has fewer independent points than the fit's
    parameters, so the honesty rule rejects it on the sum (``analyze``) and in every pixel alike: the map
    masks them instead of guessing. (The nn map of all 200 pixels answers: benchmarks / report.)"""
    res = map_image(real_dir / HBN, edge="B_K", structure="BN", lowloss=real_dir / HBN_LL, method="fit", bin="100")
    j = res.to_json()
    assert j["pixels"] == 2 and res.values.shape[0] == 2
    assert abs(res.setup.e0 - 200.0) < 5 and res.setup.lowloss is not None and res.setup.k_range[1] < 7.5
    assert np.all(res["snr"] > 10)  # strong pixels: the mask is the honesty rule's doing, not the signal's
    assert not res.sum_result.shells and res.sum_result.undetermined_shells
    assert j["masked"] == {"total": 2, "weak_signal": 0, "ood": 0, "rejected": 2, "failed": 0}
    assert j["parameters"]["r1"]["median"] is None and np.all(np.isnan(res["r1"]))
