"""Shared pieces of the contrastive meta-learning experiments: training several seeds as one
compiled program, the cost of a meta-step, confidence intervals over seeds, estimator settings.

Seeds are a leading axis of the meta-parameters and the outer optimiser's state, and the
meta-step is ``jax.vmap``-ed over it (each seed with its own initialisation and task stream),
so a comparison of S seeds compiles once per (learner, estimator) instead of S times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from metalab.bench.base import compiled_temp_mb, time_compiled
from metalab.errors import Diverged
from metalab.estimators import ESTIMATORS, Estimator
from metalab.learners.base import Learner
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage
from metalab.tasks.base import TaskDistribution
from metalab.training import TrainState, init_state, make_meta_step

ESTIMATOR_NAMES = ("contrastive-symmetric", "contrastive", "implicit", "truncated",
                   "first-order")
"""the estimators the comparisons drive, in table order"""


def seed_keys(seed: int, seeds: int) -> tuple[jax.Array, jax.Array]:
    """(initialisation keys, task-stream keys), one per seed, each [seeds, 2]."""
    k_init, k_run = jax.random.split(jax.random.PRNGKey(seed))
    return jax.random.split(k_init, seeds), jax.random.split(k_run, seeds)


def seeds_state(learner: Learner, optimizer: optax.GradientTransformation,
                keys: jax.Array) -> TrainState:
    """Fresh meta-parameters and optimiser states for every seed (leading axis), one step
    counter shared by all."""
    state = jax.vmap(lambda k: init_state(learner, optimizer, k))(keys)
    return state._replace(step=jnp.zeros((), jnp.int32))


def seeds_step(learner: Learner, estimator: Estimator, optimizer: optax.GradientTransformation,
               tasks: TaskDistribution, meta_batch: int, inner_steps: int,
               run_keys: jax.Array) -> Callable[[TrainState], tuple[TrainState, dict]]:
    """One meta-step of every seed (``make_meta_step`` vmapped over the seed axis); metrics
    are means over seeds (so a seed that diverges makes the loss non-finite)."""

    def step(state: TrainState) -> tuple[TrainState, dict]:
        def one(meta, opt_state, key):
            new, metrics = make_meta_step(learner, estimator, optimizer, tasks, meta_batch,
                                          inner_steps, key)(TrainState(meta, opt_state,
                                                                       state.step))
            return new.meta, new.opt_state, metrics

        meta, opt_state, metrics = jax.vmap(one)(state.meta, state.opt_state, run_keys)
        return (TrainState(meta, opt_state, state.step + 1),
                jax.tree.map(lambda v: v.mean(0), metrics))

    return step


def train_seeds(rundir: RunDir, stage: str, learner: Learner, estimator: Estimator,
                optimizer: optax.GradientTransformation, tasks: TaskDistribution,
                meta_batch: int, inner_steps: int, steps: int, seed: int, seeds: int,
                chunk: int, checkpoint_every: int) -> tuple[TrainState | None, str]:
    """Meta-train ``seeds`` seeds together (resuming from the stage's checkpoint). Returns the
    state, or None and a sentence saying where training diverged."""
    init_keys, run_keys = seed_keys(seed, seeds)
    step = seeds_step(learner, estimator, optimizer, tasks, meta_batch, inner_steps, run_keys)
    try:
        state = train_stage(rundir, stage, seeds_state(learner, optimizer, init_keys), step,
                            steps, chunk=chunk, checkpoint_every=checkpoint_every)
    except Diverged as err:
        return None, f"diverged: {err.what} at meta-step {err.step}"
    return state, ""


def step_cost(learner: Learner, estimator: Estimator, optimizer: optax.GradientTransformation,
              tasks: TaskDistribution, meta_batch: int, inner_steps: int,
              seed: int) -> tuple[float, float]:
    """(ms per meta-step, XLA temporary memory in MiB) of one seed's jitted meta-step."""
    key = jax.random.PRNGKey(seed)
    state = init_state(learner, optimizer, key)
    step = make_meta_step(learner, estimator, optimizer, tasks, meta_batch, inner_steps, key)
    compiled = jax.jit(step).lower(state).compile()
    _, seconds = time_compiled(compiled, (state,), min_seconds=0.0, min_calls=1)
    return seconds * 1e3, compiled_temp_mb(compiled)


def make_estimator(name: str, *, beta: float, lam: float, nudged_steps: int,
                   nudged_lr_scale: float, truncate: int, task_map: str,
                   inner_lr: float = 0.01) -> Estimator:
    """``name`` from ``ESTIMATOR_NAMES`` (or t1-t2, implicit-neumann) at the shared settings;
    Neumann's and T1-T2's step is the inner learning rate."""
    settings: dict[str, Any] = {"task_map": task_map}
    if name.startswith("contrastive"):
        settings |= {"beta": beta, "lam": lam, "nudged_steps": nudged_steps,
                     "nudged_lr_scale": nudged_lr_scale}
    elif name == "implicit":
        settings["lam"] = lam
    elif name in ("implicit-neumann", "t1-t2"):
        settings |= {"lam": lam, "alpha": inner_lr}
    elif name == "truncated":
        settings["truncate"] = truncate
    return ESTIMATORS[name](**settings)
