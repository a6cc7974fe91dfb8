"""Learning dynamics of learners and meta-learners against the Bayes-optimal learner
(Rabinowitz 2019, "Meta-learners' learning dynamics are unlike learners'").

Linear variant: tasks y = W x + noise, W = U S V^T; per singular mode, how fast a deep linear
net trained by gradient descent from a small init (Saxe et al. 2014), MAML, Meta-SGD, an LSTM
reading (x, y) pairs, and the Bayes-optimal learner pick the mode up. Fourier variant: the same
per frequency of random Fourier series, with an MLP as the plain learner.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from metalab.analysis import mode_progress, mode_time_ratio, threshold_times
from metalab.analysis import trajectory_similarity as similarity
from metalab.errors import flag, require, require_cadence
from metalab.estimators import ESTIMATORS
from metalab.experiments.dynamics import setup
from metalab.learners import maml
from metalab.models import deep_linear
from metalab.runs.curves import training_curves
from metalab.runs.experiment import Experiment
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage
from metalab.training import TrainState, init_state, make_meta_step

DYNAMICS_LEARNERS = ("learner", "maml", "metasgd", "memory", "bayes")
VARIANT_DEFAULTS = {
    "linear": {"hidden": 16, "learner_steps": 1500, "learner_lr": 0.1, "inner_lr": 0.05,
               "noise": 0.1},
    "fourier": {"hidden": 40, "learner_steps": 6000, "learner_lr": 0.05, "inner_lr": 0.01,
                "noise": 0.05},
}


@dataclass(frozen=True)
class LearningDynamicsConfig:
    """Settings of ``metalab run learning-dynamics``; ``None`` takes the variant's default."""

    variant: Literal["linear", "fourier"] = "linear"
    basis: Literal["random", "fixed"] = "random"
    """linear: `random` U, V per task with the spectrum fixed (Rabinowitz 2019), or `fixed`
    U, V with Gaussian mode strengths (an exactly Gaussian prior)"""
    d_in: int = 4
    d_out: int = 4
    s_max: float = 3.0
    """largest singular value (geometric spectrum down to --s-min)"""
    s_min: float = 0.3
    n_freq: int = 5
    """fourier: frequencies 1..n on [-1, 1]"""
    decay: float = 0.0
    """fourier: prior amplitude of frequency k is k^-decay"""
    noise: float | None = None
    """observation noise std (linear 0.1, fourier 0.05)"""
    k_support: int = 20
    """support samples per task (the sequence the memory learner and Bayes read)"""
    hidden: int | None = None
    """hidden width: deep linear net (16) or both MLP layers (40)"""
    init_scale: float = 0.01
    """linear: init scale of the plain learner's deep linear net (small, Saxe et al. 2014)"""
    learner_steps: int | None = None
    """gradient steps of the plain learner (linear 1500, fourier 6000)"""
    learner_lr: float | None = None
    inner_lr: float | None = None
    """inner step of MAML and Meta-SGD (initial rate of Meta-SGD)"""
    inner_steps: int = 10
    """inner steps in meta-training"""
    eval_steps: int = 20
    """inner steps traced when analysing MAML and Meta-SGD"""
    meta_steps: int = 3000
    """meta-steps of MAML and Meta-SGD"""
    memory_steps: int = 8000
    """meta-steps of the LSTM reader"""
    memory_hidden: int = 128
    memory_lr: float = 3e-3
    """Adam step of the LSTM reader (gradient norm clipped at 1)"""
    meta_batch: int = 32
    outer_lr: float = 3e-4
    """Adam step of MAML (gradient norm clipped at 1)"""
    metasgd_outer_lr: float = 1e-4
    """Adam step of Meta-SGD, whose learned rates drift to the edge of inner-loop stability
    (with 3e-4 it diverged on all three default variants within 4000 meta-steps)"""
    eval_tasks: int = 200
    log_every: int = 100
    checkpoint_every: int = 1000
    seed: int = 0
    quick: bool = False
    """reduced budget (about 2 minutes on 2 CPU cores)"""

    def __post_init__(self) -> None:
        for name in ("d_in", "d_out", "n_freq", "inner_steps", "eval_steps", "meta_steps",
                     "memory_steps", "memory_hidden", "meta_batch", "log_every"):
            require(getattr(self, name) > 0, flag(name), "must be a positive integer")
        for name in ("hidden", "learner_steps"):
            value = getattr(self, name)
            require(value is None or value > 0, flag(name), "must be a positive integer")
        require(min(self.d_in, self.d_out) >= 2, "--d-in", "d-in and d-out must be >= 2")
        require(self.n_freq >= 2, "--n-freq", "must be at least 2")
        require(0 < self.s_min <= self.s_max, "--s-min", "need 0 < s-min <= s-max")
        require(self.noise is None or self.noise > 0, "--noise",
                "must be positive (the Bayes posterior needs observation noise)")
        require(self.k_support >= 2, "--k-support", "must be at least 2")
        require(self.eval_tasks >= 20, "--eval-tasks", "must be at least 20")
        for name in ("init_scale", "outer_lr", "metasgd_outer_lr", "memory_lr", "learner_lr",
                     "inner_lr"):
            value = getattr(self, name)
            require(value is None or value > 0, flag(name), "must be positive")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> LearningDynamicsConfig:
        """Variant defaults filled in; ``quick`` shrinks the budget."""
        fill = {k: v for k, v in VARIANT_DEFAULTS[self.variant].items()
                if getattr(self, k) is None}
        cfg = replace(self, **fill)
        if not self.quick:
            return cfg
        return replace(cfg, meta_steps=min(cfg.meta_steps, 500),
                       memory_steps=min(cfg.memory_steps, 1000),
                       eval_tasks=min(cfg.eval_tasks, 100), checkpoint_every=500)



def _train_meta(name: str, cfg: LearningDynamicsConfig, rundir: RunDir, key: jax.Array):
    """Meta-train MAML or Meta-SGD (backprop through the inner loop) on the task family."""
    learner = setup.meta_learner(name, cfg)
    lr = cfg.metasgd_outer_lr if name == "metasgd" else cfg.outer_lr
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
    k_init, k_run = jax.random.split(key)
    step = make_meta_step(learner, ESTIMATORS["backprop"](), optimizer, setup.distribution(cfg),
                          cfg.meta_batch, cfg.inner_steps, k_run)
    state = train_stage(rundir, name, init_state(learner, optimizer, k_init), step,
                        cfg.meta_steps, chunk=cfg.log_every,
                        checkpoint_every=cfg.checkpoint_every)
    return learner, state.meta


def _train_memory(cfg: LearningDynamicsConfig, rundir: RunDir, key: jax.Array):
    """Meta-train the LSTM reader to predict query targets after every support prefix."""
    model, dist = setup.memory_model(cfg), setup.distribution(cfg)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(cfg.memory_lr))
    k_init, k_run = jax.random.split(key)
    params = model.init(k_init)

    def meta_step(state: TrainState):
        tasks = dist.sample(jax.random.fold_in(k_run, state.step), cfg.meta_batch)
        loss, grad = jax.value_and_grad(lambda p: setup.memory_loss(model, p, tasks))(state.meta)
        updates, opt_state = optimizer.update(grad, state.opt_state, state.meta)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grad)}
        return TrainState(optax.apply_updates(state.meta, updates), opt_state,
                          state.step + 1), metrics

    init = TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))
    state = train_stage(rundir, "memory", init, meta_step, cfg.memory_steps,
                        chunk=cfg.log_every, checkpoint_every=cfg.checkpoint_every)
    return model, state.meta


def trajectories(cfg: LearningDynamicsConfig, rundir: RunDir, ev: setup.EvalSet):
    """(predictions [T, tasks, Q, m], times [T], time unit) of every learner."""
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), 4)
    every = max(1, cfg.learner_steps // 300)
    plain = maml(setup.gd_model(cfg, meta_learned=False), cfg.learner_lr)
    inits = jax.vmap(plain.init)(jax.random.split(keys[0], cfg.eval_tasks))
    steps = cfg.learner_steps - cfg.learner_steps % every
    out = {"learner": (*setup.gradient_preds(plain, inits, ev, steps, every, True), "GD steps")}
    if cfg.variant == "linear":  # one-layer net from zero on whitened inputs: reference
        ref = maml(deep_linear((cfg.d_in, cfg.d_out), 0.0), cfg.learner_lr)
        out["reference"] = (*setup.gradient_preds(ref, ref.init(keys[0]), ev, steps, every,
                                                  False), "GD steps")
    for i, name in enumerate(("maml", "metasgd")):
        learner, meta = _train_meta(name, cfg, rundir, keys[1 + i])
        out[name] = (*setup.gradient_preds(learner, meta, ev, cfg.eval_steps, 1, False),
                     "inner steps")
    model, params = _train_memory(cfg, rundir, keys[3])
    out["memory"] = (*setup.memory_preds(model, params, ev), "samples seen")
    out["bayes"] = (*setup.bayes_preds(cfg, ev), "samples seen")
    return out


def analyse(ev: setup.EvalSet, runs: dict) -> tuple[dict[str, float], dict[str, dict]]:
    """Per learner: mode progress, times to 50% / 90%, ratios and similarity to Bayes."""
    summary: dict[str, float] = {}
    details: dict[str, dict] = {}
    bayes = runs["bayes"][0]
    for name, (preds, times, unit) in runs.items():
        progress = mode_progress(_coefficients(ev, preds), ev.true_coef)
        t50, t90 = (threshold_times(progress, times, lv) for lv in (0.5, 0.9))
        details[name] = {"progress": np.asarray(progress), "times": np.asarray(times),
                         "unit": unit, "t50": np.asarray(t50), "t90": np.asarray(t90)}
        summary[f"{name}/mode_time_ratio"] = float(mode_time_ratio(progress, times, 0.5))
        summary[f"{name}/mode_time_ratio_90"] = float(mode_time_ratio(progress, times, 0.9))
        summary[f"{name}/bayes_similarity"] = similarity(  # null: no common progress level
            preds, bayes, ev.target, if_unreached=float("nan"))
        summary[f"{name}/final_query_mse"] = float(jnp.mean((preds[-1] - ev.target) ** 2))
        summary[f"{name}/final_progress_last_mode"] = float(progress[-1, -1])
    return summary, details


def _coefficients(ev: setup.EvalSet, preds: jax.Array) -> jax.Array:
    """Mode coefficients of a trajectory, computed in chunks of time to bound memory."""
    chunks = [ev.coefficients(preds[i : i + 64]) for i in range(0, preds.shape[0], 64)]
    return jnp.concatenate(chunks)


def run(cfg: LearningDynamicsConfig, rundir: RunDir) -> dict[str, float]:
    """Train the meta-learners, trace every learner on held-out tasks, analyse, report."""
    ev = setup.eval_set(cfg, jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6))
    runs = trajectories(cfg, rundir, ev)
    summary, details = analyse(ev, runs)
    from metalab.experiments.dynamics import plots

    plots.mode_curves(rundir, cfg, details)
    plots.time_to_learn(rundir, cfg, details)
    training_curves(rundir, "query MSE (train batch)")
    rundir.write_summary("learning-dynamics", summary)
    rundir.write_report("Learning dynamics", plots.description(cfg), summary,
                        [plots.times_table(cfg, details)])
    return summary


EXPERIMENT = Experiment(
    name="learning-dynamics",
    description="Per-mode / per-frequency learning of learners, meta-learners and Bayes "
    "(Rabinowitz 2019)",
    expected_time="5 min",
    config=LearningDynamicsConfig,
    run=run,
)
