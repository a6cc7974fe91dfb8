"""``metalab bench omniglot``: milliseconds per conv-net meta-step, by conv and task mapping.

Workload: the 4-block conv net (64 filters) on 28x28 inputs, 5-way 1-shot episodes with 5
queries per class (random images: the cost does not depend on their content), meta-batch 32,
inner SGD, outer Adam, one jit-compiled meta-step per configuration. Each row is one
(learner, estimator, conv implementation, task mapping, inner steps); ``auto`` marks the pair
``conv="auto"``/``task_map="auto"`` picks on this backend. Baselines measured in the same run:
``speedup_vs_first`` is the ratio to the first variant with the same learner, estimator and
inner steps, and ``speedup_vs_pytorch`` the ratio to a plain PyTorch second-order MAML
meta-step on the same workload (``bench/torch_maml.py``; MAML + backprop rows, when torch is
installed). torch is in no metalab extra: install the CPU build the numbers were taken with by
``pip install torch==2.13.0`` (from a CPU wheel index; a plain ``pip install torch`` pulls a
CUDA build of several GB).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import jax
import numpy as np
import optax

from metalab.bench.base import (
    TIMING_FIELDS,
    Bench,
    device_name,
    lowered_gflop,
    matmul_roof_gflops,
    peak_rss_mb,
)
from metalab.errors import flag, require
from metalab.estimators import ESTIMATORS, require_support
from metalab.estimators.task_map import STRATEGIES, resolve
from metalab.learners.fewshot import conv_learner
from metalab.learners.inner import INNER_UNROLL
from metalab.models.convnet import CONVS, default_conv
from metalab.tasks.episodes import Episodes, ImageClasses
from metalab.training import init_state, make_meta_step, scan_steps


@dataclass(frozen=True)
class OmniglotBenchConfig:
    """Default: MAML second order, three (conv, task mapping) pairs, 1 inner step, and the
    PyTorch baseline; ``xla:vmap`` (grouped convolutions, about 50 s to compile and 50 s a
    step on 2 CPU cores) only with ``--full`` or ``--variants``, to keep the default under 3
    minutes."""

    learners: tuple[str, ...] = ("maml",)
    estimators: tuple[str, ...] = ("backprop",)
    variants: tuple[str, ...] = ()
    """conv:task_map pairs (default im2col:map, im2col:vmap, xla:map; --full adds xla:vmap);
    the first is the baseline of speedup_vs_first. The CPU choice comes first, right after
    PyTorch: a slow variant's large buffers can slow later rows of the same process"""
    inner_steps: tuple[int, ...] = ()
    """default: 1 (with --full also 5)"""
    full: bool = False
    """the long sweep: xla:vmap too (minutes per step on CPU) and 5 inner steps"""
    meta_batch: int = 32
    n_way: int = 5
    k_shot: int = 1
    q_query: int = 5
    width: int = 64
    repeats: int = 3
    """timed calls per configuration after the compiling one (the best is reported)"""
    pytorch: bool = True
    """also time PyTorch MAML on the same workload, if torch is installed"""

    def __post_init__(self) -> None:
        for name in self.learners:
            learner = conv_learner(name, self.n_way, (28, 28, 1), self.width, 0.4, "im2col")
            for estimator in self.estimators:
                require_support(estimator, learner)
        for v in self.variants:
            conv, _, task_map = v.partition(":")
            require(conv in CONVS and task_map in STRATEGIES, "--variants",
                    f"each must be CONV:TASK_MAP with CONV in {CONVS} and TASK_MAP in "
                    f"{STRATEGIES}, got {v!r}")
        require(all(t >= 1 for t in self.inner_steps), "--inner-steps", "must be >= 1")
        for name in ("meta_batch", "n_way", "k_shot", "q_query", "width", "repeats"):
            require(getattr(self, name) > 0, flag(name), "must be positive")


def _classes(cfg: OmniglotBenchConfig) -> ImageClasses:
    """Random uint8 images [n_way + 3, K + Q, 28, 28, 1] standing in for Omniglot."""
    shape = (cfg.n_way + 3, cfg.k_shot + cfg.q_query, 28, 28, 1)
    images = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    return ImageClasses(images, np.zeros(shape[0], np.int32), ("",) * shape[0])


def time_steps(fn: Callable, args: tuple, repeats: int) -> tuple[float, float]:
    """(compile seconds, best of ``repeats`` steady-state seconds) of a jitted ``fn(*args)``;
    the best discards interference from other work on a shared machine."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return compile_s, best


def _pytorch_row(cfg: OmniglotBenchConfig, inner: int,
                 workload: str) -> tuple[dict, float] | None:
    """The PyTorch MAML baseline row and its seconds per meta-step, or None when not asked
    for or torch is missing."""
    if not cfg.pytorch:
        return None
    try:
        from metalab.bench import torch_maml
    except ImportError:
        return None
    on = torch_maml.device(jax.default_backend())
    _, best = torch_maml.time_meta_step(cfg.n_way, cfg.k_shot, cfg.q_query, cfg.meta_batch,
                                        inner, cfg.width, cfg.repeats, on)
    return {"workload": workload, "learner": "maml", "estimator": "backprop",
            "conv": "pytorch", "task_map": "python loop", "inner_steps": inner,
            "meta_batch": cfg.meta_batch, "ms_per_meta_step": round(best * 1e3, 1),
            "device": f"{on} ({torch_maml.version(on)})"}, best


def _workload_gflop(learner_name: str, est_name: str, cfg: OmniglotBenchConfig,
                    episodes: Episodes, inner: int) -> float | None:
    """GFLOP of one meta-step, counted on the tasks-vmapped im2col program (the same
    arithmetic as every variant; XLA counts the body of a ``lax.map`` once). None past
    ``INNER_UNROLL`` inner steps, where the inner loop stays a loop."""
    if inner > INNER_UNROLL:
        return None
    learner = conv_learner(learner_name, cfg.n_way, (28, 28, 1), cfg.width, 0.4, "im2col")
    est = ESTIMATORS[est_name](task_map="vmap")
    optimizer = optax.adam(1e-3)
    step = make_meta_step(learner, est, optimizer=optimizer, tasks=episodes,
                          meta_batch=cfg.meta_batch, inner_steps=inner,
                          key=jax.random.PRNGKey(1))
    return lowered_gflop(scan_steps(step, 1), (init_state(learner, optimizer,
                                                          jax.random.PRNGKey(0)),))


def _rate(gflop: float | None, seconds: float, roof: float) -> dict:
    """Arithmetic rate of a row and its fraction of the same run's large-matmul rate."""
    if gflop is None:
        return {"gflop_per_meta_step": None, "gflops": None, "fraction_of_matmul_roof": None}
    return {"gflop_per_meta_step": round(gflop, 2), "gflops": round(gflop / seconds, 1),
            "fraction_of_matmul_roof": round(gflop / seconds / roof, 2)}


def rows(cfg: OmniglotBenchConfig) -> Iterator[dict]:
    """Per inner-step count: the PyTorch row (if any), then one row per (learner, estimator,
    variant). Every row also gives its arithmetic rate against ``matmul_roof_gflops``, a
    large float32 matmul timed at the start of the run (the ceiling of this machine)."""
    episodes = Episodes.of(_classes(cfg), cfg.n_way, cfg.k_shot, cfg.q_query)
    optimizer = optax.adam(1e-3)
    roof = matmul_roof_gflops()
    gflop_of = functools.cache(  # the PyTorch row and MAML's rows share one count
        lambda learner, est, inner: _workload_gflop(learner, est, cfg, episodes, inner))
    workload = f"omniglot-conv{cfg.width}-{cfg.n_way}w{cfg.k_shot}s{cfg.q_query}q"
    chosen = (default_conv(), resolve("auto"))
    variants = cfg.variants or (("im2col:map", "im2col:vmap", "xla:map")
                                + (("xla:vmap",) if cfg.full else ()))
    for inner in cfg.inner_steps or ((1, 5) if cfg.full else (1,)):
        baseline = _pytorch_row(cfg, inner, workload)
        torch_s = None
        if baseline is not None:
            torch_row, torch_s = baseline
            rate = _rate(gflop_of("maml", "backprop", inner), torch_s, roof)
            yield torch_row | rate | {"matmul_roof_gflops": round(roof)}
        for learner_name in cfg.learners:
            for est_name in cfg.estimators:
                gflop = gflop_of(learner_name, est_name, inner)
                first: float | None = None
                for variant in variants:
                    conv, _, task_map = variant.partition(":")
                    learner = conv_learner(learner_name, cfg.n_way, (28, 28, 1), cfg.width,
                                           0.4, conv)
                    est = ESTIMATORS[est_name](task_map=task_map)
                    step = make_meta_step(learner, est, optimizer=optimizer, tasks=episodes,
                                          meta_batch=cfg.meta_batch,
                                          inner_steps=inner,
                                          key=jax.random.PRNGKey(1))
                    state = init_state(learner, optimizer, jax.random.PRNGKey(0))
                    compile_s, seconds = time_steps(scan_steps(step, 1), (state,), cfg.repeats)
                    first = first or seconds
                    same_as_torch = learner_name == "maml" and est.name == "backprop"
                    yield {
                        "workload": workload,
                        "learner": learner_name,
                        "estimator": est.name,
                        "conv": conv,
                        "task_map": task_map,
                        "auto": (conv if conv != "auto" else chosen[0],
                                 resolve(task_map)) == chosen,
                        "inner_steps": inner,
                        "meta_batch": cfg.meta_batch,
                        "steps_per_dispatch": 1,
                        "ms_per_meta_step": round(seconds * 1e3, 1),
                        "ms_per_meta_step_1_per_dispatch": round(seconds * 1e3, 1),
                        "speedup_vs_1_per_dispatch": 1.0,
                        "speedup_vs_first": round(first / seconds, 2),
                        "speedup_vs_pytorch": (round(torch_s / seconds, 2)
                                               if torch_s is not None and same_as_torch
                                               else None),
                        **_rate(gflop, seconds, roof),
                        "matmul_roof_gflops": round(roof),
                        "compile_s": round(compile_s, 1),
                        "peak_rss_mb": round(peak_rss_mb(), 1),
                        "device": device_name(),
                    }


BENCH = Bench("omniglot", "ms per conv-net meta-step by conv and task mapping, vs PyTorch",
              OmniglotBenchConfig, rows,
              smoke=("--estimators", "first-order", "--meta-batch", "1", "--n-way", "2",
                     "--q-query", "1", "--width", "2", "--repeats", "1", "--variants",
                     "im2col:map", "--no-pytorch"),
              row_fields=("workload", "learner", "estimator", "conv", "task_map", "auto",
                          "inner_steps", "meta_batch", "speedup_vs_first", "speedup_vs_pytorch",
                          "gflop_per_meta_step", "gflops", "fraction_of_matmul_roof",
                          "matmul_roof_gflops", "peak_rss_mb", *TIMING_FIELDS))
