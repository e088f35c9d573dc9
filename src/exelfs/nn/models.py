"""The network architectures, one registry: ``@register("name")`` on a builder
``(n_in, n_out, **options) -> torch.nn.Module``. Every module maps inputs (B, n_in) to (M, B, n_out, 2):
M ensemble members, and per output a mean and a log-variance (point-estimate designs give a constant
log-variance of 0 and are trained by mean squared error).

- ``ensemble_mlp`` (exelfs's design): M small MLPs (SiLU) with Gaussian heads, trained by Gaussian negative
  log-likelihood, each on its own k-fold split (a deep ensemble), then calibrated by variance scaling.
- ``seed_mlp``: the seed work's fully connected 2500-1500-100-3-1 network, sigmoid activations, SGD with
  learning rate 0.1, R of the first shell only.
- ``seed_cnn``: the seed work's second design: one convolution layer, three dense ReLU layers, SGD, mean
  squared error, k-fold members.
- ``flow_npe``: neural posterior estimation, a conditional normalizing flow over all outputs
  (exelfs.nn.flow), trained by maximum likelihood; its forward gives the posterior's mean and
  log-variance from seeded samples (M = 1).
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURES: dict = {}


def register(name: str, gaussian: bool, optimizer: str, lr: float | None = None, r1_only: bool = False,
             density: bool = False):
    """Register a builder; ``gaussian``: trained by Gaussian NLL (else MSE); ``optimizer``: 'adam'|'sgd';
    ``lr``: the design's own learning rate (None: the config's); ``r1_only``: predicts R1 alone;
    ``density``: a posterior density trained by its own ``net.nll(x, y)`` and sampled by
    ``net.sample(x, n, seed)``."""
    def deco(func):
        ARCHITECTURES[name] = {"build": func, "gaussian": gaussian, "optimizer": optimizer, "lr": lr,
                               "r1_only": r1_only, "density": density}
        return func
    return deco


class Members(nn.Module):
    """M member networks side by side; forward gives (M, B, n_out, 2)."""

    def __init__(self, members, gaussian: bool):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.gaussian = gaussian
        self.n_members = len(members)

    def forward(self, x):
        outs = []
        for m in self.members:
            y = m(x)
            if self.gaussian:
                mu, logvar = y.chunk(2, dim=-1)
                outs.append(torch.stack([mu, logvar.clamp(-12, 8)], dim=-1))
            else:
                outs.append(torch.stack([y, torch.zeros_like(y)], dim=-1))
        return torch.stack(outs)


class _EnsembleLinear(nn.Module):
    """M independent linear layers applied at once (one batched matmul): (M, B, n_in) -> (M, B, n_out)."""

    def __init__(self, m: int, n_in: int, n_out: int):
        super().__init__()
        bound = 1.0 / n_in ** 0.5  # torch.nn.Linear's initialisation, per member
        self.weight = nn.Parameter(torch.empty(m, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(m, 1, n_out).uniform_(-bound, bound))

    def forward(self, x):
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """M MLPs with Gaussian heads evaluated together; forward gives (M, B, n_out, 2) (mean, log-variance)."""

    def __init__(self, n_in: int, n_out: int, members: int, hidden: int, layers: int):
        super().__init__()
        widths = [n_in] + [hidden] * layers
        self.hidden = nn.ModuleList(_EnsembleLinear(members, a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.head = _EnsembleLinear(members, widths[-1], 2 * n_out)
        self.n_members, self.n_out, self.gaussian = members, n_out, True

    def forward(self, x):
        h = x[None].expand(self.n_members, *x.shape)
        for layer in self.hidden:
            h = nn.functional.silu(layer(h))
        y = self.head(h).reshape(self.n_members, x.shape[0], 2, self.n_out)
        return torch.stack([y[:, :, 0], y[:, :, 1].clamp(-12, 8)], dim=-1)


@register("ensemble_mlp", gaussian=True, optimizer="adam")
def ensemble_mlp(n_in: int, n_out: int, members: int = 5, hidden: int = 128, layers: int = 2) -> nn.Module:
    return EnsembleMLP(n_in, n_out, members, hidden, layers)


@register("seed_mlp", gaussian=False, optimizer="sgd", lr=0.1, r1_only=True)
def seed_mlp(n_in: int, n_out: int, members: int = 1) -> nn.Module:
    def one():
        return nn.Sequential(nn.Linear(n_in, 2500), nn.Sigmoid(), nn.Linear(2500, 1500), nn.Sigmoid(),
                             nn.Linear(1500, 100), nn.Sigmoid(), nn.Linear(100, 3), nn.Sigmoid(),
                             nn.Linear(3, n_out))
    return Members([one() for _ in range(members)], gaussian=False)


class _Conv(nn.Module):
    def __init__(self, n_in: int, n_out: int, channels: int = 16, kernel: int = 9):
        super().__init__()
        self.n_signal = n_in - 2  # the last two inputs are the k range
        self.conv = nn.Sequential(nn.Conv1d(1, channels, kernel, stride=2), nn.ReLU())
        n_conv = channels * ((self.n_signal - kernel) // 2 + 1)
        self.dense = nn.Sequential(nn.Linear(n_conv + 2, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                   nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, n_out))

    def forward(self, x):
        c = self.conv(x[:, None, : self.n_signal]).flatten(1)
        return self.dense(torch.cat([c, x[:, self.n_signal:]], dim=1))


@register("seed_cnn", gaussian=False, optimizer="sgd", lr=0.01)
def seed_cnn(n_in: int, n_out: int, members: int = 5) -> nn.Module:
    return Members([_Conv(n_in, n_out) for _ in range(members)], gaussian=False)


@register("flow_npe", gaussian=True, optimizer="adam", density=True)
def flow_npe(n_in: int, n_out: int, **options) -> nn.Module:
    from .flow import FlowNPE

    return FlowNPE(n_in, n_out, **options)
