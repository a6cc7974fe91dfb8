"""Shared timing and memory measurement for ``metalab bench``.

Times are of steady-state calls (after compilation, reported apart as ``compile_s``); memory
is the process's peak resident set size, plus XLA's own estimate of a compiled program's
temporary buffers where a benchmark asks for it (``metalab.training.cost``).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import jax

from metalab.training import MetaStep, scan_steps


@dataclass(frozen=True)
class Bench:
    """A named benchmark: ``rows(config)`` yields one dict per configuration."""

    name: str
    description: str
    config: type
    rows: Callable[[Any], Iterator[dict[str, Any]]]
    # options of a tiny-budget run, as typed after ``metalab bench NAME`` (the smoke test runs
    # every registered bench with them), and the fields every row documents
    smoke: tuple[str, ...] = ()
    row_fields: tuple[str, ...] = ()


TIMING_FIELDS = ("ms_per_meta_step", "compile_s", "device")
"""the timing fields of every meta-step row (``meta_step_row`` and its kin)"""


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def device_name() -> str:
    """The default JAX device, e.g. ``cpu`` or ``NVIDIA H100``."""
    d = jax.devices()[0]
    return f"{d.platform}:{getattr(d, 'device_kind', d.platform)}"


def time_compiled(fn: Callable, args: tuple, *, min_seconds: float = 1.0,
                  min_calls: int = 5) -> tuple[float, float]:
    """(compile seconds, steady-state seconds per call) of a jitted ``fn(*args)``.

    The first call compiles; later calls are repeated until ``min_seconds`` have passed and
    the best of five equal batches is taken, which discards interference from other work.
    """
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    calls = 0
    while calls < min_calls or time.perf_counter() - start < min_seconds:
        jax.block_until_ready(fn(*args))
        calls += 1
    per_batch = max(1, calls // 5)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(per_batch):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t0) / per_batch)
    return compile_s, best


def matmul_roof_gflops(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of one large float32 matmul (n x n by n x n) on the default device, best of
    ``repeats``: the practical ceiling a workload's arithmetic rate is compared with."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
    matmul = jax.jit(lambda x: x @ x)
    jax.block_until_ready(matmul(a))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(matmul(a))
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def lowered_gflop(fn: Callable, args: tuple) -> float:
    """GFLOP of one call of ``fn(*args)`` by XLA's cost analysis of the lowered (not yet
    compiled) program. A loop's body counts once, so pass a program without loops over the
    work (or whose loops are unrolled)."""
    return float(jax.jit(fn).lower(*args).cost_analysis()["flops"]) / 1e9


def meta_step_row(meta_step: Callable, state: Any, chunk: int, *, min_seconds: float,
                  min_calls: int = 5) -> dict[str, Any]:
    """Timing fields of one meta-step configuration: ``chunk`` meta-steps per dispatch, with
    one meta-step per dispatch measured in the same run as the baseline, and (for a
    ``MetaStep``) the same chunk with every step drawing its own tasks inside the scan, as
    before ``scan_steps`` drew them ahead."""
    def timed(program: Callable) -> tuple[float, float]:
        return time_compiled(program, (state,), min_seconds=min_seconds, min_calls=min_calls)

    _, single = timed(scan_steps(meta_step, 1))
    compile_s, chunked = timed(scan_steps(meta_step, chunk))
    per_step = chunked / chunk
    row = {
        "steps_per_dispatch": chunk,
        "ms_per_meta_step": round(per_step * 1e3, 4),
        "ms_per_meta_step_1_per_dispatch": round(single * 1e3, 4),
        "speedup_vs_1_per_dispatch": round(single / per_step, 2),
    }
    if isinstance(meta_step, MetaStep):
        inside = timed(scan_steps(lambda s: meta_step(s), chunk))[1] / chunk
        row |= {"ms_per_meta_step_drawn_in_scan": round(inside * 1e3, 4),
                "speedup_vs_drawn_in_scan": round(inside / per_step, 2)}
    return row | {
        "compile_s": round(compile_s, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "device": device_name(),
    }


def stream_rows(rows: Iterable[dict[str, Any]], as_json: bool) -> list[dict[str, Any]]:
    """Print every row the moment it is measured (a JSON line with ``--json``, else one
    ``key=value`` line) so a long bench shows progress; returns the rows for a final table."""
    done = []
    for row in rows:
        done.append(row)
        line = json.dumps(row) if as_json else "  ".join(f"{k}={v}" for k, v in row.items())
        print(line, flush=True)
    return done
