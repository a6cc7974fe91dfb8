"""Linear regression tasks that share all but a known set of weights: a positive control for
learned per-synapse importance.

Every task's map is y = x W + noise with W [d_in, d_out] (the layout of ``models.deep_linear``
with one layer). The columns of the last ``d_out - specific`` outputs are one fixed map for the
whole family (drawn once from ``family_seed``); the first ``specific`` columns are drawn afresh
per task, entries ~ N(0, 1 / d_in). So by construction the shared weights should stay at their
meta-learned value (a consolidation strength lambda_i -> infinity is Bayes-optimal: their prior
variance is 0) and the task-specific ones must move (Bayes-optimal lambda_i = 2 noise^2 d_in /
(K d_out), finite, for the mean-squared error over K support points and d_out outputs).

Input coordinates have scales geometric from ``scale_max`` to ``scale_min`` (x_k ~ N(0,
scale_k^2)), so a model's sensitivity to a weight (its Fisher information, E x_k^2 for a
linear map) varies across synapses but, by construction, not with whether the weight is shared.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from metalab.errors import require
from metalab.tasks.base import Task


@dataclass(frozen=True)
class SharedWeights:
    """Task distribution over linear maps equal outside ``specific`` known output columns."""

    d_in: int = 8
    d_out: int = 8
    specific: int = 4
    """outputs whose weights are drawn per task (the first ones)"""
    noise: float = 0.3
    scale_max: float = 2.0
    scale_min: float = 0.5
    k_support: int = 10
    k_query: int = 20
    family_seed: int = 0

    def __post_init__(self) -> None:
        require(self.d_in >= 1 and self.d_out >= 2, "--d-out",
                "need at least one input and two outputs")
        require(1 <= self.specific < self.d_out, "--specific",
                f"must be between 1 and d_out - 1 = {self.d_out - 1} (some outputs shared)")
        require(0 < self.scale_min <= self.scale_max, "--scale-min",
                "input scales must be positive, scale_min <= scale_max")
        require(self.noise >= 0, "--noise", "must be non-negative")

    def scales(self) -> jax.Array:
        """The input scales [d_in], largest first."""
        return jnp.geomspace(self.scale_max, self.scale_min, self.d_in)

    def shared_map(self) -> jax.Array:
        """The family's fixed map [d_in, d_out] (its first ``specific`` columns unused)."""
        key = jax.random.PRNGKey(self.family_seed)
        return jax.random.normal(key, (self.d_in, self.d_out)) / jnp.sqrt(self.d_in)

    def mask(self) -> np.ndarray:
        """True where a weight is the same in every task (the synapses to keep), [d_in, d_out]."""
        out = np.ones((self.d_in, self.d_out), bool)
        out[:, : self.specific] = False
        return out

    def sample_maps(self, key: jax.Array, n: int) -> jax.Array:
        """The maps W [n, d_in, d_out] of n tasks."""
        own = jax.random.normal(key, (n, self.d_in, self.specific)) / jnp.sqrt(self.d_in)
        shared = jnp.broadcast_to(self.shared_map()[:, self.specific:],
                                  (n, self.d_in, self.d_out - self.specific))
        return jnp.concatenate([own, shared], axis=-1)

    def sample(self, key: jax.Array, n: int) -> Task:
        """A batch of n tasks: x [n, K, d_in], y = x W + noise [n, K, d_out]."""
        kw, kx, ke = jax.random.split(key, 3)
        w = self.sample_maps(kw, n)
        total = self.k_support + self.k_query
        x = jax.random.normal(kx, (n, total, self.d_in)) * self.scales()[None, None]
        y = jnp.einsum("nkd,ndm->nkm", x, w) + self.noise * jax.random.normal(
            ke, (n, x.shape[1], self.d_out))
        k = self.k_support
        return Task(x[:, :k], y[:, :k], x[:, k:], y[:, k:])
