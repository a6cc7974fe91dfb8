"""The ProtoNet meta-gradient (Snell et al. 2017): exact gradient of the query cross-entropy
through the closed-form prototypes; see ``learners/protonet.py`` for why ProtoNet has its own
estimator. It requires the ``prototypes`` property, so it drives ``protonet`` and nothing else,
and no gradient-inner-loop estimator drives ``protonet``.
"""

from __future__ import annotations

import jax

from metalab.estimators.base import Estimate, Estimator, mean_value_and_grad
from metalab.learners.base import PROTOTYPES, Learner, Meta, cross_entropy
from metalab.learners.protonet import query_logits
from metalab.tasks.base import Task


def prototypical(task_map: str = "vmap") -> Estimator:
    """Exact gradient of the mean query cross-entropy of ProtoNet episodes (Snell et al. 2017).

    ``inner_steps`` is ignored (the adaptation is closed-form). ``task_map`` as in
    ``mean_value_and_grad``.
    """

    def estimate(
        learner: Learner, meta: Meta, tasks: Task, key: jax.Array, inner_steps: int
    ) -> Estimate:
        del key, inner_steps

        def task_loss(m: Meta, task: Task) -> jax.Array:
            return cross_entropy(query_logits(learner, m, task), task.query_y)

        loss, grad = mean_value_and_grad(task_loss, meta, tasks, task_map)
        return loss, grad, {}

    return Estimator("prototypical", estimate, frozenset({PROTOTYPES}))
