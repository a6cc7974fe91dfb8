"""The outer loop: optax optimiser, vmapped task batches, several meta-steps per dispatch.

One compiled call runs ``chunk`` meta-steps as a ``lax.scan`` and returns every step's metrics;
Python only logs, checks for divergence and checkpoints between chunks. The task batch of
meta-step s is drawn from ``fold_in(run_key, s)``, so a resumed run sees exactly the tasks an
uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from metalab.errors import Diverged
from metalab.estimators.base import Estimator
from metalab.learners.base import Learner, Meta
from metalab.tasks.base import TaskDistribution
from metalab.training.checkpoint import Checkpointer
from metalab.training.distributed import replicate, to_host
from metalab.training.sharding import shard_tasks

Metrics = dict[str, jax.Array]


class TrainState(NamedTuple):
    """Everything the outer loop changes: meta-parameters, optimiser state, steps done."""

    meta: Meta
    opt_state: optax.OptState
    step: jax.Array  # int32 scalar: meta-steps completed


def init_state(learner: Learner, optimizer: optax.GradientTransformation, key) -> TrainState:
    """Fresh meta-parameters from ``key`` and the optimiser's initial state."""
    meta = learner.init(key)
    return TrainState(meta, optimizer.init(meta), jnp.zeros((), jnp.int32))


def make_meta_step(
    learner: Learner,
    estimator: Estimator,
    optimizer: optax.GradientTransformation,
    tasks: TaskDistribution,
    meta_batch: int,
    inner_steps: int,
    run_key: jax.Array,
) -> Callable[[TrainState], tuple[TrainState, Metrics]]:
    """One meta-step (not jitted): sample a batch, estimate the meta-gradient, update.

    The batch is split across devices when there are several (``shard_tasks``).
    """

    def meta_step(state: TrainState) -> tuple[TrainState, Metrics]:
        k_tasks, k_est = jax.random.split(jax.random.fold_in(run_key, state.step))
        batch = shard_tasks(tasks.sample(k_tasks, meta_batch))
        loss, grad, metrics = estimator.estimate(learner, state.meta, batch, k_est, inner_steps)
        updates, opt_state = optimizer.update(grad, state.opt_state, state.meta)
        meta = optax.apply_updates(state.meta, updates)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grad), **metrics}
        return TrainState(meta, opt_state, state.step + 1), metrics

    return meta_step


def scan_steps(
    meta_step: Callable[[TrainState], tuple[TrainState, Metrics]], n: int
) -> Callable[[TrainState], tuple[TrainState, Metrics]]:
    """``n`` meta-steps in one jit-compiled ``lax.scan``; metrics come back stacked [n]."""

    def run(state: TrainState) -> tuple[TrainState, Metrics]:
        return jax.lax.scan(lambda s, _: meta_step(s), state, None, length=n)

    return jax.jit(run)


def fit(
    state: TrainState,
    meta_step: Callable[[TrainState], tuple[TrainState, Metrics]],
    steps: int,
    *,
    chunk: int = 100,
    checkpointer: Checkpointer | None = None,
    checkpoint_every: int = 1000,
    log: Callable[[int, dict[str, float]], None] | None = None,
    advance: Callable[[int], None] | None = None,
    max_loss: float | None = None,
    program: Callable[[Callable, int], Callable] = scan_steps,
) -> TrainState:
    """Run meta-steps from ``state.step`` up to ``steps`` in jitted chunks, each built by
    ``program(step, n)`` (default ``scan_steps``; a caller that measures the program wraps it).

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
        if checkpointer is not None and (done % checkpoint_every == 0 or done == steps):
            checkpointer.save(to_host(state), done)
    return state


_FINITE = "_state_finite"  # the metric carrying the state check, dropped before logging


def _with_state_check(meta_step):
    """``meta_step`` also reporting whether every leaf of the new state is finite."""

    def checked(state: TrainState) -> tuple[TrainState, Metrics]:
        state, metrics = meta_step(state)
        leaves = [jnp.isfinite(x).all() for x in jax.tree.leaves(state)
                  if jnp.issubdtype(x.dtype, jnp.inexact)]
        return state, {**metrics, _FINITE: jnp.stack(leaves).all() if leaves else jnp.asarray(True)}

    return checked


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
