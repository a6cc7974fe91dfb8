"""Reptile (Nichol, Achiam and Schulman 2018, "On first-order meta-learning algorithms").

Each task runs ``inner_steps`` of the learner's inner update on its support set from theta; the
meta-"gradient" is theta - phi, the mean over the task batch. With plain SGD of step size
epsilon as the outer optimiser this is the paper's batched update theta <- theta + epsilon
mean(phi - theta); with one inner step it is the gradient of the support loss (joint training),
with more it picks up MAML-like terms that favour fast adaptation. No derivative of the inner
loop is taken, so memory is flat in the number of inner steps.

Only the initialisation receives a signal, so Reptile requires a learner whose only
meta-parameter is the fast weights' initialisation (``learned-init``: any other would get a
zero update) and whose inner rule is fixed (``fixed-rule``): MAML, for example.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.estimators.base import Estimate, Estimator, mean_estimates
from metalab.estimators.task_map import check_strategy
from metalab.learners.base import FIXED_RULE, GRADIENT_INNER_LOOP, LEARNED_INIT, Learner, Meta
from metalab.learners.inner import inner_loop
from metalab.tasks.base import Task


def reptile(task_map: str = "vmap") -> Estimator:
    """Reptile's direction theta - phi_T, averaged over the tasks (Nichol et al. 2018)."""
    check_strategy(task_map)

    def estimate(
        learner: Learner, meta: Meta, tasks: Task, key: jax.Array, inner_steps: int
    ) -> Estimate:
        del key

        def per_task(task: Task) -> Estimate:
            phi = inner_loop(learner, meta, task.support_x, task.support_y, inner_steps).phi
            loss = learner.loss(meta, phi, task.query_x, task.query_y)
            return loss, {"init": jax.tree.map(jnp.subtract, meta["init"], phi)}, {}

        return mean_estimates(per_task, tasks, task_map)

    return Estimator("reptile", estimate,
                     frozenset({GRADIENT_INNER_LOOP, LEARNED_INIT, FIXED_RULE}))
