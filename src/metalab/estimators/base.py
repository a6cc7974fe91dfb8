"""The estimator contract: how the meta-gradient of a task batch is obtained.

An estimator is built by a factory whose settings are captured by closure (as in optax) and
exposes one pure function:

    loss, grad, metrics = estimator.estimate(learner, meta, tasks, key, inner_steps)

``loss`` is the mean query loss after adaptation, ``grad`` has the structure of ``meta`` and
``metrics`` is a dict of scalars. ``inner_steps`` is static (a Python int). ``requires`` names
the learner properties (``learners/base.py``) the estimator relies on; it drives a learner
exactly when the learner declares all of them (``supports``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from metalab.estimators.task_map import map_tasks, resolve
from metalab.learners.base import GRADIENT_INNER_LOOP, Learner, Meta
from metalab.tasks.base import Task

Estimate = tuple[jax.Array, Meta, dict[str, jax.Array]]


class Estimator(NamedTuple):
    """A named meta-gradient estimator and the learner properties it requires."""

    name: str
    estimate: Callable[[Learner, Meta, Task, jax.Array, int], Estimate]
    requires: frozenset[str] = frozenset({GRADIENT_INNER_LOOP})


def supports(estimator: Estimator, learner: Learner) -> bool:
    """Whether ``learner`` declares every property ``estimator`` requires."""
    return estimator.requires <= learner.properties


def mean_over_tasks(
    task_fn: Callable[[Task], jax.Array], tasks: Task, task_map: str = "vmap"
) -> jax.Array:
    """Mean of a per-task scalar over the leading task axis, mapped by ``task_map``
    (``vmap``, ``map``, ``unroll`` or ``auto``; see ``estimators/task_map.py``)."""
    return jnp.mean(map_tasks(task_fn, tasks, task_map))


def mean_estimates(
    per_task: Callable[[Task], Estimate], tasks: Task, task_map: str = "vmap"
) -> Estimate:
    """Map a per-task ``(loss, grad, metrics)`` over the task axis (``task_map`` as in
    ``mean_over_tasks``) and average every leaf."""
    return jax.tree.map(lambda a: jnp.mean(a, axis=0), map_tasks(per_task, tasks, task_map))


def mean_value_and_grad(
    task_loss: Callable[[Meta, Task], jax.Array], meta: Meta, tasks: Task,
    task_map: str = "vmap",
) -> tuple[jax.Array, Meta]:
    """Mean over tasks of ``task_loss(meta, task)`` and its gradient in ``meta``.

    Under ``vmap`` this is the gradient of the batched mean (one program; the sum over tasks
    happens inside the weight-gradient products). Under ``map`` and ``unroll`` each task's
    value and gradient are taken inside the loop, so no task's activations outlive its
    iteration: the gradient *of* a ``lax.map`` would stack every task's residuals in buffers
    of [tasks, ...] (measured on CPU: ~20% of a conv-net meta-step spent filling them).
    """
    if resolve(task_map) == "vmap":
        return jax.value_and_grad(lambda m: mean_over_tasks(lambda t: task_loss(m, t), tasks,
                                                            "vmap"))(meta)
    return mean_estimates(lambda t: jax.value_and_grad(task_loss)(meta, t), tasks, task_map)
