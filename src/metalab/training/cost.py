"""What a compiled training program costs: seconds compiling, seconds running, meta-steps run
and XLA's temporary memory, read off the program that trains (not a second compilation of a
probe).

``measured(cost)`` is a chunk ``program`` for ``fit`` / ``train_stage``: ``scan_steps``
compiled ahead of its first call, so compilation and steady-state time are apart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax

from metalab.training.trainer import TrainState, scan_steps


def compiled_temp_mb(compiled: Any) -> float:
    """Temporary memory of an already compiled program in MiB (NaN where XLA has no
    analysis), so a caller that also times the program compiles it once."""
    analysis = compiled.memory_analysis()
    return analysis.temp_size_in_bytes / 2**20 if analysis is not None else float("nan")


def xla_temp_mb(fn: Callable, args: tuple) -> float:
    """Temporary memory of the compiled program ``fn(*args)`` in MiB, from XLA's memory
    analysis."""
    return compiled_temp_mb(jax.jit(fn).lower(*args).compile())


@dataclass
class Cost:
    """What one training program cost, all seeds together: seconds compiling, seconds
    running (after compilation) and the meta-steps run, and the XLA temporary memory of the
    compiled program."""

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
