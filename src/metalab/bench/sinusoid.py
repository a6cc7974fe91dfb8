"""``metalab bench sinusoid``: milliseconds per meta-step of the sinusoid workload.

Each configuration is timed three times in the same run: one meta-step per dispatch (the
baseline), ``chunk`` meta-steps per dispatch in one ``lax.scan`` with the chunk's task batches
drawn ahead (what the trainer does), and the same chunk drawing each batch inside the scan;
the ratios are ``speedup_vs_1_per_dispatch`` and ``speedup_vs_drawn_in_scan``. XLA runs this
small program on one CPU thread unless ``--cpu-threads`` or ``METALAB_CPU_THREADS`` says
otherwise (``training/threads.py``; the row's ``cpu_threads``). The default (MAML,
backprop, T in {1, 5}) finishes in well under 3 minutes on 2 CPU cores; ``--full`` adds
Meta-SGD, first-order and T = 10.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import jax
import optax

from metalab.bench.base import TIMING_FIELDS, Bench, meta_step_row
from metalab.errors import require
from metalab.estimators import ESTIMATORS
from metalab.learners import LEARNERS
from metalab.models import mlp
from metalab.tasks import Sinusoid
from metalab.training import init_state, make_meta_step
from metalab.training.threads import resolve, use_cpu_threads


@dataclass(frozen=True)
class SinusoidBenchConfig:
    """Default workload: MLP 1-40-40-1, K = 10, meta-batch 25, inner SGD 0.01, outer Adam 1e-3."""

    learners: tuple[str, ...] = ()
    """default: maml (with --full also metasgd)"""
    estimators: tuple[str, ...] = ()
    """default: backprop (with --full also first-order)"""
    inner_steps: tuple[int, ...] = ()
    """default: 1 and 5 (with --full also 10)"""
    full: bool = False
    """the long sweep: two learners, two estimators, T up to 10"""
    meta_batch: int = 25
    k_shot: int = 10
    hidden: tuple[int, ...] = (40, 40)
    chunk: int = 100
    """meta-steps per dispatch in the scanned configuration"""
    min_seconds: float = 1.0
    """minimum timed seconds per configuration"""
    cpu_threads: str = ""
    """XLA CPU threads: auto (one, for this small program), all, or a count; default
    $METALAB_CPU_THREADS, else auto (training/threads.py)"""

    def __post_init__(self) -> None:
        for name in self.learners:
            require(name in LEARNERS, "--learners", f"choose from {sorted(LEARNERS)}")
        for name in self.estimators:
            require(name in ESTIMATORS, "--estimators", f"choose from {sorted(ESTIMATORS)}")
        require(all(t >= 1 for t in self.inner_steps), "--inner-steps", "must be >= 1")
        require(self.meta_batch > 0, "--meta-batch", "must be positive")
        require(self.k_shot > 0, "--k-shot", "must be positive")
        require(self.chunk > 1, "--chunk", "must be at least 2")
        if self.cpu_threads:
            resolve(True, self.cpu_threads, "--cpu-threads")


def rows(cfg: SinusoidBenchConfig) -> Iterator[dict]:
    """One row per (learner, estimator, inner steps)."""
    threads = use_cpu_threads(small=True, setting=cfg.cpu_threads or None)
    model = mlp((1, *cfg.hidden, 1))
    optimizer = optax.adam(1e-3)
    full = cfg.full
    for learner_name in cfg.learners or (("maml", "metasgd") if full else ("maml",)):
        learner = LEARNERS[learner_name](model, 0.01)
        for est_name in cfg.estimators or (("backprop", "first-order") if full else
                                           ("backprop",)):
            for inner in cfg.inner_steps or ((1, 5, 10) if full else (1, 5)):
                step = make_meta_step(learner, ESTIMATORS[est_name](), optimizer=optimizer,
                                      tasks=Sinusoid(cfg.k_shot, cfg.k_shot),
                                      meta_batch=cfg.meta_batch,
                                      inner_steps=inner,
                                      key=jax.random.PRNGKey(1))
                state = init_state(learner, optimizer, jax.random.PRNGKey(0))
                yield {
                    "workload": f"sinusoid-mlp-{'-'.join(map(str, (1, *cfg.hidden, 1)))}",
                    "learner": learner_name,
                    "estimator": est_name,
                    "inner_steps": inner,
                    "meta_batch": cfg.meta_batch,
                    **meta_step_row(step, state, cfg.chunk, min_seconds=cfg.min_seconds),
                    "cpu_threads": threads or "all",
                }


BENCH = Bench(
    "sinusoid", "ms per meta-step of sinusoid MAML", SinusoidBenchConfig, rows,
    smoke=("--learners", "maml", "--estimators", "first-order", "--inner-steps", "1",
           "--meta-batch", "2", "--hidden", "4", "--chunk", "2", "--min-seconds", "0"),
    row_fields=("workload", "learner", "estimator", "inner_steps", "meta_batch",
                "steps_per_dispatch", "ms_per_meta_step_1_per_dispatch",
                "speedup_vs_1_per_dispatch", *TIMING_FIELDS))
