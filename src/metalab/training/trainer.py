"""The outer loop: optax optimiser, vmapped task batches, several meta-steps per dispatch.

One compiled call runs ``chunk`` meta-steps as a ``lax.scan`` and returns every step's metrics;
Python only logs, checks for divergence and checkpoints between chunks. The task batch of
meta-step s is drawn from ``fold_in(run_key, s)``, so a resumed run sees exactly the tasks an
uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from metalab.errors import Diverged
from metalab.estimators.base import Estimator
from metalab.learners.base import Learner
from metalab.tasks.base import TaskDistribution
from metalab.training.checkpoint import Checkpointer
from metalab.training.distributed import replicate, to_host
from metalab.training.sharding import shard_tasks
from metalab.training.state import Metrics, TrainState


def init_state(learner: Learner, optimizer: optax.GradientTransformation, key) -> TrainState:
    """Fresh meta-parameters from ``key`` and the optimiser's initial state."""
    return TrainState.create(learner.init(key), optimizer)


@dataclass(frozen=True)
class MetaStep:
    """A meta-step split in two, so ``scan_steps`` can draw every step's inputs at once.

    ``draw(step)`` gives meta-step ``step``'s random inputs (the task batch and the
    estimator's key) from the step index alone; ``update(state, inputs)`` does the rest.
    Calling it is the plain meta-step ``state -> (state, metrics)``.
    """

    draw: Callable[[jax.Array], Any]
    update: Callable[[TrainState, Any], tuple[TrainState, Metrics]]

    def __call__(self, state: TrainState) -> tuple[TrainState, Metrics]:
        """One meta-step: this step's inputs, then the update."""
        return self.update(state, self.draw(state.step))


Step = Callable[[TrainState], tuple[TrainState, Metrics]]
"""A meta-step: a ``MetaStep`` or any function ``state -> (state, metrics)``."""

PRESAMPLE_MB = 16.0
"""``scan_steps`` draws all of a chunk's inputs before its scan when they fit in this many
MiB (sinusoid: 4 KiB per step), else each step draws its own inside the scan."""


def make_meta_step(
    learner: Learner,
    estimator: Estimator,
    *,
    optimizer: optax.GradientTransformation,
    tasks: TaskDistribution,
    meta_batch: int,
    inner_steps: int,
    key: jax.Array,
) -> MetaStep:
    """One meta-step (not jitted) as a ``MetaStep``: ``draw`` samples the task batch and the
    estimator's key of a step from ``fold_in(key, step)``, ``update`` estimates the
    meta-gradient and applies it (``TrainState.apply_gradients``).

    The batch is split across devices when there are several (``shard_tasks``).
    """
    run_key = key

    def draw(step: jax.Array) -> tuple[Any, jax.Array]:
        k_tasks, k_est = jax.random.split(jax.random.fold_in(run_key, step))
        return tasks.sample(k_tasks, meta_batch), k_est

    def update(state: TrainState, inputs: tuple[Any, jax.Array]
               ) -> tuple[TrainState, Metrics]:
        batch, k_est = shard_tasks(inputs[0]), inputs[1]
        loss, grad, metrics = estimator.estimate(learner, state.meta, batch, k_est, inner_steps)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grad), **metrics}
        return state.apply_gradients(grad, optimizer), metrics

    return MetaStep(draw, update)


def scan_steps(meta_step: Step, n: int) -> Callable[[TrainState], tuple[TrainState, Metrics]]:
    """``n`` meta-steps in one jit-compiled ``lax.scan``; metrics come back stacked [n].

    For a ``MetaStep`` whose ``n`` inputs fit in ``PRESAMPLE_MB``, the inputs of all ``n``
    steps are drawn first in one vmapped call and the scan runs over them: the same tasks
    (drawn from the same keys), but one batched random-number pass instead of ``n`` passes of
    tiny kernels (sinusoid MAML on CPU: about a fifth of the meta-step, benchmarks/RESULTS.md).
    """

    def run(state: TrainState) -> tuple[TrainState, Metrics]:
        ahead = isinstance(meta_step, MetaStep)
        if ahead and n * _inputs_mb(meta_step, state.step) <= PRESAMPLE_MB:
            steps = state.step + jnp.arange(n, dtype=state.step.dtype)
            inputs = jax.vmap(meta_step.draw)(steps)
            return jax.lax.scan(meta_step.update, state, inputs)
        return jax.lax.scan(lambda s, _: meta_step(s), state, None, length=n)

    return jax.jit(run)


def _inputs_mb(meta_step: MetaStep, step: jax.Array) -> float:
    """MiB of one meta-step's drawn inputs (shapes only; nothing is computed)."""
    shapes = jax.eval_shape(meta_step.draw, step)
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes)) / 2**20


def fit(
    state: TrainState,
    meta_step: Step,
    steps: int,
    *,
    chunk: int = 100,
    checkpointer: Checkpointer | None = None,
    checkpoint_every: int = 1000,
    log: Callable[[int, dict[str, float]], None] | None = None,
    advance: Callable[[int], None] | None = None,
    max_loss: float | None = None,
    program: Callable[[Callable, int], Callable] = scan_steps,
    on_chunk: Callable[[int, TrainState], bool] | None = None,
) -> TrainState:
    """Run meta-steps from ``state.step`` up to ``steps`` in jitted chunks, each built by
    ``program(step, n)`` (default ``scan_steps``; a caller that measures the program wraps it).
    ``on_chunk(step, state)`` runs after each chunk (validation along the way); when it
    returns True training stops there, with a checkpoint (early stopping).

    After each chunk, ``Diverged`` names the first meta-step whose loss or gradient norm is
    non-finite, whose loss exceeds ``max_loss``, or after which any leaf of the state
    (meta-parameters, optimiser state) is non-finite; nothing of that chunk is logged or
    saved, so the last checkpoint is a good state. Otherwise ``log(step, chunk means)`` is
    called and a checkpoint written every ``checkpoint_every`` steps and at the end. Chunk
    boundaries are multiples of ``chunk``, so a resumed run compiles and runs the same
    programs as an uninterrupted one. With several processes (``training.distributed``) the
    state is replicated on all of them and every process runs the same chunks.
    """
    compiled: dict[int, Callable] = {}
    state = replicate(state)  # across processes when distributed; else unchanged
    done = int(to_host(state.step))
    while done < steps:
        n = min(chunk - done % chunk, steps - done)
        if n not in compiled:
            compiled[n] = program(_with_state_check(meta_step), n)
        state, metrics = compiled[n](state)
        host = to_host(metrics)
        _check_divergence(host, done, max_loss)
        done += n
        if log is not None:
            log(done, {k: float(v.mean()) for k, v in host.items()})
        if advance is not None:
            advance(n)
        stop = on_chunk is not None and on_chunk(done, state)
        if checkpointer is not None and (done % checkpoint_every == 0 or done == steps or stop):
            checkpointer.save(to_host(state), done)
        if stop:
            break
    return state


_FINITE = "_state_finite"  # the metric carrying the state check, dropped before logging


def _with_state_check(meta_step: Step) -> Step:
    """``meta_step`` also reporting whether every leaf of the new state is finite (a
    ``MetaStep`` stays one, so its inputs are still drawn ahead)."""

    def check(out: tuple[TrainState, Metrics]) -> tuple[TrainState, Metrics]:
        state, metrics = out
        leaves = [jnp.isfinite(x).all() for x in jax.tree.leaves(state)
                  if jnp.issubdtype(x.dtype, jnp.inexact)]
        return state, {**metrics, _FINITE: jnp.stack(leaves).all() if leaves else jnp.asarray(True)}

    if isinstance(meta_step, MetaStep):
        update = meta_step.update
        return MetaStep(meta_step.draw, lambda state, inputs: check(update(state, inputs)))
    return lambda state: check(meta_step(state))


def _check_divergence(host: dict[str, np.ndarray], done: int, max_loss: float | None) -> None:
    """Raise ``Diverged`` at the first bad meta-step of a chunk (metrics [n] or [n, ...], e.g.
    one loss per vmapped seed); drop the state flag."""
    n = len(host["loss"])
    finite = host.pop(_FINITE)
    grad_norm = host.get("grad_norm", np.zeros(n))
    checks = [(~np.isfinite(host["loss"]), "non-finite loss"),
              (~np.isfinite(grad_norm), "non-finite gradient norm"),
              (~finite, "non-finite parameters or optimiser state")]
    if max_loss is not None:
        checks.append((host["loss"] > max_loss, f"loss above the bound {max_loss:g}"))
    bad = [(int(np.argmax(per_step)), what) for mask, what in checks
           if (per_step := mask.reshape(n, -1).any(axis=1)).any()]
    if bad:
        offset, what = min(bad, key=lambda b: b[0])
        raise Diverged(done + offset + 1, what)


def resume_or_init(state: TrainState, checkpointer: Checkpointer | None) -> TrainState:
    """The checkpointed state if ``checkpointer`` holds one, else ``state``."""
    if checkpointer is None or checkpointer.info() is None:
        return state
    return checkpointer.restore(state)
