"""The contrastive meta-learning rule (Zucchet, Schug, von Oswald, Zhao and Sacramento,
NeurIPS 2022, "A contrastive rule for meta-learning").

The learner runs twice on the proximal inner problem L_in (``proximal.py``): a free phase
phi_0 ~ argmin L_in(phi, meta), then a nudged phase phi_beta ~ argmin L_in + beta L_out, started
from phi_0. With F_beta = L_in + beta L_out, the meta-gradient is estimated as

    one-sided:  g = (d_meta F_beta(phi_beta) - d_meta F_0(phi_0)) / beta              (O(beta))
    symmetric:  g = (d_meta F_beta(phi_beta) - d_meta F_-beta(phi_-beta)) / (2 beta)  (O(beta^2))

This is equilibrium propagation (Scellier and Bengio 2017) applied to the meta-objective: only
first derivatives w.r.t. meta at the two (or three) solutions, no Hessian and no backward pass
through the inner loop, so memory is flat in the number of inner steps. For a learned
initialisation d_meta F = -lam (phi - theta), the paper's rule lam (phi_0 - phi_beta) / beta;
the beta d_meta L_out term (zero there) keeps the rule exact when the query loss reads meta
directly. The bias is O(beta) (one-sided) or O(beta^2) (symmetric) plus the inner solver's
error divided by beta, so small beta needs accurate inner solves.

The free phase runs ``inner_steps`` of the learner's inner optimiser; each nudged phase runs
``nudged_steps`` at ``nudged_lr_scale`` times its rate (``optax.scale`` chained after it: the
paper's separate nudged learning rate) and starts from phi_0 with a fresh optimiser state, so
momentum carried over from the free phase does not leak into the difference.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from metalab.errors import require
from metalab.estimators.base import Estimate, Estimator, mean_estimates
from metalab.estimators.implicit import PROXIMAL_REQUIREMENTS
from metalab.estimators.proximal import with_proximal
from metalab.estimators.task_map import check_strategy
from metalab.learners.base import Fast, Learner, Meta
from metalab.learners.inner import Solution, inner_start, solve
from metalab.tasks.base import Task


def contrastive(
    beta: float | jax.Array = 0.01,
    lam: float = 1.0,
    symmetric: bool = False,
    tol: float = 0.0,
    nudged_steps: int | None = None,
    nudged_lr_scale: float = 1.0,
    task_map: str = "vmap",
) -> Estimator:
    """The contrastive rule with nudging strength ``beta`` on the proximal problem (``lam``,
    unused for learners with their own proximal term).

    symmetric: nudge to +beta and -beta (both from phi_0) instead of comparing with phi_0.
    tol: the inner solver's stopping gradient norm (0 = fixed steps).
    nudged_steps: step budget of each nudged phase (default: the free phase's ``inner_steps``).
    nudged_lr_scale: the nudged phases' inner learning rate relative to the free phase's.
    Every nudged phase starts from phi_0 with a fresh inner optimiser state.
    ``beta`` may be a traced scalar (one compiled program for a sweep over betas); a number is
    checked here.
    """
    require(isinstance(beta, jax.Array) or beta > 0, "--beta", "must be positive")
    require(lam > 0, "--lam", "must be positive")
    require(tol >= 0, "--tol", "must be non-negative")
    require(nudged_steps is None or nudged_steps >= 1, "--nudged-steps", "must be at least 1")
    require(nudged_lr_scale > 0, "--nudged-lr-scale", "must be positive")
    check_strategy(task_map)

    def estimate(
        learner: Learner, meta: Meta, tasks: Task, key: jax.Array, inner_steps: int
    ) -> Estimate:
        del key
        learner = with_proximal(learner, lam)
        nudged = learner._replace(optimizer=lambda m: optax.chain(
            learner.optimizer(m), optax.scale(nudged_lr_scale)))

        def per_task(task: Task) -> Estimate:
            def total(m: Meta, p: Fast, b: float | jax.Array, *_: jax.Array) -> jax.Array:
                inner = learner.inner_loss(m, p, task.support_x, task.support_y)
                if isinstance(b, float) and b == 0.0:  # F_0: the query set is not touched
                    return inner
                return inner + b * learner.loss(m, p, task.query_x, task.query_y)

            def phase(b: float, start: Fast | None, steps: int) -> Solution:
                runner = learner if start is None else nudged
                return solve(runner, meta, task.support_x, task.support_y, steps,
                             state=inner_start(runner, meta, start), tol=tol,
                             objective=lambda m, p, *_: total(m, p, b))

            def d_meta(p: Fast, b: float) -> Meta:
                return jax.grad(total)(meta, p, b)

            free = phase(0.0, None, inner_steps)
            nudge = nudged_steps or inner_steps
            plus = phase(beta, free.phi, nudge)
            if symmetric:
                minus = phase(-beta, free.phi, nudge)
                low, b_low, scale = minus.phi, -beta, 2 * beta
            else:
                low, b_low, scale = free.phi, 0.0, beta
            grad = jax.tree.map(lambda a, c: (a - c) / scale, d_meta(plus.phi, beta),
                                d_meta(low, b_low))
            loss = learner.loss(meta, free.phi, task.query_x, task.query_y)
            steps = free.steps + plus.steps + (minus.steps if symmetric else 0)
            return loss, grad, {"free_grad_norm": free.grad_norm,
                                "inner_steps_taken": steps.astype(jnp.float32)}

        return mean_estimates(per_task, tasks, task_map)

    name = "contrastive-symmetric" if symmetric else "contrastive"
    return Estimator(name, estimate, PROXIMAL_REQUIREMENTS)


def contrastive_symmetric(beta: float = 0.01, lam: float = 1.0, tol: float = 0.0,
                          nudged_steps: int | None = None, nudged_lr_scale: float = 1.0,
                          task_map: str = "vmap") -> Estimator:
    """The symmetric (+-beta) contrastive rule."""
    return contrastive(beta, lam, symmetric=True, tol=tol, nudged_steps=nudged_steps,
                       nudged_lr_scale=nudged_lr_scale, task_map=task_map)
