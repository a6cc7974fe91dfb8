"""``metalab bench estimators``: time and memory of one meta-step per estimator and inner steps T.

The workload is sinusoid regression with an MLP 1-W-W-1 (``--width``), meta-batch 25 and K = 10.
Each row times one compiled meta-step (compiled once: the same program gives the time and
``xla_temp_mb``, the temporary buffers XLA allocates for it from ``memory_analysis()``, which
measures the estimator itself rather than the process). The default sweep (T in {10, 100})
finishes in under 3 minutes on 2 CPU cores; ``--full`` adds T = 1000. Backprop stores every
inner step for the backward pass (linear in T); checkpointing (``backprop-remat``) keeps
O(sqrt T); the estimators that never differentiate through the inner loop (first-order on
MAML, Reptile, implicit, contrastive, evolution) stay flat.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jax
import optax

from metalab.bench.base import TIMING_FIELDS, Bench, device_name, peak_rss_mb, time_compiled
from metalab.errors import flag, require
from metalab.estimators import ESTIMATORS, require_support, supporting
from metalab.learners import LEARNERS
from metalab.models import mlp
from metalab.tasks import Sinusoid
from metalab.training import init_state, make_meta_step, scan_steps
from metalab.training.cost import compiled_temp_mb
from metalab.training.threads import use_cpu_threads

DEFAULT_T = (10, 100)
FULL_T = (10, 100, 1000)


@dataclass(frozen=True)
class EstimatorsBenchConfig:
    """Default: every estimator that can drive the learner, at its default settings, MAML,
    T in {10, 100} (``--full``: T in {10, 100, 1000})."""

    estimators: tuple[str, ...] = ()
    """registered estimator names (default: every one that supports ``--learner``)"""
    learner: str = "maml"
    inner_steps: tuple[int, ...] = ()
    """inner steps T to time (default: 10 and 100; with --full also 1000)"""
    full: bool = False
    """the long sweep: T up to 1000 (about 15 minutes on 2 CPU cores)"""
    width: int = 40
    """hidden units in each of the MLP's two hidden layers"""
    meta_batch: int = 25
    k_shot: int = 10
    min_seconds: float = 0.3
    """minimum timed seconds per configuration"""

    def __post_init__(self) -> None:
        learner = LEARNERS[self.learner](mlp((1, self.width, self.width, 1)), 0.01)
        for name in self.estimators:
            require_support(name, learner, "--estimators")
        require(all(t >= 1 for t in self.inner_steps), "--inner-steps", "must be >= 1")
        for name in ("width", "meta_batch", "k_shot"):
            require(getattr(self, name) > 0, flag(name), "must be positive")


def _compile(step: Callable, state: Any) -> tuple[Any, float]:
    """(compiled one-meta-step program, compile seconds)."""
    start = time.perf_counter()
    compiled = scan_steps(step, 1).lower(state).compile()
    return compiled, time.perf_counter() - start


def rows(cfg: EstimatorsBenchConfig) -> Iterator[dict]:
    """One row per (estimator, inner steps); each T's programs are compiled in parallel (one
    worker per core), then timed one after the other."""
    use_cpu_threads(small=True)
    sizes = (1, cfg.width, cfg.width, 1)
    learner = LEARNERS[cfg.learner](mlp(sizes), 0.01)
    optimizer = optax.adam(1e-3)
    state = init_state(learner, optimizer, jax.random.PRNGKey(0))
    names = cfg.estimators or supporting(learner)
    with ThreadPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        for inner in cfg.inner_steps or (FULL_T if cfg.full else DEFAULT_T):
            steps = [make_meta_step(learner, ESTIMATORS[name](), optimizer=optimizer,
                                    tasks=Sinusoid(cfg.k_shot, cfg.k_shot),
                                    meta_batch=cfg.meta_batch,
                                    inner_steps=inner,
                                    key=jax.random.PRNGKey(1)) for name in names]
            programs = [f.result() for f in [pool.submit(_compile, s, state) for s in steps]]
            for name, (compiled, compile_s) in zip(names, programs, strict=True):
                _, seconds = time_compiled(compiled, (state,), min_seconds=cfg.min_seconds,
                                           min_calls=2)
                yield {
                    "workload": f"sinusoid-mlp-{'-'.join(map(str, sizes))}",
                    "learner": cfg.learner,
                    "estimator": name,
                    "inner_steps": inner,
                    "meta_batch": cfg.meta_batch,
                    "ms_per_meta_step": round(seconds * 1e3, 3),
                    "compile_s": round(compile_s, 2),
                    "xla_temp_mb": round(compiled_temp_mb(compiled), 2),
                    "peak_rss_mb": round(peak_rss_mb(), 1),
                    "device": device_name(),
                }


BENCH = Bench("estimators", "time and XLA temp memory per meta-step, per estimator and T",
              EstimatorsBenchConfig, rows,
              smoke=("--estimators", "first-order", "--inner-steps", "2", "--width", "4",
                     "--meta-batch", "2", "--min-seconds", "0"),
              row_fields=("workload", "learner", "estimator", "inner_steps", "meta_batch",
                          "xla_temp_mb", "peak_rss_mb", *TIMING_FIELDS))
