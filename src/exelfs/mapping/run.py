"""``map_image``: the plan of the image's sum over every pixel, in chunks through dask.

The navigation axes are cut into chunks (the energy axis stays whole); ``dask.array.blockwise`` applies
``pixels.analyse_block`` to each, so memory holds a few chunks at a time whatever the image size. The
local scheduler runs it (threads; processes for fit maps of FIT_PROCESSES_MIN pixels or more), or an
existing dask.distributed cluster (``scheduler='tcp://...'`` or a ``distributed.Client``).
Units: eV, 1/angstrom, angstrom.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ..errors import InputError
from .image import bin_image, load_image, parse_bin
from .pixels import analyse_block, extract_rows
from .result import MapResult
from .setup import MIN_EDGE_SNR, make_setup, parameter_names

NN_CHUNK_PIXELS = 2048   # pixels per chunk for the network (~35 MB of float64 counts at 2048 channels)
FIT_CHUNK_PIXELS = 8     # pixels per chunk for the per-pixel fit (parallel over chunks)
PROGRESS_MIN_S = 2.0     # a progress bar only for runs longer than this
FIT_PROCESSES_MIN = 32   # local fit maps of at least this many pixels run in processes: Larch's fit holds
                         # the GIL, so threads would fit one pixel at a time (worker start-up ~5 s)


def _nav_chunks(nav_shape: tuple, pixels: int) -> tuple:
    """Chunk sizes (array order) holding about ``pixels`` pixels: whole rows of the fastest axis."""
    chunks, left = [], max(int(pixels), 1)
    for n in nav_shape[::-1]:
        c = min(n, left)
        chunks.append(c)
        left = max(left // max(c, 1), 1)
    return tuple(chunks[::-1])


def _client(scheduler):
    if scheduler is None:
        return None
    if hasattr(scheduler, "submit"):
        return scheduler
    from distributed import Client

    try:
        return Client(str(scheduler), timeout="5s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"no dask scheduler answers at {scheduler} ({type(exc).__name__}): start one "
                         "(dask scheduler / dask worker) or leave out --scheduler") from None


def _compute(arr, client, progress: bool, local: str = "threads") -> np.ndarray:
    """The array computed locally (dask's ``local`` scheduler: 'threads' or 'processes') or on the cluster;
    a progress bar on stderr when asked."""
    if client is None:
        if not progress:
            return arr.compute(scheduler=local)
        from dask.diagnostics import ProgressBar

        with ProgressBar(minimum=PROGRESS_MIN_S, out=sys.stderr):
            return arr.compute(scheduler=local)
    from distributed import as_completed

    blocks = arr.to_delayed()
    futures = client.compute(list(blocks.ravel()))
    if progress:
        from tqdm import tqdm

        for _ in tqdm(as_completed(futures), total=len(futures), file=sys.stderr, desc="pixels", unit="chunk"):
            pass
    parts = np.empty(blocks.size, dtype=object)
    parts[:] = client.gather(futures)
    return np.block(parts.reshape(blocks.shape).tolist())


def _sum_setup(plan, image, total, lowloss, method, min_snr):
    """Run the pipeline on the image's sum (the plan's extraction choices) and build the MapSetup."""
    from ..pipeline import run

    ll_sum = None if lowloss is None else lowloss.summed()
    result = run(plan, total, lowloss=ll_sum, method=method)
    setup = make_setup(plan, result, image, ll_sum, bool(lowloss is not None and lowloss.nav_shape),
                       method=method, min_snr=min_snr)
    return setup, result


def _shells(setup, total):
    """Number of shells stored: the fit's model on this k range; the network's modelled shells."""
    if setup.method == "fit":
        from ..fit.shells import choose_model

        model, *_ = choose_model(setup.plan.paths, setup.k_range, setup.r_range, setup.plan.settings.shells)
        return len(model["shells"]), [{"scatterer": s["scatterer"], "r_ref": s["reff"], "n_ref": s["n"]}
                                      for s in model["shells"]]
    from ..pipeline import get_method

    ext = extract_rows(setup, total.intensity[None, :])
    out = get_method("nn").batch(setup.plan, setup.k, ext["chi"], setup.k_range, setup.kweight,
                                 l2_shift_ev=setup.l2_shift_ev)  # also loads the model onto the plan
    return len(out["shells"]), list(out["shells"])


def _check_method(method: str) -> None:
    if method not in ("fit", "nn"):
        raise InputError(f"unknown map method '{method}': use nn or fit")
    if method == "nn":
        from ..pipeline import get_method

        if not hasattr(get_method("nn"), "batch"):  # a planned method raises its own sentence here
            raise InputError("this nn method has no batched call for maps: use --method fit")


def _reused(reuse, image, method):
    """(setup, sum result) of an earlier map, checked against this image's energy axis and the method."""
    setup = reuse.setup
    if setup.method != method or setup.energy.shape != image.energy.shape or not np.allclose(
            setup.energy, image.energy, rtol=0, atol=1e-6 * max(1.0, float(np.abs(image.energy).max()))):
        raise InputError("the map given to reuse was made with another method or energy axis: map this image "
                         "on its own")
    return setup, reuse.sum_result


def _pixel_graph(image, ll, setup, pixels):
    """The dask array of the stored parameters: analyse_block over chunks of about ``pixels`` pixels."""
    import dask.array as da

    nav = image.nav_shape
    core = image.data.rechunk(_nav_chunks(nav, pixels) + (-1,))
    arrays = [core, _index(len(nav), "e")]
    if ll is not None and ll.nav_shape:
        arrays += [ll.data.rechunk(core.chunks[:-1] + (-1,)), _index(len(nav), "l")]
    elif setup.lowloss is not None and setup.lowloss.spectrum is None:
        raise InputError("the reused map deconvolved each pixel with its own low-loss: give the low-loss image")
    return da.blockwise(analyse_block, _index(len(nav), "p"), *arrays, new_axes={"p": len(setup.names)},
                        dtype=np.float32, concatenate=True, setup=setup)


def map_image(data, edge: str | None = None, structure=None, lowloss=None, method: str = "fit", bin=None,
              scheduler=None, min_snr: float = MIN_EDGE_SNR, chunk_pixels: int | None = None,
              progress: bool = False, reuse: MapResult | None = None, plan=None, **controls) -> MapResult:
    """Maps of R, N, sigma2 (and their 1-sigma errors) over a spectrum image.

    data: a path, a HyperSpy signal (lazy or not) or a Spectrum with navigation axes. edge, structure and
    controls (kmin, kmax, kweight, e0, rbkg, rmin, rmax, s02, shells) as for ``analyze``, decided once on
    the image's sum. lowloss: one low-loss spectrum or a low-loss image of the same navigation shape.
    method: 'nn' (the network's batched call) or 'fit' (Larch shell fit per pixel). bin: '2x2' (x first) or
    a number. scheduler: None (local), a dask.distributed address or Client. min_snr: edge-step SNR
    below which a pixel is masked. reuse: an earlier MapResult whose plan and choices (from its own sum)
    are applied to this image as they are (a series of images analysed alike). plan: a pipeline Plan
    (``make_plan``) to use instead of making one from edge, structure and controls (e.g. one that already
    holds its network). Returns a MapResult (``signal``, ``maps``, ``to_json``, ``save``)."""
    _check_method(method)
    t_start = time.perf_counter()
    client = _client(scheduler)  # before any work: an unreachable scheduler is said at once
    try:
        return _map(data, edge, structure, lowloss, method, bin, client, min_snr, chunk_pixels, progress, reuse,
                    plan, controls, t_start)
    finally:
        if client is not None and client is not scheduler:
            client.close()  # a client made here from an address (one given by the caller stays open)


def _map(data, edge, structure, lowloss, method, bin, client, min_snr, chunk_pixels, progress, reuse, plan,
         controls, t_start) -> MapResult:
    from ..pipeline import Settings, make_plan

    picklable = client is not None or method == "fit"  # for a cluster or local processes
    image = load_image(data, distributed=picklable)
    factors = parse_bin(bin, len(image.nav_shape))
    image = bin_image(image, factors)
    ll = None if lowloss is None else _lowloss(lowloss, image, factors, picklable)
    if reuse is not None:
        setup, sum_result = _reused(reuse, image, method)
    else:
        total = image.summed()
        if plan is None:
            plan = make_plan(total, edge=edge, structure=structure, settings=Settings.from_kwargs(**controls))
        setup, sum_result = _sum_setup(plan, image, total, ll, method, min_snr)
        setup.n_shells, setup.shells_ref = _shells(setup, total)
        setup.names = parameter_names(setup.n_shells)
    t_setup = time.perf_counter()
    pixels = chunk_pixels or (NN_CHUNK_PIXELS if method == "nn" else FIT_CHUNK_PIXELS)
    out = _pixel_graph(image, ll, setup, pixels)
    local = "processes" if method == "fit" and np.prod(image.nav_shape) >= FIT_PROCESSES_MIN else "threads"
    values = _compute(out, client, progress, local)
    t_end = time.perf_counter()
    timing = {"setup_s": t_setup - t_start, "pixels_s": t_end - t_setup, "total_s": t_end - t_start}
    settings = {"method": method, "bin": None if factors is None else "x".join(str(f) for f in factors[::-1]),
                "scheduler": f"local {local}" if client is None else str(client.scheduler.address),
                "min_snr": setup.min_snr, "chunk_pixels": pixels, "reused_plan": reuse is not None}
    return MapResult(setup=setup, values=values, nav_axes=image.nav_axes, sum_result=sum_result, image=image,
                     timing=timing, settings=settings)


def _index(ndim: int, last: str) -> str:
    return "abcd"[:ndim] + last


def _lowloss(lowloss, image, factors, distributed=False):
    """The low-loss as an Image (same navigation shape as the core-loss, binned alike) or as one Spectrum."""
    ll = load_image(lowloss, what="the low-loss", single=True, distributed=distributed)
    if not ll.nav_shape:
        from ..spectrum import Spectrum

        return Spectrum(ll.energy, np.asarray(ll.data), kind="eels")
    ll = bin_image(ll, factors)
    if ll.nav_shape != image.nav_shape:
        raise InputError(f"the low-loss image {ll.nav_shape} and the core-loss image {image.nav_shape} differ in "
                         "navigation shape: give one low-loss spectrum or the matching low-loss image")
    return ll
