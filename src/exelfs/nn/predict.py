"""A trained, calibrated network: predictions with uncertainties, the unseen-spectrum flags, save and load.

``NNModel.batch(paths, k, chi, k_range, l2_shift_ev)`` gives, per spectrum, R, N and sigma2 of every
modelled shell with 1-sigma errors (calibrated on held-out synthetic data), delta E0 and S0^2, and an
``ood`` flag: the ensemble members disagree beyond what held-out data showed, or the posterior-predictive
check fails (exelfs.nn.check: the forward model, refined from the network's answer within the prior, misses
the data by more than noise and theory allow, beyond what held-out data showed), or the k range lies
outside the trained one. Units: R A, sigma2 A^2, E0 eV, k 1/A.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..theory.shells import group_shells
from .config import TrainConfig
from .data import K_INPUT, clean_chi, features, noise_level, on_fine_grid, unusable_input

WEIGHTS, META = "weights.pt", "meta.json"
OUTER_SIGMA2 = 0.016  # A^2: outer shells in the reconstruction (a nuisance the network does not report)
PPC_CALIBRATION, PPC_SEED = 2000, 7  # held-out spectra for the 'ppc' threshold of models saved without one


class ModelFileError(InputError):
    """A saved model that is damaged or is not an exelfs network."""


@dataclass
class NNModel:
    """Network, its recipe and calibration. names: outputs ('r1', 'n1', 'sigma2_1', ..., 'e0_shift',
    's02'); x_scale, y_mean, y_std: input/output scaling; scale: calibrated sigma factors per output;
    rmse: held-out RMS error (standardised) that point-estimate designs use as their sigma; shells: the
    modelled shells; rwin: R window (A); meta: scores, thresholds, provenance."""

    net: object
    cfg: TrainConfig
    names: list
    x_scale: float
    y_mean: np.ndarray
    y_std: np.ndarray
    scale: np.ndarray
    gaussian: bool
    rmse: np.ndarray
    shells: list
    rwin: tuple
    l2_shift_ev: float | None
    meta: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- predictions
    def _norm_x(self, x):
        return np.concatenate([x[:, :-2] / self.x_scale, x[:, -2:]], axis=1).astype(np.float32)

    def moments(self, x, out=None):
        """(mean, sigma) in physical units and the members' spread (standardised), for raw inputs x."""
        from .train import ensemble_moments, run_net, torch_threads

        if out is None:
            with torch_threads(1):
                out = run_net(self.net, self._norm_x(x))
        mean, base, spread = ensemble_moments(out, self.gaussian, self.rmse)
        return mean * self.y_std + self.y_mean, np.sqrt(base) * self.scale * self.y_std, spread

    def posterior(self, x, n: int = 1000, seed: int | None = None) -> np.ndarray:
        """(n, B, T) posterior samples in physical units for raw inputs x (seeded; None: the flow's
        SAMPLE_SEED, which its predictions use too): a density design's own samples, scaled about their
        mean by the calibrated scale (shape and correlations kept), else the ensemble's Gaussian mixture
        (a member per sample, point designs with their held-out RMS error as width) widened about the
        ensemble mean by the calibrated scale."""
        import torch

        from .flow import SAMPLE_SEED
        from .models import ARCHITECTURES
        from .train import run_net, torch_threads

        seed = SAMPLE_SEED if seed is None else seed
        xn = self._norm_x(x)
        with torch_threads(1):
            if ARCHITECTURES[self.cfg.architecture]["density"]:
                z = self.net.sample(torch.from_numpy(xn), n, seed=seed).numpy()
                mean = z.mean(axis=0)
                return (mean + self.scale * (z - mean)) * self.y_std + self.y_mean
            out = run_net(self.net, xn)
        mu = out[..., 0]
        sd = np.sqrt(np.exp(out[..., 1])) if self.gaussian else np.broadcast_to(self.rmse, mu.shape[1:])[None]
        rng = np.random.default_rng(seed)
        member = rng.integers(mu.shape[0], size=(n, mu.shape[1]))
        cols = np.arange(mu.shape[1])[None, :]
        sd = np.broadcast_to(sd, mu.shape)
        z = mu[member, cols] + sd[member, cols] * rng.standard_normal((n, *mu.shape[1:]))
        mean = mu.mean(axis=0)
        return (mean + self.scale * (z - mean)) * self.y_std + self.y_mean

    def _params(self, mean, paths) -> dict | None:
        """Parameter sets (for clean_chi) at the predicted values; None when the model predicts R1 only."""
        if "s02" not in self.names:
            return None
        shells_all = group_shells(paths)
        nmod = len(self.shells)
        reff = np.array([s["reff"] for s in shells_all])
        col = {n: mean[:, i] for i, n in enumerate(self.names)}
        dr = np.stack([col[f"r{i + 1}"] - reff[i] for i in range(nmod)], axis=1)
        alpha = np.mean(dr / reff[:nmod], axis=1, keepdims=True)
        b = len(mean)
        deltar = np.concatenate([dr, alpha * reff[None, nmod:]], axis=1)
        nscale = np.concatenate([np.stack([col[f"n{i + 1}"] / self.shells[i]["n"] for i in range(nmod)], axis=1),
                                 np.ones((b, len(reff) - nmod))], axis=1)
        sigma2 = np.concatenate([np.stack([np.clip(col[f"sigma2_{i + 1}"], 0, None) for i in range(nmod)], axis=1),
                                 np.full((b, len(reff) - nmod), OUTER_SIGMA2)], axis=1)
        return {"deltar": deltar, "nscale": np.clip(nscale, 0, None), "sigma2": sigma2,
                "s02": np.clip(col["s02"], 0.05, None), "e0": col["e0_shift"], "l2w": np.full(b, 0.5)}

    def flag_statistics(self, paths, x, xw, noise, kmin, kmax, out=None, mean=None, spread=None,
                        refine_above=None) -> dict:
        """Per spectrum: 'spread' (members' disagreement on R1), 'misfit' (R-factor of the forward model at
        the prediction against the Fourier-filtered data), 'misfit_noise' (its residual over the filtered
        noise) and the posterior-predictive check of exelfs.nn.check: 'ppc', 'refined_misfit',
        'residual_noise' (``refine_above``: see check.ppc_statistics)."""
        from .check import filtered_noise_var, ppc_statistics

        if mean is None:
            mean, _, spread = self.moments(x, out)
        stats = {"spread": spread[:, 0].astype(float)} if self.net.n_members > 1 else {}
        p = self._params(mean, paths)
        if p is None:
            return stats
        chi = clean_chi(paths, group_shells(paths), p, self.l2_shift_ev)
        _, xw_pred = features(chi, kmin, kmax, self.rwin, "windowed")
        inside = (K_INPUT[None, :] >= np.reshape(kmin, (-1, 1))) & (K_INPUT[None, :] <= np.reshape(kmax, (-1, 1)))
        res = np.where(inside, xw - xw_pred, 0.0)
        ssq = np.maximum(np.sum(np.where(inside, xw, 0.0) ** 2, axis=1), 1e-12)
        vn = np.where(inside, filtered_noise_var(noise, kmin, kmax, self.rwin), 0.0).sum(axis=1)
        stats["misfit"] = np.sum(res ** 2, axis=1) / ssq
        stats["misfit_noise"] = np.sum(res ** 2, axis=1) / np.maximum(vn, 1e-12)
        stats.update(ppc_statistics(self, paths, mean, xw, xw_pred, noise, kmin, kmax, refine_above))
        return stats

    def ppc_threshold(self, paths) -> float:
        """The 'ppc' threshold; models saved before the check existed get it here, once, from a seeded
        held-out synthetic set of their own recipe (PPC_CALIBRATION spectra)."""
        t = self.meta.setdefault("thresholds", {})
        if "ppc" not in t:
            from .data import make_set
            from .train import OOD_QUANTILE

            held = make_set(paths, self.cfg, PPC_CALIBRATION, np.random.default_rng(PPC_SEED), self.l2_shift_ev)
            stats = self.flag_statistics(paths, held["x"], held["xw"], held["noise"], held["p"]["kmin"],
                                         held["p"]["kmax"])
            t["ppc"] = float(np.quantile(stats["ppc"], OOD_QUANTILE))
        return t["ppc"]

    def ood_reasons(self, stats: dict, n: int) -> list:
        """Per spectrum (n of them) None, or the sentence saying why the model has not seen the like of it:
        the members disagree, or the posterior-predictive check fails (either beyond what held-out
        synthetic spectra showed)."""
        t = self.meta.get("thresholds", {})
        out = [None] * n
        for i in range(n):
            if "spread" in stats and stats["spread"][i] > t["spread"]:
                out[i] = (f"the ensemble members disagree on R1 ({stats['spread'][i]:.2f} standard units; held-out "
                          f"synthetic spectra stay below {t['spread']:.2f})")
            elif "ppc" in stats and "ppc" in t and stats["ppc"][i] > t["ppc"]:
                out[i] = (f"no spectrum the model was trained on explains the data: the residual of the refined "
                          f"forward model is {stats['ppc'][i]:.1f} x what noise and theory allow (R-factor "
                          f"{stats['refined_misfit'][i]:.3f}, {stats['residual_noise'][i]:.1f} x the noise; "
                          f"held-out synthetic spectra stay below {t['ppc']:.1f})")
        return out

    def k_range_used(self, k_range) -> tuple:
        """The part of k_range (1/A) the network reads: within the trained kmin and kmax ranges."""
        a = self.cfg.artefacts
        return max(float(k_range[0]), a.kmin[0]), min(float(k_range[1]), a.kmax[1])

    def batch(self, paths, k, chi, k_range, l2_shift_ev=None, samples: int = 0, energy=None, signal=None,
              e0=None) -> dict:
        """The contract's dict for chi (n_spectra, len(k)), unweighted, on one k grid (1/A); besides the
        contract's keys, "ood_reason" (per spectrum a sentence or None) and the flag statistics
        "flag_spread", "flag_misfit", "flag_misfit_noise", "flag_ppc", "flag_refined_misfit",
        "flag_residual_noise" (float arrays; see flag_statistics). With ``samples`` > 0 also
        "posterior_samples" (samples, n_spectra, T) in the order of ``self.names`` (physical units) and
        "correlation" (n_spectra, T, T), their correlation matrices. A direct-mode network reads
        instead the power-law-subtracted EELS ``signal`` (n_spectra, len(energy)) on ``energy`` (eV) with
        the extraction's ``e0`` (eV, one or per spectrum); chi still feeds the unseen-spectrum flags."""
        kmin_used, kmax_used = self.k_range_used(k_range)
        fine = on_fine_grid(k, chi)
        if self.cfg.input_mode == "direct":
            from .chain import direct_input

            if energy is None or signal is None or e0 is None:
                raise InputError("this network reads the EELS spectrum itself (direct mode): give the energy "
                                 "axis, the power-law-subtracted signal and E0, not chi(k) alone")
            _, xw = features(fine, kmin_used, kmax_used, self.rwin, "windowed")
            x = direct_input(energy, signal, e0, kmin_used, kmax_used)
            if len(x) != len(xw):
                raise InputError(f"{len(x)} spectra given for {len(xw)} chi(k) rows: give one of each")
        else:
            x, xw = features(fine, kmin_used, kmax_used, self.rwin, self.cfg.input_mode)
        noise = noise_level(fine, kmin_used, kmax_used)
        mean, sigma, spread = self.moments(x)
        stats = self.flag_statistics(paths, x, xw, noise, np.full(len(x), kmin_used), np.full(len(x), kmax_used),
                                     mean=mean, spread=spread,
                                     refine_above=self.ppc_threshold(paths) if "s02" in self.names else None)
        reasons = [unusable_input(row, k_range, self.cfg.artefacts) or why
                   for row, why in zip(fine, self.ood_reasons(stats, len(x)))]
        out = {}
        for i, n in enumerate(self.names):
            out[n], out[f"{n}_err"] = mean[:, i].astype(float), sigma[:, i].astype(float)
        out["ood"] = np.array([r is not None for r in reasons])
        out["ood_reason"] = reasons
        out.update({f"flag_{k}": v for k, v in stats.items()})
        out["shells"] = [{"scatterer": s["scatterer"], "r_ref": round(float(s["reff"]), 4), "n_ref": float(s["n"])}
                         for s in self.shells]
        if samples:
            post = self.posterior(x, samples)
            out["posterior_samples"] = post
            out["correlation"] = np.stack([np.corrcoef(post[:, i].T) for i in range(post.shape[1])])
        return out

    def curves(self, paths, k, chi, k_range, answer, kweight: int = 2) -> dict:
        """The forward model at the network's answer beside one spectrum's chi (k 1/A, unweighted), on
        the keys of the fit's curves: "k" (the fine grid), "chi", "chi_model", "kwin", "r" (A), "chir",
        "chir_model" (complex chi(R) of k^kweight chi, Larch's normalisation), "rwin"; and what the network
        reads, k^2 chi Fourier-filtered to its R window on its k grid: "filtered_k", "filtered_chi",
        "filtered_chi_model". ``answer``: the network's values (1, T) in the order of ``self.names`` (from
        :meth:`batch`; a direct-mode network does not read chi, so they cannot come from it here)."""
        from .data import K_FINE, KSTEP, NFFT, _kwindow, _rmask

        kmin, kmax = self.k_range_used(k_range)
        fine = on_fine_grid(k, chi)[:1]
        _, xw = features(fine, kmin, kmax, self.rwin, "windowed")
        p = self._params(np.atleast_2d(answer), paths)
        if p is None:
            return {}
        model = clean_chi(paths, group_shells(paths), p, self.l2_shift_ev)
        _, xw_model = features(model, kmin, kmax, self.rwin, "windowed")
        kwin = _kwindow([kmin], [kmax])[0]
        r = np.pi / (KSTEP * NFFT) * np.arange(NFFT // 2 + 1)
        keep = r <= 10.0

        def ft(c):
            return (np.fft.rfft(c[0] * K_FINE ** kweight * kwin, NFFT) * KSTEP / np.sqrt(np.pi))[keep]

        return {"k": K_FINE, "chi": fine[0], "chi_model": model[0], "kwin": kwin, "r": r[keep], "chir": ft(fine),
                "chir_model": ft(model), "rwin": _rmask(self.rwin)[keep], "filtered_k": K_INPUT,
                "filtered_chi": xw[0], "filtered_chi_model": xw_model[0]}

    # ---------------------------------------------------------------- files
    def save(self, folder) -> Path:
        """Write weights.pt (float16 state dict) and meta.json (recipe, scores, sha256 of the weights)."""
        import torch

        from .. import __version__

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.half() if v.is_floating_point() else v for k, v in self.net.state_dict().items()}
        torch.save(state, folder / WEIGHTS)
        meta = {**self.meta, "format": "exelfs-nn-1", "exelfs_version": __version__, "torch_version": torch.__version__,
                "edge": self.cfg.edge, "structure": self.cfg.structure, "kind": self.cfg.kind,
                "absorber": self.cfg.edge.split("_")[0], "recipe": self.cfg.to_dict(), "names": self.names,
                "x_scale": self.x_scale, "y_mean": self.y_mean.tolist(), "y_std": self.y_std.tolist(),
                "scale": self.scale.tolist(), "gaussian": self.gaussian, "rmse": self.rmse.tolist(),
                "shells": [{"scatterer": s["scatterer"], "reff": s["reff"], "n": s["n"]} for s in self.shells],
                "rwin": list(self.rwin), "l2_shift_ev": self.l2_shift_ev, "n_inputs": int(K_INPUT.size + 2),
                "sha256": sha256(folder / WEIGHTS)}
        (folder / META).write_text(json.dumps(meta, indent=1))
        return folder


def sha256(path: Path) -> str:
    """Hex sha256 of a file (the checksum saved networks carry)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_network(folder, fmt: str, what: str, hint: str, build) -> tuple[dict, object]:
    """(meta, network in eval mode) of a saved folder whose meta.json has format ``fmt``; ``build(meta)`` makes
    the empty network the float16 weights load into. ModelFileError (an InputError, one sentence naming
    ``what`` and ending with ``hint``) when files are missing, damaged or tampered with."""
    import torch

    folder = Path(folder)
    try:
        meta = json.loads((folder / META).read_text())
        if meta.get("format") != fmt:
            raise ValueError(f"not an {what}")
        if sha256(folder / WEIGHTS) != meta["sha256"]:
            raise ModelFileError(f"the {what} in {folder} is damaged: {WEIGHTS} does not match the sha256 in "
                                 f"{META}; {hint}")
        state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
        net = build(meta)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except ModelFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"{folder} does not hold a readable {what} ({type(exc).__name__}: "
                             f"{str(exc)[:80]}); {hint}") from None
    net.eval()
    return meta, net


def load_model(folder) -> NNModel:
    """A saved model; ModelFileError (an InputError) when files are missing, damaged or tampered with."""
    from .models import ARCHITECTURES

    def build(meta):
        cfg = TrainConfig.from_dict(meta["recipe"])
        return ARCHITECTURES[cfg.architecture]["build"](meta["n_inputs"], len(meta["names"]), **cfg.arch)

    meta, net = read_network(folder, "exelfs-nn-1", "exelfs network", "train one again with exelfs train", build)
    cfg = TrainConfig.from_dict(meta["recipe"])
    keys = ("thresholds", "scores", "held_out", "calibrated_on", "flagged_fraction", "losses", "seconds",
            "paths_signature", "train_seconds")
    return NNModel(net=net, cfg=cfg, names=meta["names"], x_scale=meta["x_scale"],
                   y_mean=np.array(meta["y_mean"], np.float32), y_std=np.array(meta["y_std"], np.float32),
                   scale=np.array(meta["scale"]), gaussian=meta["gaussian"], rmse=np.array(meta["rmse"]),
                   shells=meta["shells"], rwin=tuple(meta["rwin"]), l2_shift_ev=meta["l2_shift_ev"],
                   meta={k: meta[k] for k in keys if k in meta})
