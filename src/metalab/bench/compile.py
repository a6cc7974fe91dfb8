"""``metalab bench compile``: seconds to trace, lower and compile the main program of each
line of work, with the persistent compilation cache bypassed, so a regression in compile
time shows (compiling dominates a ``--quick`` run: issue 29).

Each program is what the trainer compiles for that line of work: ``scan_steps(step, chunk)``
of its meta-step (or ascent step) at the experiment's default sizes, lowered from the
initial state and compiled, never run. ``lower_s`` is tracing plus lowering to StableHLO,
``compile_s`` XLA's compilation (wall seconds), ``cpu_s`` the CPU seconds of both, all
threads (steadier than wall time on a shared machine). The programs:

    sinusoid-maml     MAML + backprop, MLP 1-40-40-1, meta-batch 25, 5 inner steps
    convnet-maml      MAML + backprop, 4-block conv net (64 filters), 5-way 1-shot, 5
                      queries, meta-batch 32, 1 inner step (``bench omniglot``'s workload)
    contrastive       complex synapse + contrastive estimator on the conv net, 5-way 1-shot
                      (``run contrastive``'s Omniglot defaults: 200 free, 100 nudged steps)
    vsml              VS-ML rule meta-trained by gradient, 3 seeds, 8 streams of 100 steps
    effort-ascent     projected gradient ascent on the gain of ``run effort-gain`` (RK4)
    dynamics-lstm     the plain LSTM of ``run learning-dynamics`` (linear variant)

``--small`` builds each at tiny sizes: a check that every program still builds, not a
measurement. At those sizes each program took 4-10 CPU seconds to lower and compile (on a
crowded 2-core machine); the defaults compile the same six programs, nothing is run, and are
meant to finish within 3 minutes on 2 cores (not yet timed on an idle machine).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import jax
import numpy as np
import optax

from metalab.bench.base import Bench, device_name
from metalab.errors import require
from metalab.runs import compile_cache

Program = tuple[Callable, tuple]  # a jitted function and the arguments it is lowered for


@dataclass(frozen=True)
class CompileBenchConfig:
    """Default: every program at the experiments' sizes, 10 meta-steps per dispatch."""

    programs: tuple[str, ...] = ()
    """which programs (default: all; see ``metalab bench compile --help``'s list)"""
    chunk: int = 10
    """meta-steps per dispatch (the trainer's ``lax.scan`` length)"""
    small: bool = False
    """tiny sizes: checks that every program builds, measures nothing"""

    def __post_init__(self) -> None:
        for name in self.programs:
            require(name in PROGRAMS, "--programs", f"choose from {', '.join(PROGRAMS)}")
        require(self.chunk >= 1, "--chunk", "must be positive")


def _meta_step(learner: Any, estimator: Any, tasks: Any, meta_batch: int, inner: int,
               chunk: int) -> Program:
    from metalab.training import init_state, make_meta_step, scan_steps

    optimizer = optax.adam(1e-3)
    step = make_meta_step(learner, estimator, optimizer=optimizer, tasks=tasks,
                          meta_batch=meta_batch, inner_steps=inner, key=jax.random.PRNGKey(1))
    return scan_steps(step, chunk), (init_state(learner, optimizer, jax.random.PRNGKey(0)),)


def _episodes(n_way: int, q_query: int) -> Any:
    """5-way-style 1-shot episodes over random uint8 images (compiling reads no pixels)."""
    from metalab.tasks.episodes import Episodes, ImageClasses

    shape = (n_way + 3, 1 + q_query, 28, 28, 1)
    images = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    classes = ImageClasses(images, np.zeros(shape[0], np.int32), ("",) * shape[0])
    return Episodes.of(classes, n_way, 1, q_query)


def sinusoid_maml(small: bool, chunk: int) -> Program:
    from metalab.estimators import ESTIMATORS
    from metalab.learners import LEARNERS
    from metalab.models import mlp
    from metalab.tasks import Sinusoid

    learner = LEARNERS["maml"](mlp((1, *((4,) if small else (40, 40)), 1)), 0.01)
    return _meta_step(learner, ESTIMATORS["backprop"](), Sinusoid(10, 10), 2 if small else 25,
                      5, chunk)


def convnet_maml(small: bool, chunk: int) -> Program:
    from metalab.estimators import ESTIMATORS
    from metalab.learners.fewshot import conv_learner

    n_way = 2 if small else 5
    learner = conv_learner("maml", n_way, (28, 28, 1), 2 if small else 64, 0.4, "auto")
    estimator = ESTIMATORS["backprop"](task_map="auto")
    return _meta_step(learner, estimator, _episodes(n_way, 1 if small else 5),
                      1 if small else 32, 1, chunk)


def contrastive(small: bool, chunk: int) -> Program:
    from metalab.estimators.settings import make_estimator
    from metalab.experiments.contrastive.experiment import ContrastiveConfig, learners, settings

    cfg = ContrastiveConfig()
    if small:
        cfg = replace(cfg, width=2, meta_batch_5way=1, q_query=1, inner_steps=2, nudged_steps=1)
    learner = next(iter(learners(cfg, "omniglot-5w1s").values()))
    s = settings(cfg, "omniglot-5w1s")
    estimator = make_estimator(
        "contrastive", beta=s["beta"], lam=s["lam"], nudged_steps=s["nudged_steps"],
        nudged_lr_scale=cfg.nudged_lr_scale, truncate=s["truncate"], task_map=cfg.task_map)
    return _meta_step(learner, estimator, _episodes(5, cfg.q_query), s["meta_batch"],
                      s["inner_steps"], chunk)


def vsml(small: bool, chunk: int) -> Program:
    from metalab.experiments.vsml.experiment import VSMLConfig
    from metalab.tasks.families import load_family
    from metalab.training import scan_steps, seed_keys
    from metalab.vsml import init_train_state, make_step, meta_optimizer, stream_loss
    from metalab.vsml import vsml as rule

    cfg = _defaults(VSMLConfig)  # its validation asks for the Omniglot folder; no data here
    if small:
        cfg |= {"seeds": 2, "episodes": 1, "stream_steps": 2, "n_in": 2, "n_classes": 2}
    learner = rule(cfg["hidden"])
    loss = stream_loss(learner, load_family("random", "train"), cfg["stream_steps"],
                       cfg["n_classes"], cfg["n_in"], cfg["episodes"], remat=True)
    optimizer = meta_optimizer("grad", cfg["grad_lr"], cfg["clip"])
    init_keys, run_keys = seed_keys(0, cfg["seeds"])
    step = make_step(loss, "grad", optimizer, run_keys)
    return scan_steps(step, chunk), (init_train_state(learner, optimizer, init_keys),)


def _defaults(config: type) -> dict[str, Any]:
    """A config dataclass's field defaults, without running its validation."""
    return {f.name: f.default for f in dataclasses.fields(config)}


def effort_ascent(small: bool, chunk: int) -> Program:
    from metalab import effort
    from metalab.effort.optimise import init
    from metalab.effort.options import mode_problem
    from metalab.experiments.effort.gain import GainConfig
    from metalab.training import scan_steps

    cfg = GainConfig(horizon=1.0) if small else GainConfig()
    tasks, w0 = mode_problem(cfg)
    setting = cfg.setting()
    bounds = effort.Bounds(gain=(cfg.gain_min, cfg.gain_max))
    optimizer = optax.adam(cfg.opt_lr)
    step = effort.ascent_step(lambda c: effort.evaluate(c, tasks, w0, setting), optimizer,
                              lambda c: effort.project(c, bounds))
    state = init(effort.project(effort.neutral(cfg.steps, w0), bounds), optimizer)
    return scan_steps(step, chunk), (state,)


def dynamics_lstm(small: bool, chunk: int) -> Program:
    from metalab.experiments.dynamics.experiment import LearningDynamicsConfig
    from metalab.training import scan_steps

    cfg = LearningDynamicsConfig().resolved()
    if small:
        cfg = replace(cfg, memory_hidden=4, meta_batch=2)
    _, state, step, _ = cfg.meta_training("lstm", jax.random.PRNGKey(0))
    return scan_steps(step, chunk), (state,)


PROGRAMS: dict[str, tuple[str, Callable[[bool, int], Program]]] = {
    "sinusoid-maml": ("sinusoid", sinusoid_maml),
    "convnet-maml": ("fewshot", convnet_maml),
    "contrastive": ("contrastive", contrastive),
    "vsml": ("vsml", vsml),
    "effort-ascent": ("effort", effort_ascent),
    "dynamics-lstm": ("dynamics", dynamics_lstm),
}
"""program name -> (line of work, builder(small, chunk))"""


def rows(cfg: CompileBenchConfig) -> Iterator[dict]:
    """One row per program: seconds to lower and to compile it, the cache bypassed."""
    for name in cfg.programs or tuple(PROGRAMS):
        line, build = PROGRAMS[name]
        fn, args = build(cfg.small, cfg.chunk)
        with compile_cache.bypassed():
            start, cpu_start = time.perf_counter(), time.process_time()
            lowered = fn.lower(*args)
            lowered_at = time.perf_counter()
            lowered.compile()
            done, cpu_done = time.perf_counter(), time.process_time()
        yield {"program": name, "line_of_work": line, "chunk": cfg.chunk, "small": cfg.small,
               "lower_s": round(lowered_at - start, 2), "compile_s": round(done - lowered_at, 2),
               "cpu_s": round(cpu_done - cpu_start, 2), "device": device_name()}


BENCH = Bench("compile", "seconds to lower and compile each line of work's main program",
              CompileBenchConfig, rows,
              smoke=("--programs", "sinusoid-maml", "--small", "--chunk", "1"),
              row_fields=("program", "line_of_work", "chunk", "lower_s", "compile_s", "cpu_s",
                          "device"))
