"""The diagonal Fisher information of a learner's fast weights: the per-parameter importance
elastic weight consolidation anchors with (Kirkpatrick et al. 2017); and how a complex
synapse's meta-learned strengths lambda (Zucchet et al. 2022) compare with it, as importance
and as protection against forgetting."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from metalab.evaluation import adapt
from metalab.learners.base import Fast, Learner, Meta
from metalab.tasks.base import Task

STRENGTHS = ("learned", "fixed", "ewc")
"""the consolidation strengths ``consolidation`` compares: the learned lambda, one fixed
lambda of the same mean, EWC's Fisher of the earlier task scaled to the same mean"""


def fisher(learner: Learner, meta: Meta, phi: Fast, x: jax.Array) -> jax.Array:
    """Diagonal Fisher of a unit-variance Gaussian output at ``phi`` over inputs ``x``,
    flattened: mean over x of (d f(x) / d phi)^2."""
    grads = jax.vmap(lambda xi: ravel_pytree(jax.grad(
        lambda p: learner.predict(meta, p, xi[None])[0, 0])(phi))[0])(x)
    return jnp.mean(grads**2, axis=0)


def consolidation(learner: Learner, meta: Meta, earlier: Task, pairs: tuple[Task, Task],
                  steps: int) -> dict[str, jax.Array]:
    """A complex synapse's (``meta``: ``omega``, ``rho`` = log lambda) strengths against
    importance: ``lambda`` and ``fisher`` (flattened; the Fisher at each ``earlier`` task's
    adapted weights, averaged over them), and ``forgetting`` [STRENGTHS, 2]: for task pairs
    (A, B) adapted A then B with the consolidation anchored at phi_A, the rise of A's query
    loss L_A(phi_B) - L_A(phi_A) and the new task's loss L_B(phi_B), mean over pairs."""
    unravel = ravel_pytree(meta["omega"])[1]
    lam = ravel_pytree(jax.tree.map(jnp.exp, meta["rho"]))[0]

    def task_fisher(task: Task) -> jax.Array:
        return fisher(learner, meta, adapt(learner, meta, task, steps), task.query_x)

    mean_fisher = jax.vmap(task_fisher)(earlier).mean(0)

    def forgetting(a: Task, b: Task) -> jax.Array:
        phi_a = adapt(learner, meta, a, steps)
        f_a = fisher(learner, meta, phi_a, a.query_x)
        options = {"learned": lam, "fixed": jnp.full_like(lam, lam.mean()),
                   "ewc": f_a * lam.mean() / (f_a.mean() + 1e-12)}
        before = learner.loss(meta, phi_a, a.query_x, a.query_y)
        rows = []
        for name in STRENGTHS:
            anchored = {"omega": phi_a, "rho": unravel(jnp.log(options[name] + 1e-12))}
            phi_b = adapt(learner, anchored, b, steps)
            rows.append(jnp.stack([learner.loss(meta, phi_b, a.query_x, a.query_y) - before,
                                   learner.loss(meta, phi_b, b.query_x, b.query_y)]))
        return jnp.stack(rows)  # [strengths, (forgetting, new-task loss)]

    return {"lambda": lam, "fisher": mean_fisher,
            "forgetting": jax.vmap(forgetting)(*pairs).mean(0)}
