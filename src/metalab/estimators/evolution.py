"""Antithetic evolution strategies on the meta-parameters (ES-MAML, Song et al. ICLR 2020;
OpenAI-ES, Salimans et al. 2017).

The meta-loss f(meta) (mean query loss after the inner loop) is treated as a black box. With
``population`` antithetic pairs of Gaussian directions eps_i,

    g = 1 / (2 sigma P) sum_i (f(meta + sigma eps_i) - f(meta - sigma eps_i)) eps_i,

an unbiased estimate of the gradient of the smoothed objective E f(meta + sigma eps). Every
meta-parameter is perturbed, and the inner loop is never differentiated w.r.t. meta, so it
works when the inner loop is not differentiable (hard thresholds, sampling) and its memory is
flat in the number of inner steps. ``rank_shaping`` replaces the 2P losses by centred ranks in
[-1/2, 1/2] (Salimans et al. 2017): invariant to monotone rescaling of the loss and robust to
outliers, but then a descent direction rather than an unbiased gradient. Each perturbation sees
the same task batch (common random numbers), which cancels the task noise in each difference.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from metalab.errors import require
from metalab.estimators.base import Estimate, Estimator, mean_over_tasks
from metalab.estimators.task_map import check_strategy
from metalab.learners.base import Learner, Meta
from metalab.learners.inner import inner_loop
from metalab.models.base import Params
from metalab.tasks.base import Task


def centred_ranks(x: jax.Array) -> jax.Array:
    """Ranks of ``x`` scaled to [-1/2, 1/2] (smallest -1/2)."""
    ranks = jnp.argsort(jnp.argsort(x)).astype(x.dtype)
    return ranks / (x.shape[0] - 1) - 0.5


def meta_loss(learner: Learner, meta: Meta, tasks: Task, inner_steps: int,
              task_map: str = "vmap") -> jax.Array:
    """Mean query loss after ``inner_steps`` inner steps on each task's support set."""

    def task_loss(task: Task) -> jax.Array:
        phi = inner_loop(learner, meta, task.support_x, task.support_y, inner_steps).phi
        return learner.loss(meta, phi, task.query_x, task.query_y)

    return mean_over_tasks(task_loss, tasks, task_map)


def antithetic_gradient(
    f: Callable[[Params], jax.Array],
    params: Params,
    key: jax.Array,
    population: int,
    sigma: float | jax.Array,
    rank_shaping: bool = False,
    fitness_map: Callable[[Callable, jax.Array], jax.Array] | None = None,
) -> tuple[Params, jax.Array]:
    """Antithetic ES estimate of grad E f(params + sigma eps) from ``population`` pairs.

    Returns the estimate (shaped like ``params``) and the 2P losses (first the +eps half).
    ``fitness_map(fn, directions)`` evaluates the perturbations (default: ``jax.vmap(fn)``;
    pass ``jax.lax.map`` to bound memory, or a sharded map to spread them over devices).
    """
    flat, unravel = ravel_pytree(params)
    eps = jax.random.normal(key, (population, flat.shape[0]), flat.dtype)
    fitness_map = fitness_map or (lambda fn, xs: jax.vmap(fn)(xs))
    losses = fitness_map(lambda d: f(unravel(flat + sigma * d)), jnp.concatenate([eps, -eps]))
    shaped = centred_ranks(losses) if rank_shaping else losses
    diff = shaped[:population] - shaped[population:]
    return unravel(diff @ eps / (2 * sigma * population)), losses


def evolution(population: int = 16, sigma: float = 0.01, rank_shaping: bool = False,
              task_map: str = "vmap") -> Estimator:
    """Antithetic ES with ``population`` pairs of perturbations of standard deviation ``sigma``."""
    require(population >= 1, "--population", "must be at least 1")
    require(sigma > 0, "--sigma", "must be positive")
    check_strategy(task_map)

    def estimate(
        learner: Learner, meta: Meta, tasks: Task, key: jax.Array, inner_steps: int
    ) -> Estimate:
        grad, losses = antithetic_gradient(
            lambda m: meta_loss(learner, m, tasks, inner_steps, task_map), meta, key, population,
            sigma, rank_shaping)
        loss = meta_loss(learner, meta, tasks, inner_steps, task_map)
        return loss, grad, {"es_loss_spread": jnp.std(losses)}

    return Estimator("evolution", estimate)
