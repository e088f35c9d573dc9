"""Speed and memory of spectrum-image maps (``exelfs map``), printed as a table.

1. Per-pixel time of the nn map against the per-pixel fit map, in one run on the same 8x8 generated image
   (MgO, Mg K, four regions of known R), start-up (plan, sum, FEFF, model) excluded.
2. A generated 256 x 256 x 2048 float32 image (four distinct spectra tiled, plus noise), written to a
   temporary .hspy and read lazily, mapped with the nn method on the local threaded scheduler and on a
   dask.distributed LocalCluster (127.0.0.1, in-process): pixels per second and peak memory (RSS of a fresh
   process per run). Target: under 60 s and under 2 GB each.

Without the nn method (not installed), the large image is mapped through the batched extraction alone
(``extract_rows`` per chunk), which is what the nn map costs before the network.

    nice -n 10 python benchmarks/bench_map.py [--size 256] [--channels 2048] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EDGE, STRUCTURE = "Mg_K", "MgO"
DELTA_R = (0.0, 0.04, 0.08, 0.12)  # A, one per quadrant


def region_spectra(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(energy eV, (4, channels) noise-free counts): MgO Mg K with the first two shells moved by DELTA_R."""
    from exelfs.simulate import EELSConfig, eels_spectrum
    from exelfs.simulate.exafs import chi_from_paths, shell_to_path_params, standard_k
    from exelfs.theory import feff_paths, group_shells

    paths = feff_paths(STRUCTURE, "Mg", edge="K", rmax=4.0)
    shells = group_shells(paths)[:2]
    k = standard_k(16.0)
    width = 800.0 / (channels - 0.5)  # at least ``channels`` channels over the 800 eV window
    cfg = EELSConfig(edge=EDGE, e_before=150.0, e_after=650.0, channel_width=width, plural_scattering=False,
                     resolution_fwhm=1.0, counts=2e5, calibration=False, background_r=3.0, background_ratio=2.0,
                     gain_steps=False, noise=False, lowloss=False)
    rows = []
    for dr in DELTA_R:
        params = shell_to_path_params(paths, {"s02": 0.9, "e0": 1.0, "deltar": np.array([dr, dr]),
                                              "sigma2": np.array([0.005, 0.008])}, shells=shells)
        s = eels_spectrum(k, chi_from_paths(paths, k, params), cfg, seed=1)
        rows.append(s.intensity[:channels])
    return s.energy[:channels], np.array(rows)


def _block(block_info=None, spectra=None, seed=0):
    """One chunk of the tiled image: the quadrant's spectrum plus Gaussian noise of Poisson size."""
    loc = block_info[None]["array-location"]
    shape = block_info[None]["chunk-shape"]
    size = block_info[None]["shape"][0]
    yy, xx = np.meshgrid(np.arange(*loc[0]), np.arange(*loc[1]), indexing="ij")
    quadrant = (yy >= size // 2) * 2 + (xx >= size // 2)
    rng = np.random.default_rng([seed, loc[0][0], loc[1][0]])
    mean = spectra[quadrant].astype(np.float32)
    return (mean + np.sqrt(mean) * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)


def write_image(path: Path, size: int, channels: int) -> None:
    """The generated image, written chunk by chunk to ``path`` (.hspy)."""
    import dask.array as da
    import hyperspy.api as hs

    energy, spectra = region_spectra(channels)
    rows = min(size, max(1, 8192 // size))  # ~8192 pixels (64 MB) per stored chunk
    data = da.map_blocks(_block, spectra=spectra, dtype=np.float32, chunks=((rows,) * (size // rows), (size,),
                                                                             (channels,)))
    axes = [{"name": "y", "size": size, "scale": 2.0, "units": "nm"},
            {"name": "x", "size": size, "scale": 2.0, "units": "nm"},
            {"name": "Energy loss", "size": channels, "offset": float(energy[0]),
             "scale": float(energy[1] - energy[0]), "units": "eV"}]
    sig = hs.signals.Signal1D(data, axes=axes).as_lazy()
    sig.set_signal_type("EELS")
    sig.save(str(path), chunks=(rows, size, channels), compression=None, overwrite=True)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def one_run(path: str, method: str, scheduler: str) -> dict:
    """Map ``path`` in this (fresh) process; timing of the pixels (start-up excluded) and peak RSS."""
    import hyperspy.api as hs

    from exelfs.mapping import map_image

    client = cluster = None
    if scheduler == "distributed":
        import distributed

        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, host="127.0.0.1",
                                           protocol="tcp://", dashboard_address=None)
        client = distributed.Client(cluster)
    sig = hs.load(path, lazy=True)
    if method == "extract":
        row = _extract_only(sig, client)
    else:
        res = map_image(sig, edge=EDGE, structure=STRUCTURE, method=method, scheduler=client)
        pixels = int(np.prod(res.values.shape[:-1]))
        j = res.to_json()
        row = {"pixels": pixels, "pixels_s": res.timing["pixels_s"], "setup_s": res.timing["setup_s"],
               "masked": j["masked"]["total"], "r1_median": j["parameters"]["r1"]["median"]}
    if client is not None:
        client.close()
        cluster.close()
    row["peak_rss_mb"] = _peak_rss_mb()
    return row


def _chi_block(b, setup=None):
    from exelfs.mapping.pixels import extract_rows

    return extract_rows(setup, b.reshape(-1, b.shape[-1]))["chi"].astype(np.float32).reshape(b.shape[:-1] + (-1,))


def _extract_only(sig, client) -> dict:
    """The nn map's work before the network: the plan on the sum, then extract_rows over every chunk."""
    import dask.array as da

    from exelfs.mapping.image import load_image
    from exelfs.mapping.run import NN_CHUNK_PIXELS, _compute, _nav_chunks, _sum_setup
    from exelfs.pipeline import make_plan

    t0 = time.perf_counter()
    image = load_image(sig, distributed=client is not None)
    total = image.summed()
    plan = make_plan(total, edge=EDGE, structure=STRUCTURE)
    setup, _ = _sum_setup(plan, image, total, None, "fit", 3.0)
    t1 = time.perf_counter()
    core = image.data.rechunk(_nav_chunks(image.nav_shape, NN_CHUNK_PIXELS) + (-1,))

    chi = da.map_blocks(_chi_block, core, setup=setup, dtype=np.float32, chunks=core.chunks[:-1] + ((setup.k.size,),))
    _compute(chi.mean(axis=(0, 1)), client, False)
    t2 = time.perf_counter()
    return {"pixels": int(np.prod(image.nav_shape)), "pixels_s": t2 - t1, "setup_s": t1 - t0, "masked": None,
            "r1_median": None}


def _child(path, method, scheduler) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--child", path, method, scheduler], capture_output=True,
                         text=True, env=env, check=False)
    for line in out.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"benchmark child failed: {out.stderr[-2000:]}")


def _nn_available() -> bool:
    from exelfs.errors import InputError
    from exelfs.pipeline import get_method

    try:
        return hasattr(get_method("nn"), "batch")
    except InputError:
        return False


def speed_ratio(tmp: Path) -> list:
    """Rows for the nn vs fit per-pixel comparison on an 8x8 image (one run, same machine)."""
    write_image(tmp / "small.hspy", 8, 2048)
    rows = []
    for method in (["nn"] if _nn_available() else []) + ["fit"]:
        r = _child(str(tmp / "small.hspy"), method, "local")
        rows.append({"case": f"8x8x2048, {method}", **r})
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--channels", type=int, default=2048)
    p.add_argument("--keep", help="folder for the generated images (default: a temporary one)")
    args = p.parse_args()
    if args.child:
        print(json.dumps(one_run(*args.child)))
        return
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="exelfs-bench-map-"))
    tmp.mkdir(parents=True, exist_ok=True)
    rows = speed_ratio(tmp)
    t = time.perf_counter()
    big = tmp / f"image_{args.size}.hspy"
    write_image(big, args.size, args.channels)
    print(f"generated {args.size}x{args.size}x{args.channels} float32 in {time.perf_counter() - t:.1f} s "
          f"({big.stat().st_size / 2**20:.0f} MiB on disk)")
    method = "nn" if _nn_available() else "extract"
    for scheduler in ("local", "distributed"):
        r = _child(str(big), method, scheduler)
        rows.append({"case": f"{args.size}x{args.size}x{args.channels}, {method}, {scheduler}", **r})
    print(f"\n{'case':<40}{'pixels':>8}{'start-up s':>12}{'pixels s':>10}{'pixels/s':>11}{'ms/pixel':>10}"
          f"{'peak MB':>9}{'masked':>8}{'R1 med':>8}")
    for r in rows:
        rate = r["pixels"] / r["pixels_s"]
        print(f"{r['case']:<40}{r['pixels']:>8}{r['setup_s']:>12.1f}{r['pixels_s']:>10.2f}{rate:>11.1f}"
              f"{1000 / rate:>10.3f}{r['peak_rss_mb']:>9.0f}{str(r['masked']):>8}"
              f"{'-' if r['r1_median'] is None else format(r['r1_median'], '.3f'):>8}")
    per = {r["case"].split(", ")[1]: r["pixels_s"] / r["pixels"] for r in rows if r["case"].startswith("8x8")}
    if "nn" in per:
        at_scale = min(r["pixels_s"] / r["pixels"] for r in rows if not r["case"].startswith("8x8"))
        print(f"\nper-pixel time, fit / nn on the same 8x8 image (nn dominated by its fixed cost per call): "
              f"{per['fit'] / per['nn']:.0f}x")
        print(f"per-pixel time, fit (8x8) / nn at scale ({args.size}x{args.size}), same run: "
              f"{per['fit'] / at_scale:.0f}x")
    else:
        print("\nthe nn method is not available here: the large image was mapped through the extraction alone")


if __name__ == "__main__":
    main()
