"""Shared pieces of the contrastive meta-learning experiments: training several seeds as one
compiled program and reading its cost off that same program, estimator settings.

Seeds are a leading axis of the train state and the meta-step is ``jax.vmap``-ed over it
(``training.seeds``: each seed with its own initialisation and task stream), so a comparison of
S seeds compiles once per (learner, estimator). The cost columns (compile seconds, ms per
meta-step, XLA temporary memory) come from the training program itself, compiled ahead of its
first call (``measured``), not from a second compilation of a probe.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import optax

from metalab.bench.base import compiled_temp_mb
from metalab.errors import Diverged
from metalab.estimators import ESTIMATORS, Estimator
from metalab.learners.base import Learner
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage
from metalab.tasks.base import TaskDistribution
from metalab.training import TrainState, init_state, make_meta_step, scan_steps
from metalab.training.seeds import seed_keys, stack_states, vmap_seeds

ESTIMATOR_NAMES = ("contrastive-symmetric", "contrastive", "implicit", "truncated",
                   "first-order")
"""the estimators the comparisons drive, in table order"""


@dataclass
class Cost:
    """What one (learner, estimator) training program cost, all seeds together: seconds
    compiling, seconds running (after compilation) and the meta-steps run, and the XLA
    temporary memory of the compiled program."""

    seeds: int
    compile_s: float = 0.0
    run_s: float = 0.0
    steps: int = 0
    temp_mb: float = math.nan

    def ms_per_meta_step(self) -> float:
        """Milliseconds per meta-step of one seed (the vmapped seeds' time / seeds)."""
        return self.run_s * 1e3 / (self.steps * self.seeds) if self.steps else math.nan

    def temp_mb_per_seed(self) -> float:
        """XLA temporary MiB per seed (buffers of the vmapped program carry the seed axis)."""
        return self.temp_mb / self.seeds


def measured(cost: Cost) -> Callable[[Callable, int], Callable]:
    """A chunk ``program`` for ``fit``: ``scan_steps`` compiled ahead of its first call, its
    compile time and temporary memory, and the wall time of every call, added to ``cost``."""

    def program(step: Callable, n: int) -> Callable:
        jitted, compiled = scan_steps(step, n), []

        def call(state: TrainState) -> Any:
            if not compiled:
                start = time.perf_counter()
                compiled.append(jitted.lower(state).compile())
                cost.compile_s += time.perf_counter() - start
                temp = compiled_temp_mb(compiled[0])
                cost.temp_mb = temp if math.isnan(cost.temp_mb) else max(cost.temp_mb, temp)
            start = time.perf_counter()
            out = jax.block_until_ready(compiled[0](state))
            cost.run_s += time.perf_counter() - start
            cost.steps += n
            return out

        return call

    return program


def train_seeds(rundir: RunDir, stage: str, learner: Learner, estimator: Estimator,
                optimizer: optax.GradientTransformation, tasks: TaskDistribution,
                meta_batch: int, inner_steps: int, steps: int, seed: int, seeds: int,
                chunk: int, checkpoint_every: int) -> tuple[TrainState | None, str, Cost]:
    """Meta-train ``seeds`` seeds together (resuming from the stage's checkpoint). Returns the
    state (None if training diverged), a sentence saying where it diverged, and the training
    program's cost (a stage restored already finished runs one probe meta-step for it)."""
    init_keys, run_keys = seed_keys(seed, seeds)
    step = vmap_seeds(lambda key: make_meta_step(learner, estimator, optimizer=optimizer,
                                                 tasks=tasks,
                                                 meta_batch=meta_batch,
                                                 inner_steps=inner_steps,
                                                 key=key), run_keys)
    init = stack_states(lambda key: init_state(learner, optimizer, key), init_keys)
    cost = Cost(seeds)
    try:
        state = train_stage(rundir, stage, init, step, steps, chunk=chunk,
                            checkpoint_every=checkpoint_every, program=measured(cost))
    except Diverged as err:
        return None, f"diverged: {err.what} at meta-step {err.step}", cost
    if cost.steps == 0:
        measured(cost)(step, 1)(state)
    return state, "", cost


def make_estimator(name: str, *, beta: float, lam: float, nudged_steps: int,
                   nudged_lr_scale: float, truncate: int, task_map: str) -> Estimator:
    """``name`` from ``ESTIMATOR_NAMES`` (or t1-t2, implicit-neumann) at the shared settings;
    Neumann's and T1-T2's step is the learner's inner rate (``Learner.inner_lr``)."""
    settings: dict[str, Any] = {"task_map": task_map}
    if name.startswith("contrastive"):
        settings |= {"beta": beta, "lam": lam, "nudged_steps": nudged_steps,
                     "nudged_lr_scale": nudged_lr_scale}
    elif name in ("implicit", "implicit-neumann", "t1-t2"):
        settings["lam"] = lam
    elif name == "truncated":
        settings["truncate"] = truncate
    return ESTIMATORS[name](**settings)
