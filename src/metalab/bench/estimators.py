"""``metalab bench estimators``: time and memory of one meta-step per estimator and inner steps T.

The workload is sinusoid regression with an MLP 1-W-W-1 (``--width``), meta-batch 25 and K = 10.
Next to the fields of ``metalab bench sinusoid``, each row has ``xla_temp_mb``: the temporary
buffers XLA allocates for the compiled meta-step (``memory_analysis()`` of the lowered program),
which measures the estimator itself rather than the process. Backprop stores every inner step
for the backward pass (linear in T); checkpointing (``backprop-remat``) keeps O(sqrt T); the
estimators that never differentiate through the inner loop (first-order on MAML, Reptile,
implicit, contrastive, evolution) stay flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import jax
import optax

from metalab.bench.base import Bench, meta_step_row, xla_temp_mb
from metalab.errors import flag, require
from metalab.estimators import ESTIMATORS, require_support, supporting
from metalab.learners import LEARNERS
from metalab.models import mlp
from metalab.tasks import Sinusoid
from metalab.training import init_state, make_meta_step


@dataclass(frozen=True)
class EstimatorsBenchConfig:
    """Default: every estimator that can drive the learner, at its default settings, MAML,
    T in {10, 100}."""

    estimators: tuple[str, ...] = ()
    """registered estimator names (default: every one that supports ``--learner``)"""
    learner: str = "maml"
    inner_steps: tuple[int, ...] = (10, 100)
    width: int = 40
    """hidden units in each of the MLP's two hidden layers"""
    meta_batch: int = 25
    k_shot: int = 10
    chunk: int = 2
    """meta-steps per dispatch in the scanned configuration"""
    min_seconds: float = 0.5
    """minimum timed seconds per configuration"""

    def __post_init__(self) -> None:
        learner = LEARNERS[self.learner](mlp((1, self.width, self.width, 1)), 0.01)
        for name in self.estimators:
            require_support(name, learner, "--estimators")
        require(all(t >= 1 for t in self.inner_steps), "--inner-steps", "must be >= 1")
        for name in ("width", "meta_batch", "k_shot"):
            require(getattr(self, name) > 0, flag(name), "must be positive")
        require(self.chunk > 1, "--chunk", "must be at least 2")


def rows(cfg: EstimatorsBenchConfig) -> Iterator[dict]:
    """One row per (estimator, inner steps)."""
    sizes = (1, cfg.width, cfg.width, 1)
    learner = LEARNERS[cfg.learner](mlp(sizes), 0.01)
    optimizer = optax.adam(1e-3)
    state = init_state(learner, optimizer, jax.random.PRNGKey(0))
    for name in cfg.estimators or supporting(learner):
        for inner in cfg.inner_steps:
            step = make_meta_step(learner, ESTIMATORS[name](), optimizer,
                                  Sinusoid(cfg.k_shot, cfg.k_shot), cfg.meta_batch, inner,
                                  jax.random.PRNGKey(1))
            yield {
                "workload": f"sinusoid-mlp-{'-'.join(map(str, sizes))}",
                "learner": cfg.learner,
                "estimator": name,
                "inner_steps": inner,
                "meta_batch": cfg.meta_batch,
                **meta_step_row(step, state, cfg.chunk, min_seconds=cfg.min_seconds,
                                min_calls=2),
                "xla_temp_mb": round(xla_temp_mb(step, (state,)), 2),
            }


BENCH = Bench("estimators", "time and XLA temp memory per meta-step, per estimator and T",
              EstimatorsBenchConfig, rows)
