"""Meta-gradients by differentiating through the unrolled inner loop.

``backprop`` is second-order MAML (Finn et al. 2017); ``first_order`` drops the inner
gradients' dependence on the meta-parameters (first-order MAML), so no Hessian terms appear.

Two options trade accuracy or compute for memory (both implemented by ``inner_loop``):

* ``truncate=k``: truncated backpropagation through time (Shaban et al. 2019, "Truncated
  back-propagation for bilevel optimization"): only the last k inner steps are differentiated
  exactly; the first T - k run first-order (their inner gradients are constants). A learned
  initialisation keeps an identity Jacobian through the prefix, so ``truncate=0`` is
  first-order MAML and ``truncate=T`` is exact backprop. Memory is O(k), not O(T).
* ``remat=True``: checkpointing. The inner loop becomes a scan over segments of ``remat_block``
  steps (default ceil(sqrt(T))), each segment a ``jax.checkpoint``: the forward pass keeps only
  the segment boundaries and the backward pass recomputes one segment at a time, so memory is
  O(sqrt T) states instead of O(T) (Griewank 1992; Chen et al. 2016, "Training deep nets with
  sublinear memory cost"), for about one extra forward pass. ``remat_block=1`` checkpoints every
  step of a single scan, which only drops the per-step activations and still stores T states.
"""

from __future__ import annotations

import math

import jax

from metalab.errors import require
from metalab.estimators.base import Estimate, Estimator, mean_value_and_grad
from metalab.estimators.task_map import check_strategy
from metalab.learners.base import Learner, Meta
from metalab.learners.inner import inner_loop
from metalab.tasks.base import Task


def _unrolled(name: str, first_order: bool, truncate: int | None, remat: bool,
              remat_block: int | None, task_map: str) -> Estimator:
    check_strategy(task_map)

    def estimate(
        learner: Learner, meta: Meta, tasks: Task, key: jax.Array, inner_steps: int
    ) -> Estimate:
        del key
        exact = inner_steps if truncate is None else min(truncate, inner_steps)
        block = (remat_block or max(1, math.ceil(math.sqrt(exact)))) if remat else 0

        def task_loss(meta: Meta, task: Task) -> jax.Array:
            phi = inner_loop(learner, meta, task.support_x, task.support_y, inner_steps,
                             first_order=first_order, truncate=truncate,
                             remat_block=block).phi
            return learner.loss(meta, phi, task.query_x, task.query_y)

        loss, grad = mean_value_and_grad(task_loss, meta, tasks, task_map)
        return loss, grad, {}

    return Estimator(name, estimate)


def backprop(
    remat: bool = False, truncate: int | None = None, remat_block: int | None = None,
    task_map: str = "vmap",
) -> Estimator:
    """Gradient of the post-adaptation query loss, through the inner steps.

    remat: checkpoint segments of the inner loop (O(sqrt T) memory; see the module docstring).
    truncate: differentiate exactly through the last ``truncate`` inner steps only (TBPTT).
    remat_block: segment length for ``remat`` (default ceil(sqrt(T)); 1 = every step).
    task_map: how tasks are mapped (``estimators/task_map.py``).
    """
    require(truncate is None or truncate >= 0, "--truncate", "must be a non-negative integer")
    require(remat_block is None or remat_block >= 1, "--remat-block", "must be at least 1")
    name = "backprop" if truncate is None else "truncated"
    return _unrolled(name, False, truncate, remat, remat_block, task_map)


def truncated(truncate: int = 5, remat: bool = False, task_map: str = "vmap") -> Estimator:
    """TBPTT: backprop through the last ``truncate`` inner steps, first-order before them."""
    return backprop(remat=remat, truncate=truncate, task_map=task_map)


def first_order(task_map: str = "vmap") -> Estimator:
    """First-order MAML: backprop with each inner gradient held constant."""
    return _unrolled("first-order", True, None, False, None, task_map)
