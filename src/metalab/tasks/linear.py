"""Linear regression tasks y = W x + noise with a controlled singular spectrum (Rabinowitz 2019).

Each task's map is W = U diag(c) V^T with U [m, r], V [d, r] orthonormal columns and
r = min(d_in, d_out) modes, inputs x ~ N(0, I) (whitened, as in Saxe et al. 2014). Two priors:

- ``basis="random"`` (Rabinowitz 2019): U, V Haar-random per task, c = s (the spectrum) fixed.
  The prior is rotation invariant, mean 0 and isotropic covariance sum(s^2) / (m d) per entry;
  it is not Gaussian, so the Gaussian posterior mean under these two moments is the best
  *linear* estimator, not the exact Bayes posterior mean.
- ``basis="fixed"``: U, V fixed for the family (from ``basis_seed``), c_i ~ N(0, s_i^2).
  vec(W) is then exactly Gaussian with covariance sum_i s_i^2 vec(u_i v_i^T) vec(u_i v_i^T)^T,
  so the Gaussian posterior mean is the exact Bayes-optimal learner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from metalab.tasks.base import Task


class LinearTruth(NamedTuple):
    """True modes of n tasks: u [n, m, r], coef [n, r] (signed strengths c_i), v [n, d, r]."""

    u: jax.Array
    coef: jax.Array
    v: jax.Array

    def maps(self) -> jax.Array:
        """W = U diag(c) V^T, shape [n, m, d]."""
        return jnp.einsum("nmr,nr,ndr->nmd", self.u, self.coef, self.v)


@dataclass(frozen=True)
class LinearRegression:
    """Task distribution over linear maps; ``sample`` is a pure function of the key."""

    d_in: int = 5
    d_out: int = 5
    s_max: float = 3.0
    s_min: float = 0.3
    shape: Literal["geometric", "linear", "flat"] = "geometric"
    basis: Literal["random", "fixed"] = "random"
    basis_seed: int = 0
    noise: float = 0.1
    k_support: int = 20
    k_query: int = 20

    @property
    def rank(self) -> int:
        """Number of singular modes r = min(d_in, d_out)."""
        return min(self.d_in, self.d_out)

    def singular_values(self) -> jax.Array:
        """The spectrum s [r], largest first."""
        r = self.rank
        if self.shape == "flat" or r == 1:
            return jnp.full((r,), self.s_max)
        if self.shape == "linear":
            return jnp.linspace(self.s_max, self.s_min, r)
        return jnp.geomspace(self.s_max, self.s_min, r)

    def fixed_basis(self) -> tuple[jax.Array, jax.Array]:
        """U [m, r] and V [d, r] shared by every task when ``basis="fixed"``."""
        ku, kv = jax.random.split(jax.random.PRNGKey(self.basis_seed))
        return haar_pair(ku, kv, self.d_out, self.d_in, self.rank)

    def sample_truth(self, key: jax.Array, n: int) -> LinearTruth:
        """Modes and strengths of n tasks."""
        s = self.singular_values()
        if self.basis == "fixed":
            u, v = self.fixed_basis()
            coef = s[None, :] * jax.random.normal(key, (n, self.rank))
            return LinearTruth(jnp.broadcast_to(u, (n, *u.shape)), coef,
                               jnp.broadcast_to(v, (n, *v.shape)))
        ku, kv = jax.random.split(key)
        u, v = jax.vmap(lambda a, b: haar_pair(a, b, self.d_out, self.d_in, self.rank))(
            jax.random.split(ku, n), jax.random.split(kv, n))
        return LinearTruth(u, jnp.broadcast_to(s, (n, self.rank)), v)

    def sample(self, key: jax.Array, n: int) -> Task:
        """A batch of n tasks: x [n, K, d_in] ~ N(0, I), y [n, K, d_out] with Gaussian noise."""
        k_truth, kx, ke = jax.random.split(key, 3)
        w = self.sample_truth(k_truth, n).maps()
        total = self.k_support + self.k_query
        x = jax.random.normal(kx, (n, total, self.d_in))
        y = jnp.einsum("nmd,nkd->nkm", w, x)
        y = y + self.noise * jax.random.normal(ke, y.shape)
        k = self.k_support
        return Task(x[:, :k], y[:, :k], x[:, k:], y[:, k:])

    def features(self, x: jax.Array) -> jax.Array:
        """phi(x) [..., m, m d] with y = phi(x) @ W.reshape(m d) (row-major vec)."""
        eye = jnp.eye(self.d_out, dtype=x.dtype)
        phi = jnp.einsum("jl,...k->...jlk", eye, x)
        return phi.reshape(*x.shape[:-1], self.d_out, self.d_out * self.d_in)

    def prior(self) -> tuple[jax.Array, jax.Array]:
        """Gaussian prior of vec(W): mean [p] and a factor L [p, q] with covariance L L^T."""
        p = self.d_out * self.d_in
        s = self.singular_values()
        if self.basis == "fixed":
            u, v = self.fixed_basis()
            modes = jnp.einsum("mr,dr->rmd", u, v).reshape(self.rank, p)
            return jnp.zeros((p,)), (modes * s[:, None]).T
        return jnp.zeros((p,)), jnp.sqrt(jnp.sum(s**2) / p) * jnp.eye(p)


def haar_pair(ku: jax.Array, kv: jax.Array, n_u: int, n_v: int, r: int
              ) -> tuple[jax.Array, jax.Array]:
    """The first r columns of two independent Haar-random orthogonal matrices, n_u x n_u and
    n_v x n_v (QR with sign fix), from one batched QR call.

    Why one call: jaxlib 0.10's CPU LAPACK kernels split a batch over XLA's thread pool and
    wait for the pieces, so two factorisations running at once on a 2-thread pool each hold
    the thread the other waits for, and the program never finishes (a learning-dynamics run;
    the analysis tests; jax-ml/jax 859992407d stops the splitting after 0.10.2). Each
    Gaussian matrix sits in the top-left block of an identity of the larger size, whose QR is
    block-diagonal: the block's own Q, then the identity.
    """
    n = max(n_u, n_v)
    g = jnp.stack([_in_identity(jax.random.normal(ku, (n_u, n_u)), n),
                   _in_identity(jax.random.normal(kv, (n_v, n_v)), n)])
    q, rr = jnp.linalg.qr(g)
    cols = q * jnp.sign(jnp.diagonal(rr, axis1=-2, axis2=-1))[..., None, :]
    return cols[0, :n_u, :r], cols[1, :n_v, :r]


def _in_identity(g: jax.Array, n: int) -> jax.Array:
    return jnp.eye(n, dtype=g.dtype).at[: g.shape[0], : g.shape[1]].set(g)
