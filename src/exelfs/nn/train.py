"""Train a network on synthetic chi(k) of one structure and edge, then calibrate its uncertainties.

``train(paths, cfg)`` draws the training set and a separate held-out set from the config's priors, fits
every ensemble member on its own k-fold split, rounds the weights to half precision (as they are saved),
and on the first half of the held-out set finds per output the variance scale that puts the 1- and
2-sigma coverage at 0.683 and 0.954 (a density design: its posterior's central 68.3 % and 95.4 %
intervals, scaled about the posterior mean); the first half also gives the thresholds of the
unseen-spectrum flags (OOD_QUANTILE of each statistic), the second half the scores (MAE, coverage of
mean +- 1 and 2 sigma and of the posterior samples' central 68.3 % and 95.4 % intervals, flagged
fraction). Units as exelfs.nn.data.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np
import torch

from .config import TrainConfig
from .data import make_set, model_shells, r_window
from .models import ARCHITECTURES

SCALES = np.exp(np.linspace(np.log(0.25), np.log(6.0), 161))  # candidate variance scales (on sigma)
OOD_QUANTILE = 0.995
POSTERIOR_SAMPLES = 200  # per held-out spectrum, for the coverage of the ensemble's central intervals (a
# density design uses the n_samples behind its moments)


@contextmanager
def torch_threads(n: int):
    """Run torch on n threads inside the block, restoring the setting after (small networks run fastest on
    one thread: more threads cost more in synchronisation than they gain, worst on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit(net, spec, x, y, cfg: TrainConfig, rng, progress: bool) -> list[float]:
    """Train all members (member m leaves fold m out); returns the loss per epoch."""
    from tqdm import tqdm

    m = net.n_members
    folds = rng.permutation(len(x)) % m if m > 1 else np.full(len(x), -1)
    keep = torch.tensor(folds[None, :] != np.arange(m)[:, None], dtype=torch.float32)  # (M, N)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    lr = spec["lr"] or cfg.lr
    if spec["optimizer"] == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.0 if spec["r1_only"] else 0.9)
    steps = cfg.epochs * math.ceil(len(x) / cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15) \
        if spec["optimizer"] == "adam" else None
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    losses = []
    bar = tqdm(range(cfg.epochs), desc="training the network", unit="epoch", disable=not progress, leave=False)
    for _ in bar:
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for s in range(0, len(x), cfg.batch):
            idx = order[s:s + cfg.batch]
            if spec["density"]:
                loss = net.nll(xt[idx], yt[idx])
            else:
                out = net(xt[idx])  # (M, b, T, 2)
                mu, logvar = out[..., 0], out[..., 1]
                err = (mu - yt[idx][None]) ** 2
                per = 0.5 * (logvar + err * torch.exp(-logvar)) if spec["gaussian"] else err
                w = keep[:, idx][..., None]
                loss = (per * w).sum() / (w.sum() * per.shape[-1])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(x))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return losses


def _half_precision(net) -> None:
    """Round the weights to float16 and back: the model is then exactly what is saved."""
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.half().float())


def ensemble_moments(out: np.ndarray, gaussian: bool, rmse=None) -> tuple:
    """(mean, base variance, member spread) in standardised units from member outputs (M, B, T, 2)."""
    mu, var = out[..., 0], np.exp(out[..., 1])
    mean = mu.mean(axis=0)
    spread = mu.std(axis=0)
    base = (var.mean(axis=0) if gaussian else rmse[None, :] ** 2) + spread ** 2
    return mean, base, spread


def coverage(y, mean, sigma) -> tuple:
    """Fractions of |y - mean| within 1 and 2 sigma, per column."""
    z = np.abs(y - mean) / sigma
    return (z <= 1).mean(axis=0), (z <= 2).mean(axis=0)


def interval_coverage(y, samples) -> tuple:
    """Fractions of y (B, T) inside the central 68.3 % and 95.4 % intervals of samples (n, B, T), per
    column."""
    inside = []
    for p in (0.6827, 0.9545):
        lo, hi = np.quantile(samples, [(1 - p) / 2, (1 + p) / 2], axis=0)
        inside.append(((y >= lo) & (y <= hi)).mean(axis=0))
    return tuple(inside)


def _best_scale(y, mean, base) -> np.ndarray:
    """Per output, the sigma scale whose 1- and 2-sigma coverage are closest to 0.683 and 0.954."""
    z = np.abs(y - mean) / np.sqrt(base)  # (B, T)
    best = []
    for t in range(z.shape[1]):
        c1 = (z[:, t][None, :] <= SCALES[:, None]).mean(axis=1)
        c2 = (z[:, t][None, :] <= 2 * SCALES[:, None]).mean(axis=1)
        best.append(SCALES[np.argmin(np.abs(c1 - 0.683) + np.abs(c2 - 0.954))])
    return np.array(best)


def _best_interval_scale(y, samples) -> np.ndarray:
    """Per output, the scale about the posterior mean (samples (n, B, T)) whose central 68.3 % and 95.4 %
    intervals cover y (B, T) closest to 0.683 and 0.954; the posterior's shape and correlations are kept."""
    mean = samples.mean(axis=0)
    lo1, hi1, lo2, hi2 = np.quantile(samples, [0.15865, 0.84135, 0.02275, 0.97725], axis=0) - mean
    d, s = y - mean, SCALES[:, None, None]  # an interval scaled by s about the mean: mean + s * (q - mean)
    c1 = ((d >= s * lo1) & (d <= s * hi1)).mean(axis=1)  # (len(SCALES), T)
    c2 = ((d >= s * lo2) & (d <= s * hi2)).mean(axis=1)
    return SCALES[np.argmin(np.abs(c1 - 0.683) + np.abs(c2 - 0.954), axis=0)]


def run_net(net, x: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Member outputs (M, B, T, 2) for inputs x, without gradients."""
    with torch.no_grad():
        return np.concatenate([net(torch.from_numpy(x[s:s + chunk])).numpy() for s in range(0, len(x), chunk)],
                              axis=1) if len(x) else np.zeros((net.n_members, 0, 1, 2), np.float32)


def train(paths, cfg: TrainConfig, l2_shift_ev=None, progress: bool = True):
    """A calibrated :class:`exelfs.nn.predict.NNModel` for the FEFF ``paths`` under ``cfg``."""
    from .predict import NNModel

    t0 = time.perf_counter()
    spec = ARCHITECTURES[cfg.architecture]
    ss = np.random.SeedSequence(int(cfg.seed))
    rng_train, rng_cal, rng_fit = (np.random.default_rng(s) for s in ss.spawn(3))
    torch.manual_seed(int(cfg.seed))
    train_set = make_set(paths, cfg, cfg.samples, rng_train, l2_shift_ev)
    cal = make_set(paths, cfg, cfg.calibration_samples, rng_cal, l2_shift_ev)
    t_data = time.perf_counter() - t0
    names = train_set["names"][:1] if spec["r1_only"] else train_set["names"]
    cols = [train_set["names"].index(n) for n in names]
    x_scale = float(np.std(train_set["x"][:, :-2]))
    y_mean, y_std = train_set["y"][:, cols].mean(axis=0), train_set["y"][:, cols].std(axis=0) + 1e-9
    norm_x = lambda x: np.concatenate([x[:, :-2] / x_scale, x[:, -2:]], axis=1).astype(np.float32)  # noqa: E731
    norm_y = lambda y: ((y[:, cols] - y_mean) / y_std).astype(np.float32)  # noqa: E731
    with torch_threads(1):
        net = spec["build"](train_set["x"].shape[1], len(names), **cfg.arch)
        losses = _fit(net, spec, norm_x(train_set["x"]), norm_y(train_set["y"]), cfg, rng_fit, progress)
        _half_precision(net)
        net.eval()
        if spec["density"]:  # one set of posterior samples gives the moments and the intervals
            from .flow import sample_moments

            z = net.sample(torch.from_numpy(norm_x(cal["x"])), net.n_samples)
            out = sample_moments(z).numpy()
        else:
            out = run_net(net, norm_x(cal["x"]))
    yc = norm_y(cal["y"])
    half = len(yc) // 2
    rmse = np.sqrt(np.mean((out[..., 0].mean(axis=0)[:half] - yc[:half]) ** 2, axis=0))
    mean, base, spread = ensemble_moments(out, spec["gaussian"], rmse)
    if spec["density"]:
        z = z.numpy()
        scale = _best_interval_scale(yc[:half], z[:, :half])
    else:
        scale = _best_scale(yc[:half], mean[:half], base[:half])
    model = NNModel(net=net, cfg=cfg, names=names, x_scale=x_scale, y_mean=y_mean, y_std=y_std, scale=scale,
                    gaussian=spec["gaussian"], rmse=rmse, shells=model_shells(paths), rwin=r_window(model_shells(paths)),
                    l2_shift_ev=l2_shift_ev, meta={})
    flags = model.flag_statistics(paths, cal["x"], cal["xw"], cal["noise"], cal["p"]["kmin"], cal["p"]["kmax"],
                                  out=out)
    # every statistic's quantile is kept (misfit, misfit_noise, ... for the record); the flag tests spread and ppc
    thresholds = {k: float(np.quantile(v[:half], OOD_QUANTILE)) for k, v in flags.items()}
    model.meta.update(thresholds=thresholds)
    sigma = np.sqrt(base[half:]) * scale
    c1, c2 = coverage(yc[half:], mean[half:], sigma)
    mae = np.mean(np.abs(mean[half:] - yc[half:]), axis=0) * y_std
    held = {k: v[half:] for k, v in flags.items()}
    flagged = np.mean([r is not None for r in model.ood_reasons(held, len(yc) - half)]) if flags else None
    if spec["density"]:
        post = (mean[half:] + scale * (z[:, half:] - mean[half:])) * y_std + y_mean
    else:
        post = model.posterior(cal["x"][half:], POSTERIOR_SAMPLES)
    i1, i2 = interval_coverage(cal["y"][half:, cols], post)
    model.meta.update(
        scores={n: {"mae": float(mae[i]), "coverage_1sigma": float(c1[i]), "coverage_2sigma": float(c2[i]),
                    "interval_68": float(i1[i]), "interval_95": float(i2[i]),
                    "mean_sigma": float(np.mean(sigma[:, i]) * y_std[i])} for i, n in enumerate(names)},
        held_out=int(len(yc) - half), calibrated_on=int(half),
        flagged_fraction=None if flagged is None else float(flagged), losses=[round(v, 5) for v in losses],
        seconds={"data": round(t_data, 2), "total": round(time.perf_counter() - t0, 2)})
    return model
