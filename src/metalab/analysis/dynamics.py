"""The protocol of a learning-dynamics comparison (Rabinowitz 2019) on a ``DynamicsProblem``:
which learners run, their budgets, how each meta-learner is meta-trained (init, step, total,
for a snapshotting loop to drive), and the tracing and analysis of every learner on held-out
tasks, at snapshots along meta-training and on shifted task families; ``seed_aggregate``
summarises such runs over seeds.

    protocol = DynamicsProtocol(hidden=16, noise=0.1, learner_steps=300, learner_lr=0.1, ...)
    summary, details = protocol.trace({"maml": (learner, snapshots)}, seed=0)
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import jax
import optax

from metalab.analysis.predictions import (
    EvalSet,
    analyse,
    bayes_preds,
    eval_set,
    gradient_preds,
    memory_preds,
    online_preds,
)
from metalab.analysis.problem import DynamicsProblem
from metalab.errors import require, require_fields
from metalab.estimators import ESTIMATORS
from metalab.learners import maml
from metalab.models import deep_linear
from metalab.stats import mean_ci95
from metalab.training import TrainState, init_state, make_meta_step
from metalab.training.memory import make_memory_step

DYNAMICS_LEARNERS = ("learner", "online", "maml", "metasgd", "memory", "lstm", "bayes")
META_LEARNERS = ("maml", "metasgd", "memory", "lstm")
ORDER = ("learner", "reference", "online", "maml", "metasgd", "memory", "lstm", "bayes")
"""every traced learner, in the order of the analysis (``reference``: a one-layer linear net
from zero, run with ``learner`` on linear maps)"""
Trained = dict[str, tuple[Any, list[tuple[int, Any]]]]
"""meta-learner -> (learner or model, [(meta-step, meta-parameters)] along meta-training)"""


@dataclass(frozen=True)
class DynamicsProtocol(DynamicsProblem):
    """Learners and budgets of the comparison; the ``None`` fields must be set before use."""

    learner_steps: int | None = None
    """gradient steps of the plain learner (linear 1500, fourier 6000)"""
    learner_lr: float | None = None
    """step of the plain learner, full-batch GD and online SGD alike"""
    online_batch: int = 1
    """fresh samples per online-SGD step (never reused)"""
    online_factor: int = 4
    """online SGD runs online_factor x learner_steps steps"""
    inner_lr: float | None = None
    """inner step of MAML and Meta-SGD (initial rate of Meta-SGD)"""
    inner_steps: int = 10
    """inner steps in meta-training"""
    eval_steps: int = 20
    """inner steps traced when analysing MAML and Meta-SGD"""
    meta_steps: int | None = None
    """meta-steps of MAML and Meta-SGD (linear 3000, fourier 8000)"""
    memory_steps: int = 8000
    """meta-steps of the LSTM reader"""
    lstm_steps: int = 8000
    """meta-steps of the plain LSTM"""
    memory_hidden: int = 128
    """units of both LSTMs"""
    memory_lr: float = 3e-3
    """Adam step of the LSTM reader (gradient norm clipped at 1)"""
    lstm_queries: int = 5
    """query points per task in the plain LSTM's meta-training loss (each is one probe step
    per support prefix: 5 instead of 20 made a meta-step ~8x cheaper on this CPU)"""
    lstm_lr: float = 1e-2
    """Adam step of the plain LSTM (gradient norm clipped at 1): after 400 meta-steps its
    query MSE was 0.69 at 1e-2 against 0.82 at 3e-3 (seed 0, see docs/learning-dynamics.md)"""
    lstm_decay: float = 0.01
    """the plain LSTM's step decays by a cosine from --lstm-lr to lstm-decay x it over
    --lstm-steps (1: constant); at a constant step its error levels off well above its
    plateau (docs/learning-dynamics.md)"""
    learners: tuple[str, ...] = DYNAMICS_LEARNERS
    """which learners to run (bayes always runs: similarity is measured against it)"""
    meta_snapshots: int = 4
    """meta-steps along meta-training (evenly spread, the last at the end) where each
    meta-learner's learning dynamics are measured"""
    shifts: bool = True
    """also test the final meta-learners on shifted task families (see shifted_configs)"""
    meta_batch: int = 32
    outer_lr: float | None = None
    """Adam step of MAML, gradient norm clipped at 1 (linear 3e-4; fourier 1e-2: the
    learned init must grow the network's gradient scale ~100x, see docs/learning-dynamics.md)"""
    metasgd_outer_lr: float | None = None
    """Adam step of Meta-SGD's initialisation (linear 1e-4, fourier 1e-2)"""
    metasgd_rate_lr: float | None = None
    """Adam step of Meta-SGD's learned rates, which drift to the edge of inner-loop stability
    (linear 1e-4: with 3e-4 it diverged on all three default variants within 4000
    meta-steps; fourier 1e-5: 1e-3 for init and rates diverged within 2000)"""
    eval_tasks: int = 200

    def check_protocol(self) -> None:
        """``BadInput`` naming the first field out of range (problem fields included)."""
        self.check_problem()
        require_fields(self, positive_int=(
            "inner_steps", "eval_steps", "memory_steps", "lstm_steps", "memory_hidden",
            "meta_batch", "online_batch", "online_factor", "meta_snapshots", "lstm_queries",
            "learner_steps", "meta_steps"))
        require(0 < self.lstm_decay <= 1, "--lstm-decay", "must be in (0, 1] (1: constant)")
        require(self.lstm_queries <= self.k_support, "--lstm-queries",
                "must be at most --k-support (the query points each task has)")
        require_fields(self, at_least={"eval_tasks": 20}, positive=(
            "outer_lr", "metasgd_outer_lr", "metasgd_rate_lr", "memory_lr", "lstm_lr",
            "learner_lr", "inner_lr"))
        unknown = sorted(set(self.learners) - set(DYNAMICS_LEARNERS))
        require(not unknown, "--learners",
                f"unknown {unknown}; choose from {', '.join(DYNAMICS_LEARNERS)}")

    def meta_optimizer(self, name: str) -> optax.GradientTransformation:
        """Adam on the clipped meta-gradient (global norm 1); Meta-SGD's learned rates take
        their own, smaller step (``metasgd_rate_lr``), as they set the inner loop's stability."""
        if name == "maml":
            return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(self.outer_lr))
        steps = {"init": optax.adam(self.metasgd_outer_lr),
                 "lr": optax.adam(self.metasgd_rate_lr)}
        return optax.chain(optax.clip_by_global_norm(1.0), optax.multi_transform(
            steps, lambda meta: {k: jax.tree.map(lambda _, k=k: k, v) for k, v in meta.items()}))

    def meta_training(self, name: str, key: jax.Array) -> tuple[Any, TrainState, Any, int]:
        """(learner or model, initial state, step, meta-steps) of meta-learner ``name``:
        MAML and Meta-SGD by backprop through the inner loop; the LSTMs (the reader and the
        plain LSTM) by Adam on the query error after every support prefix, the plain LSTM's
        step decaying by a cosine (Loshchilov & Hutter 2017) to ``lstm_decay`` of its start."""
        require(name in META_LEARNERS, "name", f"choose from {', '.join(META_LEARNERS)}")
        k_init, k_run = jax.random.split(key)
        if name in ("maml", "metasgd"):
            trained = self.meta_learner(name, self.inner_lr)
            optimizer = self.meta_optimizer(name)
            step = make_meta_step(trained, ESTIMATORS["backprop"](), optimizer=optimizer,
                                  tasks=self.distribution(), meta_batch=self.meta_batch,
                                  inner_steps=self.inner_steps, key=k_run)
            return trained, init_state(trained, optimizer, k_init), step, self.meta_steps
        trained = self.memory_model(self.memory_hidden, plain=name == "lstm")
        total = self.lstm_steps if name == "lstm" else self.memory_steps
        lr = (optax.cosine_decay_schedule(self.lstm_lr, total, alpha=self.lstm_decay)
              if name == "lstm" else self.memory_lr)
        optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
        queries = self.lstm_queries if name == "lstm" else self.k_support
        step = make_memory_step(trained, optimizer, tasks=self.distribution(),
                                meta_batch=self.meta_batch, queries=queries, key=k_run)
        return trained, TrainState.create(trained.init(k_init), optimizer), step, total

    def shifted_configs(self) -> dict[str, DynamicsProtocol]:
        """Test families shifted from the meta-training one: a steeper spectrum (smallest
        singular value / 3), a weaker one (all / 2) and 4x the noise (linear); amplitudes
        decaying as k^-(decay + 1) and 4x the noise (Fourier)."""
        noisy = replace(self, noise=4 * self.noise)
        if self.variant == "linear":
            return {"steep": replace(self, s_min=self.s_min / 3),
                    "weak": replace(self, s_max=self.s_max / 2, s_min=self.s_min / 2),
                    "noisy": noisy}
        return {"decaying": replace(self, decay=self.decay + 1.0), "noisy": noisy}

    def plain_trajectories(self, ev: EvalSet, key: jax.Array) -> dict:
        """(predictions [T, tasks, Q, m], times [T], time unit) of the learners that are not
        meta-trained: full-batch GD, online SGD, the one-layer reference and Bayes."""
        every = max(1, self.learner_steps // 300)
        plain = maml(self.gd_model(meta_learned=False), self.learner_lr)
        inits = jax.vmap(plain.init)(jax.random.split(key, self.eval_tasks))
        steps = self.learner_steps - self.learner_steps % every
        out = {}
        if "learner" in self.learners:
            out["learner"] = (*gradient_preds(plain, inits, ev, steps, every, True), "GD steps")
        if "online" in self.learners:
            out["online"] = (*online_preds(plain, inits, ev, self.online_factor * steps,
                                           self.online_factor * every, self.online_batch,
                                           jax.random.fold_in(key, 1)), "samples seen")
        if "learner" in self.learners and self.variant == "linear":  # one layer from zero
            ref = maml(deep_linear((self.d_in, self.d_out), 0.0), self.learner_lr)
            out["reference"] = (*gradient_preds(ref, ref.init(key), ev, steps, every, False),
                                "GD steps")
        out["bayes"] = (*bayes_preds(self.distribution(), ev), "samples seen")
        return out

    def meta_trajectory(self, name: str, trained: Any, meta: Any, ev: EvalSet
                        ) -> tuple[jax.Array, jax.Array, str]:
        """Trajectory of one meta-learner (``trained`` learner or model, meta-parameters)."""
        if name in ("maml", "metasgd"):
            return (*gradient_preds(trained, meta, ev, self.eval_steps, 1, False),
                    "inner steps")
        return (*memory_preds(trained, meta, ev), "samples seen")

    def trace(self, trained: Trained, seed: int) -> tuple[dict[str, float], dict[str, dict]]:
        """Trace every learner on held-out tasks (meta-learners at each snapshot and, with
        ``shifts``, finally on the shifted families) and analyse; (summary, per-learner
        details)."""
        key = jax.random.PRNGKey(seed)
        seed_key = jax.random.fold_in(key, 10**6)
        ev = eval_set(self.distribution(), self.eval_tasks, seed_key)
        runs = self.plain_trajectories(ev, key)
        for name, (model, snaps) in trained.items():
            runs[name] = self.meta_trajectory(name, model, snaps[-1][1], ev)
        summary, details = analyse(ev, {n: runs[n] for n in ORDER if n in runs})
        for name, (model, snaps) in trained.items():
            for i, (step, meta) in enumerate(snaps):
                part = summary if i == len(snaps) - 1 else analyse(ev, {
                    name: self.meta_trajectory(name, model, meta, ev),
                    "bayes": runs["bayes"]})[0]
                summary |= {f"{name}/meta_step_{step}/{k}": part[f"{name}/{k}"]
                            for k in ("mode_time_ratio", "final_query_mse")}
        if self.shifts:
            summary |= self.shifted_summary(trained, key, seed_key)
        return summary, details

    def shifted_summary(self, trained: Trained, key: jax.Array, eval_key: jax.Array
                        ) -> dict[str, float]:
        """``<learner>/shift_<name>/<metric>`` of every learner on each shifted test family
        (meta-learners as meta-trained; Bayes with the shifted family's own prior)."""
        out = {}
        for label, shifted in self.shifted_configs().items():
            ev = eval_set(shifted.distribution(), shifted.eval_tasks, eval_key)
            runs = shifted.plain_trajectories(ev, key)
            for name, (model, snaps) in trained.items():
                runs[name] = shifted.meta_trajectory(name, model, snaps[-1][1], ev)
            part, _ = analyse(ev, {n: runs[n] for n in ORDER if n in runs})
            out |= {f"{k.split('/', 1)[0]}/shift_{label}/{k.split('/', 1)[1]}": v
                    for k, v in part.items()
                    if k.endswith(("/mode_time_ratio", "/final_query_mse", "/bayes_similarity"))}
        return out


def seed_aggregate(per_seed: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    """``<learner>/<family>/<metric>`` (mean over seeds), ``..._ci95`` (half-width) and, for
    ratios, ``..._reached`` (seeds where the last mode reached the level: finite ratio). A
    metric that is not finite in some seed has no mean: it reads inf (or NaN), CI NaN."""
    out: dict[str, float] = {}
    for family, summaries in per_seed.items():
        values: dict[str, list[float]] = defaultdict(list)
        for summary in summaries:
            for key, value in summary.items():
                values[key].append(value)
        for key, vals in values.items():
            name, metric = key.split("/", 1)
            base = f"{name}/{family}/{metric}"
            finite = all(math.isfinite(v) for v in vals)
            unfinished = math.nan if any(math.isnan(v) for v in vals) else math.inf
            mean, half = mean_ci95(vals) if finite else (unfinished, math.nan)
            out[base], out[f"{base}_ci95"] = mean, half
            if "mode_time_ratio" in metric:
                out[f"{base}_reached"] = float(sum(math.isfinite(v) for v in vals))
    return out
