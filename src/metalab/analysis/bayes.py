"""The Bayes-optimal learner of a linear-Gaussian task family, in closed form.

Targets are y = phi(x) w + noise with w ~ N(mu, L L^T) and noise ~ N(0, sigma^2 I). With
A = Phi L, the posterior mean after the observed samples is

    E[w | data] = mu + L (A^T A + sigma^2 I)^-1 A^T (y - Phi mu)

(the precision form; it works for a rank-deficient prior covariance). Under squared error
this is the prediction of the Bayes-optimal learner (Bishop 2006, sec. 3.3), the reference
Rabinowitz (2019) compares meta-learners against.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def posterior_mean(
    phi: jax.Array,
    y: jax.Array,
    mean: jax.Array,
    factor: jax.Array,
    noise: float,
    mask: jax.Array | None = None,
) -> jax.Array:
    """Posterior mean [p] of w from samples phi [n, m, p], y [n, m]; ``mask`` [n] (0/1)
    keeps only some samples (e.g. the first t of a sequence). Needs noise > 0."""
    n, m, p = phi.shape
    keep = jnp.ones((n,), phi.dtype) if mask is None else mask.astype(phi.dtype)
    a = (phi * keep[:, None, None]).reshape(n * m, p) @ factor  # [n m, q]
    resid = ((y - phi @ mean) * keep[:, None]).reshape(n * m)
    q = factor.shape[1]
    z = jnp.linalg.solve(a.T @ a + noise**2 * jnp.eye(q, dtype=phi.dtype), a.T @ resid)
    return mean + factor @ z


def posterior_trajectory(
    phi: jax.Array, y: jax.Array, mean: jax.Array, factor: jax.Array, noise: float
) -> jax.Array:
    """Posterior means [n + 1, p] after the first 0, 1, ..., n samples of a sequence."""
    n = phi.shape[0]
    masks = jnp.arange(n)[None, :] < jnp.arange(n + 1)[:, None]
    return jax.vmap(lambda msk: posterior_mean(phi, y, mean, factor, noise, msk))(masks)


def posterior_factor(
    phi: jax.Array, mean: jax.Array, factor: jax.Array, noise: float, y: jax.Array,
    mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Posterior mean [p] and a factor C [p, q] of the posterior covariance C C^T of w from
    single observations phi [n, p], y [n] (``mask`` [n] keeps some): with w = mu + L z,
    z | data ~ N(P^-1 A^T r / s^2, P^-1), P = A^T A / s^2 + I, A = Phi L. What Thompson
    sampling draws from (Thompson 1933; Russo et al. 2018)."""
    keep = jnp.ones(phi.shape[:1], phi.dtype) if mask is None else mask.astype(phi.dtype)
    a = (phi * keep[:, None]) @ factor
    precision = a.T @ a / noise**2 + jnp.eye(factor.shape[1], dtype=phi.dtype)
    cov = jnp.linalg.inv(precision)
    z = cov @ (a.T @ ((y - phi @ mean) * keep)) / noise**2
    return mean + factor @ z, factor @ jnp.linalg.cholesky(0.5 * (cov + cov.T))
