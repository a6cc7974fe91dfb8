"""``metalab bench seeds``: S seeds as one vmapped program against S programs one after another.

Workload: sinusoid MAML (MLP 1-40-40-1, K = 10, meta-batch 25, second order, 1 inner step),
``chunk`` meta-steps per dispatch as the trainer runs them. For each seed count S the same
run measures one seed's meta-step (what a sequential run repeats S times, compiling each
seed's program anew) and the vmapped meta-step of all S seeds (``training.seeds``: compiled
once); ``speedup`` is S x one seed's time over the vmapped time, and ``speedup_with_compile``
adds the compile times over ``steps`` meta-steps (S compiles against one).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import jax
import optax

from metalab.bench.base import Bench, device_name, time_compiled
from metalab.errors import require
from metalab.estimators import ESTIMATORS
from metalab.learners import LEARNERS
from metalab.models import mlp
from metalab.tasks import Sinusoid
from metalab.training import (
    init_state,
    make_meta_step,
    scan_steps,
    seed_keys,
    stack_states,
    vmap_seeds,
)


@dataclass(frozen=True)
class SeedsBenchConfig:
    """Default: S in {4, 16} (``--full``: {2, 4, 8, 16, 32})."""

    seeds: tuple[int, ...] = ()
    """seed counts S (default 4 and 16)"""
    full: bool = False
    """the long sweep of seed counts"""
    inner_steps: int = 1
    chunk: int = 20
    """meta-steps per dispatch"""
    steps: int = 10000
    """meta-steps of the run that ``speedup_with_compile`` prices"""
    min_seconds: float = 0.5

    def __post_init__(self) -> None:
        require(all(s >= 1 for s in self.seeds), "--seeds", "must be >= 1")
        require(self.inner_steps >= 1, "--inner-steps", "must be >= 1")
        require(self.chunk >= 1 and self.steps >= 1, "--chunk", "--chunk and --steps >= 1")


def rows(cfg: SeedsBenchConfig) -> Iterator[dict]:
    """One row per seed count."""
    learner = LEARNERS["maml"](mlp((1, 40, 40, 1)), 0.01)
    optimizer = optax.adam(1e-3)

    def step(key: jax.Array):
        return make_meta_step(learner, ESTIMATORS["backprop"](), optimizer=optimizer,
                              tasks=Sinusoid(10, 10), meta_batch=25,
                              inner_steps=cfg.inner_steps, key=key)

    def init(key: jax.Array):
        return init_state(learner, optimizer, key)

    one_compile, one = time_compiled(scan_steps(step(jax.random.PRNGKey(1)), cfg.chunk),
                                     (init(jax.random.PRNGKey(0)),),
                                     min_seconds=cfg.min_seconds)
    for s in cfg.seeds or ((2, 4, 8, 16, 32) if cfg.full else (4, 16)):
        init_keys, run_keys = seed_keys(0, s)
        v_compile, vmapped = time_compiled(scan_steps(vmap_seeds(step, run_keys), cfg.chunk),
                                           (stack_states(init, init_keys),),
                                           min_seconds=cfg.min_seconds)
        sequential_run = s * (one_compile + cfg.steps * one / cfg.chunk)
        vmapped_run = v_compile + cfg.steps * vmapped / cfg.chunk
        yield {
            "workload": "sinusoid-maml-1-40-40-1",
            "seeds": s,
            "inner_steps": cfg.inner_steps,
            "ms_per_meta_step_all_seeds_sequential": round(s * one / cfg.chunk * 1e3, 3),
            "ms_per_meta_step_all_seeds_vmapped": round(vmapped / cfg.chunk * 1e3, 3),
            "speedup": round(s * one / vmapped, 2),
            "compile_s_one_seed": round(one_compile, 2),
            "compile_s_vmapped": round(v_compile, 2),
            "speedup_with_compile": round(sequential_run / vmapped_run, 2),
            "device": device_name(),
        }


BENCH = Bench("seeds", "vmapped seeds vs one seed after another (sinusoid MAML)",
              SeedsBenchConfig, rows,
              smoke=("--seeds", "2", "--chunk", "2", "--min-seconds", "0"),
              row_fields=("workload", "seeds", "inner_steps",
                          "ms_per_meta_step_all_seeds_sequential",
                          "ms_per_meta_step_all_seeds_vmapped", "speedup", "compile_s_one_seed",
                          "compile_s_vmapped", "speedup_with_compile", "device"))
