"""Pretraining (joint training) as an estimator: the gradient of the query loss at the start
weights, with no adaptation during training.

    loss = mean_i L(start(meta); query_i),    grad = d loss / d meta

This is the "pretrained" baseline of Finn et al. (2017, sec. 5.1): one network regressed on
the pooled tasks, later fine-tuned by the learner's inner loop like a meta-learned
initialisation. It is backprop through zero inner steps, whatever ``inner_steps`` says, so the
support sets are not used. It requires ``learned-init``: the start weights are everything it
trains (a learner with meta-learned rates or masks would see them stay at their initial
values, since the query loss at the start does not depend on them).
"""

from __future__ import annotations

import jax

from metalab.estimators.base import Estimate, Estimator, mean_value_and_grad
from metalab.estimators.task_map import check_strategy
from metalab.learners.base import LEARNED_INIT, Learner, Meta
from metalab.tasks.base import Task


def pretrain(task_map: str = "vmap") -> Estimator:
    """Gradient of the mean query loss at ``learner.start(meta)`` (no inner steps; see the
    module docstring); ``task_map`` as in ``mean_value_and_grad``."""
    check_strategy(task_map)

    def estimate(
        learner: Learner, meta: Meta, tasks: Task, key: jax.Array, inner_steps: int
    ) -> Estimate:
        del key, inner_steps

        def task_loss(m: Meta, task: Task) -> jax.Array:
            return learner.loss(m, learner.start(m), task.query_x, task.query_y)

        loss, grad = mean_value_and_grad(task_loss, meta, tasks, task_map)
        return loss, grad, {}

    return Estimator("pretrain", estimate, frozenset({LEARNED_INIT}))
