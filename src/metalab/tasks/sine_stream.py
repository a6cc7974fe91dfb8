"""A stream of sinusoids learned one after another: the continual-learning regression task of
Javed and White 2019 ("Meta-learning representations for continual learning", incremental sine
waves), used by von Oswald et al. 2021 to measure interference.

A stream holds T sinusoids y = A sin(x - p) (A, p, x drawn as in ``Sinusoid``). The input of
function t is (x, one-hot(t)), so one network can represent all T at once and forgetting shows
as earlier functions being overwritten by later updates.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from metalab.tasks.base import Task
from metalab.tasks.sinusoid import Sinusoid


@dataclass(frozen=True)
class SineStream:
    """``sample(key, n)`` gives n streams: support/query x [n, T, K, 1 + T], y [n, T, K, 1]."""

    n_functions: int = 10
    k_support: int = 10
    k_query: int = 10

    @property
    def input_dim(self) -> int:
        """Size of one input: x and the one-hot function index."""
        return 1 + self.n_functions

    def sample(self, key: jax.Array, n: int) -> Task:
        """n streams of ``n_functions`` sinusoids each (a pure function of ``key``)."""
        t = self.n_functions
        flat = Sinusoid(self.k_support, self.k_query).sample(key, n * t)
        onehot = jnp.eye(t, dtype=flat.support_x.dtype)

        def shape(x: jax.Array, with_id: bool) -> jax.Array:
            x = x.reshape(n, t, *x.shape[1:])
            if not with_id:
                return x
            ids = jnp.broadcast_to(onehot[None, :, None, :], (n, t, x.shape[2], t))
            return jnp.concatenate([x, ids], axis=-1)

        return Task(
            shape(flat.support_x, True), shape(flat.support_y, False),
            shape(flat.query_x, True), shape(flat.query_y, False),
        )
