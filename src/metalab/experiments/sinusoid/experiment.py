"""Sinusoid regression (Finn et al. 2017): MAML, first-order MAML, Meta-SGD and a pretrained
baseline, trained with the same budget and compared on the same held-out tasks.

A method is a (learner, estimator) pair (``PAIRS``): ``fomaml`` is MAML with the first-order
estimator, ``pretrained`` MAML's network trained by the ``pretrain`` estimator (the query loss
at the start weights, no adaptation), then fine-tuned like the others; any other method is the
registered learner of that name with ``--estimator``.

Sweep points that differ only in learning rates train as one vmapped program
(``run_points``): every member (a point's seed) has its own state on a leading axis and its own
inner, outer and mask learning rate, passed into the meta-step as numbers (``RATES``), so P
points x S seeds compile once per method instead of P x S times. Member (p, i) uses the keys of
seed ``seed + i``, exactly as the sequential run of that point and seed would, so the results
agree with separate runs to float tolerance. Training (``metrics.jsonl`` with one
``loss/<point>`` column per point, checkpoints) lives in the sweep folder under the stage
``<method>@<group>``; each point's folder gets its evaluation: summary (mean, ``/ci95`` and
``/seeds`` over seeds), figures and report.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from metalab.errors import require, require_cadence, require_fields
from metalab.estimators import ESTIMATORS, Estimator, require_support
from metalab.evaluation import adaptation_curves
from metalab.learners import LEARNERS, Learner
from metalab.learners.base import Meta, require_loss
from metalab.models import mlp
from metalab.runs.curves import training_curves
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.rundir import RunDir
from metalab.runs.seeds import Summary, aggregate
from metalab.runs.stage import train_stage
from metalab.tasks import Sinusoid, Task
from metalab.training import init_state, make_meta_step
from metalab.training.optimizers import per_entry_adam
from metalab.training.seeds import per_point_losses, stack_states, vmap_seeds
from metalab.training.trainer import MetaStep

SinusoidMethod = Literal["maml", "fomaml", "metasgd", "pretrained", "sparse-maml",
                         "sparse-relu-maml"]
EVAL_STEPS = (0, 1, 10)
PAIRS: dict[str, tuple[str, str]] = {"fomaml": ("maml", "first-order"),
                                     "pretrained": ("maml", "pretrain")}
"""methods that are not a registered learner driven by ``--estimator``: (learner, estimator)"""


@dataclass(frozen=True)
class SinusoidConfig:
    """Settings of ``metalab run sinusoid`` (defaults are ``metalab demo``'s)."""

    methods: tuple[SinusoidMethod, ...] = ("maml", "fomaml", "metasgd", "pretrained")
    """methods to train; `pretrained` is joint training on all tasks, then fine-tuning"""
    learner: str | None = None
    """shorthand for `--methods LEARNER`: train only this registered learner"""
    estimator: str = "backprop"
    """meta-gradient estimator for the learners (fomaml is always first-order, pretrained
    always `pretrain`)"""
    steps: int = 20000
    """meta-steps per method"""
    meta_batch: int = 25
    k_shot: int = 10
    """support points per task (query points in training too)"""
    inner_steps: int = 1
    """inner gradient steps during meta-training"""
    inner_lr: float = 0.01
    outer_lr: float = 1e-3
    mask_lr: float = 1e-3
    """outer learning rate of sparse-MAML's mask logits (von Oswald et al. 2021)"""
    hidden: tuple[int, ...] = (40, 40)
    activation: Literal["relu", "tanh", "gelu"] = "relu"
    eval_tasks: int = 500
    """held-out tasks for the final evaluation (at least 100)"""
    eval_query: int = 100
    """query points per held-out task"""
    eval_steps: int = 10
    """inner steps tracked at evaluation (at least 10)"""
    log_every: int = 100
    """meta-steps per compiled chunk and per metrics line"""
    checkpoint_every: int = 1000
    seed: int = 0
    quick: bool = False
    """reduced budget for smoke tests (about 1 minute on 2 CPU cores)"""

    def __post_init__(self) -> None:
        require(len(self.methods) > 0, "--methods", "give at least one method")
        require(
            self.learner is None or self.learner in LEARNERS,
            "--learner",
            f"unknown learner {self.learner!r}; choose from {', '.join(LEARNERS)}",
        )
        require(
            self.estimator in ESTIMATORS,
            "--estimator",
            f"unknown estimator {self.estimator!r}; choose from {', '.join(ESTIMATORS)}",
        )
        for method in (self.learner,) if self.learner else self.methods:
            learner = _learner(method, self)
            require_loss(learner, "mse", "--learner" if self.learner else "--methods")
            require_support(pair(method, self)[1], learner)
        require_fields(self, positive_int=("steps", "meta_batch", "k_shot", "eval_query",
                                           "log_every"),
                       at_least={"inner_steps": 1, "eval_tasks": 100, "eval_steps": 10})
        require_fields(self, positive=("inner_lr", "outer_lr", "mask_lr"))
        require(all(h > 0 for h in self.hidden), "--hidden", "layer widths must be positive")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> SinusoidConfig:
        """The configuration actually run: ``learner`` sets ``methods``; ``quick`` shrinks the
        budget."""
        if self.learner is not None:
            return replace(self, methods=(self.learner,), learner=None).resolved()
        if not self.quick:
            return self
        return replace(self, steps=min(self.steps, 2000), eval_tasks=100, checkpoint_every=1000)



# Options that are plain numbers inside the compiled meta-step: a sweep over them runs as one
# vmapped program (``run_points`` below).
RATES = ("inner_lr", "outer_lr", "mask_lr")
Rates = dict[str, float | jax.Array]


def pair(method: str, cfg: SinusoidConfig) -> tuple[str, str]:
    """The (learner, estimator) names of ``method``: ``PAIRS``, else (method, --estimator)."""
    return PAIRS.get(method, (method, cfg.estimator))


def _learner(method: str, cfg: SinusoidConfig, inner_lr: float | jax.Array | None = None
             ) -> Learner:
    model = mlp((1, *cfg.hidden, 1), cfg.activation)
    lr = cfg.inner_lr if inner_lr is None else inner_lr
    return LEARNERS[pair(method, cfg)[0]](model, lr)


def learners(cfg: SinusoidConfig) -> dict[str, Learner]:
    """The learner of each method's stage (``metalab.load_run``)."""
    return {method: _learner(method, cfg) for method in cfg.methods}


def _estimator(method: str, cfg: SinusoidConfig) -> Estimator:
    return ESTIMATORS[pair(method, cfg)[1]]()


def rates(cfg: SinusoidConfig) -> Rates:
    """The configuration's learning rates (``RATES``)."""
    return {name: getattr(cfg, name) for name in RATES}


def parts(method: str, cfg: SinusoidConfig, lrs: Rates
          ) -> tuple[Learner, optax.GradientTransformation]:
    """The learner and outer optimiser of ``method`` at the learning rates ``lrs`` (floats,
    or tracers when a sweep vmaps them)."""
    optimizer = per_entry_adam(lrs["outer_lr"], {"mask": lrs["mask_lr"]})
    return _learner(method, cfg, lrs["inner_lr"]), optimizer


def method_step(method: str, cfg: SinusoidConfig, run_key: jax.Array, lrs: Rates) -> MetaStep:
    """One meta-step of ``method``'s (learner, estimator) pair."""
    learner, optimizer = parts(method, cfg, lrs)
    return make_meta_step(learner, _estimator(method, cfg), optimizer=optimizer,
                          tasks=Sinusoid(cfg.k_shot, cfg.k_shot),
                          meta_batch=cfg.meta_batch, inner_steps=cfg.inner_steps, key=run_key)


def train_method(method: str, cfg: SinusoidConfig, rundir: RunDir) -> tuple[Meta, float]:
    """Meta-train one method (resuming from its checkpoint); returns meta-params and seconds."""
    k_init, k_run = jax.random.split(jax.random.PRNGKey(cfg.seed))
    learner, optimizer = parts(method, cfg, rates(cfg))
    start = time.perf_counter()
    state = train_stage(
        rundir, method, init_state(learner, optimizer, k_init),
        method_step(method, cfg, k_run, rates(cfg)), cfg.steps,
        chunk=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
    )
    return state.meta, time.perf_counter() - start


def held_out(cfg: SinusoidConfig) -> tuple[Task, jax.Array, jax.Array]:
    """The evaluation tasks (same for every method) and their amplitudes and phases."""
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6)
    dist = Sinusoid(cfg.k_shot, cfg.eval_query)
    k_params, _ = jax.random.split(key)
    amp, phase = dist.sample_params(k_params, cfg.eval_tasks)
    return dist.sample(key, cfg.eval_tasks), amp, phase


def evaluate(method: str, cfg: SinusoidConfig, meta: Meta, tasks: Task
             ) -> tuple[dict[str, float], np.ndarray]:
    """Summary metrics of one trained method on the held-out ``tasks``, and its adaptation
    curve (query MSE per task after 0..eval_steps inner steps)."""
    curve = adaptation_curves(_learner(method, cfg), meta, tasks, steps=cfg.eval_steps,
                              chunk=cfg.eval_tasks)
    summary = {f"{method}/query_mse_step{t}": float(curve[:, t].mean()) for t in EVAL_STEPS}
    summary[f"{method}/query_mse_step1_sem"] = float(curve[:, 1].std(ddof=1)
                                                     / np.sqrt(len(curve)))
    summary[f"{method}/diverged_fraction_step10"] = float(
        np.mean(~np.isfinite(curve[:, 10]) | (curve[:, 10] > 1e6)))
    return summary, curve


def run(cfg: SinusoidConfig, rundir: RunDir) -> dict[str, float]:
    """Train every method, evaluate on shared held-out tasks, write figures and report."""
    tasks = held_out(cfg)[0]
    summary: dict[str, float] = {}
    curves: dict[str, np.ndarray] = {}
    metas: dict[str, Meta] = {}
    for method in cfg.methods:
        metas[method], seconds = train_method(method, cfg, rundir)
        scores, curves[method] = evaluate(method, cfg, metas[method], tasks)
        summary |= scores | {f"{method}/train_seconds": seconds}
    write_outputs(cfg, rundir, curves, metas, summary)
    return summary


def write_outputs(cfg: SinusoidConfig, rundir: RunDir, curves: dict[str, np.ndarray],
                  metas: dict[str, Meta], summary: Summary, note: str = "") -> None:
    """Figures (training curves when the folder has them, adaptation, example fits),
    ``summary.json`` and ``report.md`` of one configuration."""
    from metalab.experiments.sinusoid import plots

    tasks, amp, phase = held_out(cfg)
    if rundir.metrics():
        training_curves(rundir)
    plots.adaptation_curves(rundir, curves)
    plots.example_fits(rundir, cfg, {m: _learner(m, cfg) for m in cfg.methods}, metas,
                       tasks, amp, phase)
    rundir.write_summary("sinusoid", summary)
    what = (
        f"Sinusoid regression, K = {cfg.k_shot}: methods {', '.join(cfg.methods)}; "
        f"{cfg.steps} meta-steps each, meta-batch {cfg.meta_batch}, {cfg.inner_steps} inner "
        f"step(s) at lr {cfg.inner_lr}, outer Adam {cfg.outer_lr}, estimator "
        f"`{cfg.estimator}` for maml/metasgd. Query MSE averaged over {cfg.eval_tasks} "
        f"held-out tasks ({cfg.eval_query} query points each) after 0, 1 and 10 inner steps. "
        "A step-10 value that is not finite (null in summary.json) means adaptation diverged "
        "on some tasks (`diverged_fraction_step10`): rates meta-learned for a few steps can "
        f"overshoot when applied for more.{note}"
    )
    rundir.write_report("Sinusoid regression", what, summary)


Finish = Callable[[int, Callable[[RunDir], Summary]], Summary]


def run_points(configs: list[SinusoidConfig], seeds: int, rundir: RunDir, group: str,
               finish: Finish) -> list[Summary]:
    """Train ``configs`` (equal but for ``RATES``) over ``seeds`` seeds as one program per
    method in ``rundir``, then ``finish(p, write)`` writes point p's folder with ``write``
    (the sweep's ``run_sub``, which skips finished points); returns each point's summary."""
    base = configs[0]
    members = [(p, i) for p in range(len(configs)) for i in range(seeds)]
    lrs = {k: jnp.asarray([getattr(configs[p], k) for p, _ in members], jnp.float32)
           for k in RATES}
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(base.seed + i)) for _, i in members])
    metas: dict[str, Meta] = {}
    seconds: dict[str, float] = {}
    for method in base.methods:
        start = time.perf_counter()
        step = vmap_seeds(lambda key, r, m=method: method_step(m, base, key, r), keys[:, 1], lrs)
        init = stack_states(lambda key, r, m=method: init_state(*parts(m, base, r), key),
                            keys[:, 0], lrs)  # Meta-SGD starts its rates at inner_lr
        state = train_stage(
            rundir, f"{method}@{group}", init,
            per_point_losses(step, len(configs), seeds), base.steps,
            chunk=base.log_every, checkpoint_every=base.checkpoint_every)
        metas[method] = state.meta
        seconds[method] = time.perf_counter() - start

    def write(p: int, sub: RunDir) -> Summary:
        per_seed, first = [], None
        for i in range(seeds):
            member = p * seeds + i  # the index of (p, i) in ``members``
            cfg = dataclasses.replace(configs[p], seed=base.seed + i)
            own = {m: jax.tree.map(lambda x, k=member: x[k], metas[m]) for m in base.methods}
            tasks = held_out(cfg)[0]
            scores, curves = {}, {}
            for m in base.methods:
                s, curves[m] = evaluate(m, cfg, own[m], tasks)
                scores |= s | {f"{m}/train_seconds": seconds[m]}
            per_seed.append(scores)
            first = first or (cfg, curves, own)
        summary = aggregate(per_seed) if seeds > 1 else per_seed[0]
        cfg, curves, own = first
        write_outputs(cfg, sub, curves, own, summary, note=_note(group, seeds, len(configs)))
        return summary

    return [finish(p, lambda sub, p=p: write(p, sub)) for p in range(len(configs))]


def _note(group: str, seeds: int, points: int) -> str:
    if points == 1:
        return (f" Its {seeds} seeds were trained as one vmapped program per method; "
                "`metrics.jsonl` logs their mean `loss` and each seed's `loss/seed<i>`, and "
                "`train_seconds` is the time of all seeds together.")
    return (f" Trained with the sweep's other {points - 1} point(s) of group `{group}` as one "
            f"vmapped program ({seeds} seed(s) each); training curves: the sweep folder's "
            f"`metrics.jsonl`, stage `<method>@{group}`, column `loss/p<k>` for point k. "
            "`train_seconds` is the whole group's training time.")


EXPERIMENT = Experiment(
    name="sinusoid",
    description="MAML, FOMAML, Meta-SGD and a pretrained baseline on sinusoid regression",
    expected_time="2 min",
    quick_time="1 min",
    config=SinusoidConfig,
    run=run,
    small=True,
    traced=tuple(name.replace("_", "-") for name in RATES),
    run_points=run_points,
    learners=learners,
    smoke=("--methods", "maml", "pretrained", "--steps", "2", "--hidden", "8", "--meta-batch",
           "2", "--eval-tasks", "100", "--eval-query", "10", "--eval-steps", "10", *SMOKE_CADENCE),
    summary_keys=tuple(f"{m}/{k}" for m in ("maml", "pretrained") for k in (
        "query_mse_step0", "query_mse_step1", "query_mse_step10", "query_mse_step1_sem",
        "diverged_fraction_step10", "train_seconds")),
)
