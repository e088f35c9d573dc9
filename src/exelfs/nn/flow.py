"""Neural posterior estimation: a conditional normalizing flow over all outputs, given the network input.

``FlowNPE`` is a small MLP embedding of the input features (k^2 chi on the network's k grid and the k
range) that conditions a neural spline flow (``zuko.flows.NSF``, coupling transforms so that sampling
takes two passes) over the standardised targets (r_i, n_i, sigma2_i, e0_shift, s02). It is trained by
maximum likelihood on the same synthetic spectra as the ensemble, so its posterior holds what the
Gaussian heads cannot: bounded, skewed marginals (N and S0^2 fill their priors) and the correlations
N-S0^2-sigma2 and R-E0.

Why zuko and not the ``sbi`` package: with training data drawn by ``exelfs.nn.data.make_set`` already,
neural posterior estimation is a conditional density fit, which zuko gives on torch alone; sbi brings
pyro, arviz, pyknos/nflows, tensorboard and more for simulation and inference loops the project does not
use.

Samples are seeded (one ``torch.Generator`` per call), so predictions repeat exactly. ``forward`` turns
samples into the (M=1, B, T, 2) mean and log-variance of the other designs, so the calibration,
scores and unseen-spectrum flags of ``exelfs.nn.train`` and ``exelfs.nn.predict`` apply unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

SAMPLE_SEED = 12345  # the posterior samples behind every prediction


class FlowNPE(nn.Module):
    """p(theta | x) for standardised targets theta (T,) and inputs x (n_in,); ``n_samples`` per spectrum
    give the moments of ``forward``."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 128, context: int = 32, transforms: int = 4,
                 bins: int = 8, flow_hidden: int = 96, n_samples: int = 100):
        import zuko

        super().__init__()
        self.embed = nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                   nn.Linear(hidden, context))
        self.flow = zuko.flows.NSF(n_out, context, bins=bins, transforms=transforms, passes=2,
                                   hidden_features=(flow_hidden, flow_hidden))
        self.n_members, self.n_out, self.gaussian, self.n_samples = 1, n_out, True, n_samples

    def nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per output of the targets y (B, T) given inputs x (B, n_in)."""
        return -self.flow(self.embed(x)).log_prob(y).mean() / self.n_out

    def sample(self, x: torch.Tensor, n: int, seed: int = SAMPLE_SEED, chunk: int = 256) -> torch.Tensor:
        """(n, B, T) posterior samples (standardised) for inputs x (B, n_in), without gradients; the
        same seed gives the same samples."""
        gen = torch.Generator().manual_seed(int(seed))
        out = []
        with torch.no_grad():
            for s in range(0, x.shape[0], chunk):
                dist = self.flow(self.embed(x[s:s + chunk]))
                z = torch.randn((n, *dist.batch_shape, self.n_out), generator=gen)
                out.append(dist.transform.inv(z))
        return torch.cat(out, dim=1) if out else torch.zeros((n, 0, self.n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(1, B, T, 2): per output the posterior mean and log-variance from ``n_samples`` samples."""
        return sample_moments(self.sample(x, self.n_samples))


def sample_moments(s: torch.Tensor) -> torch.Tensor:
    """(1, B, T, 2) mean and log-variance over the first axis of samples s (n, B, T)."""
    var = s.var(dim=0).clamp_min(1e-10)
    return torch.stack([s.mean(dim=0), var.log()], dim=-1)[None]
