"""Contextual bandits whose arms share low-rank reward structure (Rabinowitz 2019, sec. 5).

Each task is a reward map W = U diag(c) V^T [arms, d]: in context x ~ N(0, I_d) pulling arm a
pays (W x)_a + N(0, noise^2), and only the pulled arm's reward is seen. The r modes u_i (over
arms) are orthogonal to the all-ones vector, so every mode is a contrast between arms: adding
the same number to every arm changes no choice, and a softmax policy's logits, which are
defined only up to such a shift, can be read out on the modes exactly like a regression map.
Priors as in ``LinearRegression``: ``basis="random"`` (U, V Haar per task, c = the spectrum)
or ``basis="fixed"`` (U, V fixed, c_i ~ N(0, s_i^2): an exactly Gaussian prior).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp

from metalab.tasks.base import Task
from metalab.tasks.linear import LinearTruth, haar_pair


@dataclass(frozen=True)
class LowRankBandit:
    """Task distribution over contextual bandits; every sampler is a pure function of a key."""

    n_arms: int = 5
    d_context: int = 4
    rank: int = 3
    s_max: float = 3.0
    s_min: float = 0.5
    basis: Literal["random", "fixed"] = "random"
    basis_seed: int = 0
    noise: float = 0.3
    k_support: int = 20
    k_query: int = 20

    def singular_values(self) -> jax.Array:
        """The spectrum s [rank], geometric from s_max to s_min."""
        return jnp.geomspace(self.s_max, self.s_min, self.rank)

    def contrasts(self) -> jax.Array:
        """An orthonormal basis [arms, arms - 1] of the vectors over arms that sum to zero."""
        q, _ = jnp.linalg.qr(jnp.eye(self.n_arms) - 1.0 / self.n_arms)
        return q[:, : self.n_arms - 1]

    def _modes(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        ku, kv = jax.random.split(key)
        u, v = haar_pair(ku, kv, self.n_arms - 1, self.d_context, self.rank)
        return self.contrasts() @ u, v

    def sample_truth(self, key: jax.Array, n: int) -> LinearTruth:
        """Reward maps of n tasks as modes u [n, arms, r], strengths c [n, r], v [n, d, r]."""
        s = self.singular_values()
        if self.basis == "fixed":
            u, v = self._modes(jax.random.PRNGKey(self.basis_seed))
            coef = s[None] * jax.random.normal(key, (n, self.rank))
            return LinearTruth(jnp.broadcast_to(u, (n, *u.shape)), coef,
                               jnp.broadcast_to(v, (n, *v.shape)))
        u, v = jax.vmap(self._modes)(jax.random.split(key, n))
        return LinearTruth(u, jnp.broadcast_to(s, (n, self.rank)), v)

    def rewards(self, key: jax.Array, w: jax.Array, x: jax.Array) -> jax.Array:
        """Noisy rewards [..., arms] of every arm for maps w [..., arms, d], contexts x [..., d]."""
        mean = jnp.einsum("...ad,...d->...a", w, x)
        return mean + self.noise * jax.random.normal(key, mean.shape)

    def sample(self, key: jax.Array, n: int) -> Task:
        """n tasks as full-information regression data: contexts x [n, K, d] and every arm's
        noisy reward y [n, K, arms] (a bandit agent sees only the pulled arm's)."""
        k_truth, kx, ke = jax.random.split(key, 3)
        w = self.sample_truth(k_truth, n).maps()
        x = jax.random.normal(kx, (n, self.k_support + self.k_query, self.d_context))
        y = self.rewards(ke, w[:, None], x)
        k = self.k_support
        return Task(x[:, :k], y[:, :k], x[:, k:], y[:, k:])

    def features(self, x: jax.Array, arm: jax.Array) -> jax.Array:
        """phi [..., arms d] with E[reward of ``arm`` in x] = phi @ W.reshape(arms d)."""
        onehot = jax.nn.one_hot(arm, self.n_arms, dtype=x.dtype)
        return (onehot[..., :, None] * x[..., None, :]).reshape(*x.shape[:-1], -1)

    def prior(self) -> tuple[jax.Array, jax.Array]:
        """Mean [p] and factor L [p, q] of the prior covariance L L^T of vec(W), p = arms d:
        exact for ``fixed``; for ``random`` its exact first two moments (isotropic on the
        contrasts: sum(s^2) / ((arms - 1) d) times P P^T (x) I)."""
        p = self.n_arms * self.d_context
        s = self.singular_values()
        if self.basis == "fixed":
            u, v = self._modes(jax.random.PRNGKey(self.basis_seed))
            modes = jnp.einsum("ar,dr->rad", u, v).reshape(self.rank, p)
            return jnp.zeros((p,)), (modes * s[:, None]).T
        scale = jnp.sqrt(jnp.sum(s**2) / ((self.n_arms - 1) * self.d_context))
        return jnp.zeros((p,)), scale * jnp.kron(self.contrasts(), jnp.eye(self.d_context))

