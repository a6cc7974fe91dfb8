"""Learning dynamics of learners and meta-learners against the Bayes-optimal learner
(Rabinowitz 2019, "Meta-learners' learning dynamics are unlike learners'").

Linear variant: tasks y = W x + noise, W = U S V^T; per singular mode, how fast a deep linear
net trained by gradient descent from a small init (Saxe et al. 2014), MAML, Meta-SGD, an LSTM
reading (x, y) pairs (with a multiplicative read-out, and the paper's plain LSTM), online SGD
on a stream of fresh samples, and the Bayes-optimal learner pick the mode up. Fourier variant:
the same per frequency of random Fourier series, with an MLP as the plain learner. The
meta-learners are also analysed at several meta-steps along meta-training, and on held-out
tasks from shifted spectra and noise levels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import jax

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
from metalab.errors import require, require_cadence, require_fields
from metalab.experiments.dynamics import plots
from metalab.experiments.dynamics.train import train
from metalab.learners import maml
from metalab.models import deep_linear
from metalab.runs.curves import training_curves
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.rundir import RunDir

DYNAMICS_LEARNERS = ("learner", "online", "maml", "metasgd", "memory", "lstm", "bayes")
META_LEARNERS = ("maml", "metasgd", "memory", "lstm")
FOURIER_META_STEPS = 8000
"""MAML / Meta-SGD meta-steps on Fourier series (see docs/learning-dynamics.md, "Why the
Fourier meta-learners were undertrained")"""
ORDER = ("learner", "reference", "online", "maml", "metasgd", "memory", "lstm", "bayes")
VARIANT_DEFAULTS = {
    "linear": {"hidden": 16, "learner_steps": 1500, "learner_lr": 0.1, "inner_lr": 0.05,
               "noise": 0.1, "meta_steps": 3000, "outer_lr": 3e-4, "metasgd_outer_lr": 1e-4,
               "metasgd_rate_lr": 1e-4},
    "fourier": {"hidden": 40, "learner_steps": 6000, "learner_lr": 0.05, "inner_lr": 0.01,
                "noise": 0.05, "meta_steps": FOURIER_META_STEPS, "outer_lr": 1e-2,
                "metasgd_outer_lr": 1e-2, "metasgd_rate_lr": 1e-5},
}


@dataclass(frozen=True)
class LearningDynamicsConfig(DynamicsProblem):
    """Settings of ``metalab run learning-dynamics``; ``None`` takes the variant's default."""

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
    log_every: int = 100
    checkpoint_every: int = 1000
    seed: int = 0
    quick: bool = False
    """reduced budget (about 3 minutes on 2 CPU cores)"""

    def __post_init__(self) -> None:
        self.check_problem()
        require_fields(self, positive_int=(
            "inner_steps", "eval_steps", "memory_steps", "lstm_steps", "memory_hidden",
            "meta_batch", "log_every", "online_batch", "online_factor", "meta_snapshots",
            "lstm_queries", "learner_steps", "meta_steps"))
        require(0 < self.lstm_decay <= 1, "--lstm-decay", "must be in (0, 1] (1: constant)")
        require(self.lstm_queries <= self.k_support, "--lstm-queries",
                "must be at most --k-support (the query points each task has)")
        require_fields(self, at_least={"eval_tasks": 20}, positive=(
            "outer_lr", "metasgd_outer_lr", "metasgd_rate_lr", "memory_lr", "lstm_lr",
            "learner_lr", "inner_lr"))
        require_cadence(self.log_every, self.checkpoint_every)
        unknown = sorted(set(self.learners) - set(DYNAMICS_LEARNERS))
        require(not unknown, "--learners",
                f"unknown {unknown}; choose from {', '.join(DYNAMICS_LEARNERS)}")

    def resolved(self) -> LearningDynamicsConfig:
        """Variant defaults filled in; ``quick`` shrinks the budget."""
        fill = {k: v for k, v in VARIANT_DEFAULTS[self.variant].items()
                if getattr(self, k) is None}
        cfg = replace(self, **fill)
        if not self.quick:
            return cfg
        return replace(cfg, meta_steps=min(cfg.meta_steps, 500),
                       memory_steps=min(cfg.memory_steps, 1000),
                       lstm_steps=min(cfg.lstm_steps, 1000),
                       eval_tasks=min(cfg.eval_tasks, 100), checkpoint_every=500)


def shifted_configs(cfg: LearningDynamicsConfig) -> dict[str, LearningDynamicsConfig]:
    """Test families shifted from the meta-training one: a steeper spectrum (smallest
    singular value / 3), a weaker one (all / 2) and 4x the noise (linear); amplitudes
    decaying as k^-(decay + 1) and 4x the noise (Fourier)."""
    noisy = replace(cfg, noise=4 * cfg.noise)
    if cfg.variant == "linear":
        return {"steep": replace(cfg, s_min=cfg.s_min / 3),
                "weak": replace(cfg, s_max=cfg.s_max / 2, s_min=cfg.s_min / 2), "noisy": noisy}
    return {"decaying": replace(cfg, decay=cfg.decay + 1.0), "noisy": noisy}


def plain_trajectories(cfg: LearningDynamicsConfig, ev: EvalSet) -> dict:
    """(predictions [T, tasks, Q, m], times [T], time unit) of the learners that are not
    meta-trained: full-batch GD, online SGD, the one-layer reference and Bayes."""
    key = jax.random.PRNGKey(cfg.seed)
    every = max(1, cfg.learner_steps // 300)
    plain = maml(cfg.gd_model(meta_learned=False), cfg.learner_lr)
    inits = jax.vmap(plain.init)(jax.random.split(key, cfg.eval_tasks))
    steps = cfg.learner_steps - cfg.learner_steps % every
    out = {}
    if "learner" in cfg.learners:
        out["learner"] = (*gradient_preds(plain, inits, ev, steps, every, True),
                          "GD steps")
    if "online" in cfg.learners:
        out["online"] = (*online_preds(plain, inits, ev, cfg.online_factor * steps,
                                             cfg.online_factor * every, cfg.online_batch,
                                             jax.random.fold_in(key, 1)), "samples seen")
    if "learner" in cfg.learners and cfg.variant == "linear":  # one layer from zero
        ref = maml(deep_linear((cfg.d_in, cfg.d_out), 0.0), cfg.learner_lr)
        out["reference"] = (*gradient_preds(ref, ref.init(key), ev, steps, every,
                                                  False), "GD steps")
    out["bayes"] = (*bayes_preds(cfg.distribution(), ev), "samples seen")
    return out


def meta_trajectory(cfg: LearningDynamicsConfig, name: str, trained: Any, meta: Any,
                    ev: EvalSet) -> tuple[jax.Array, jax.Array, str]:
    """Trajectory of one meta-learner (``trained`` learner or model, meta-parameters)."""
    if name in ("maml", "metasgd"):
        return (*gradient_preds(trained, meta, ev, cfg.eval_steps, 1, False),
                "inner steps")
    return (*memory_preds(trained, meta, ev), "samples seen")


def meta_train_all(cfg: LearningDynamicsConfig, rundir: RunDir) -> dict[str, tuple]:
    """Per configured meta-learner: (learner or model, snapshots along meta-training)."""
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), 5)
    return {name: train(name, cfg, rundir, keys[1 + i])
            for i, name in enumerate(META_LEARNERS) if name in cfg.learners}


def trace_and_analyse(cfg: LearningDynamicsConfig, rundir: RunDir
                      ) -> tuple[dict[str, float], dict[str, dict]]:
    """Meta-train, trace every learner on held-out tasks (meta-learners at each snapshot and,
    finally, on the shifted families), analyse; (summary, per-learner details)."""
    seed_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6)
    ev = eval_set(cfg.distribution(), cfg.eval_tasks, seed_key)
    trained = meta_train_all(cfg, rundir)
    runs = plain_trajectories(cfg, ev)
    for name, (model, snaps) in trained.items():
        runs[name] = meta_trajectory(cfg, name, model, snaps[-1][1], ev)
    summary, details = analyse(ev, {n: runs[n] for n in ORDER if n in runs})
    for name, (model, snaps) in trained.items():
        for i, (step, meta) in enumerate(snaps):
            part = summary if i == len(snaps) - 1 else analyse(ev, {
                name: meta_trajectory(cfg, name, model, meta, ev), "bayes": runs["bayes"]})[0]
            summary |= {f"{name}/meta_step_{step}/{k}": part[f"{name}/{k}"]
                        for k in ("mode_time_ratio", "final_query_mse")}
    if cfg.shifts:
        summary |= shifted_summary(cfg, trained, seed_key)
    return summary, details


def shifted_summary(cfg: LearningDynamicsConfig, trained: dict, key: jax.Array
                    ) -> dict[str, float]:
    """``<learner>/shift_<name>/<metric>`` of every learner on each shifted test family
    (meta-learners as meta-trained; Bayes with the shifted family's own prior)."""
    out = {}
    for label, shifted in shifted_configs(cfg).items():
        ev = eval_set(shifted.distribution(), shifted.eval_tasks, key)
        runs = plain_trajectories(shifted, ev)
        for name, (model, snaps) in trained.items():
            runs[name] = meta_trajectory(shifted, name, model, snaps[-1][1], ev)
        part, _ = analyse(ev, {n: runs[n] for n in ORDER if n in runs})
        out |= {f"{k.split('/', 1)[0]}/shift_{label}/{k.split('/', 1)[1]}": v
                for k, v in part.items()
                if k.endswith(("/mode_time_ratio", "/final_query_mse", "/bayes_similarity"))}
    return out


def run(cfg: LearningDynamicsConfig, rundir: RunDir) -> dict[str, float]:
    """Train the meta-learners, trace every learner on held-out tasks, analyse, report."""
    summary, details = trace_and_analyse(cfg, rundir)
    plots.mode_curves(rundir, cfg, details)
    plots.time_to_learn(rundir, cfg, details)
    plots.along_meta_training(rundir, summary)
    training_curves(rundir, "query MSE (train batch)")
    rundir.write_summary("learning-dynamics", summary)
    rundir.write_report("Learning dynamics", plots.description(cfg), summary,
                        [plots.times_table(cfg, details), plots.shift_table(summary)])
    return summary


EXPERIMENT = Experiment(
    name="learning-dynamics",
    description="Per-mode / per-frequency learning of learners, meta-learners and Bayes "
    "(Rabinowitz 2019)",
    expected_time="5 min",
    quick_time="3 min",  # measured: 191 s wall at load 2-5, 142 s user CPU (2026-12-01)
    config=LearningDynamicsConfig,
    run=run,
    # the families row below runs learner, maml and bayes
    smoke=("--learners", "online", "metasgd", "memory", "lstm", "bayes", "--meta-steps", "2",
           "--memory-steps", "2", "--lstm-steps", "2", "--eval-tasks", "20", "--meta-snapshots",
           "1", "--meta-batch", "2", "--memory-hidden", "8", "--inner-steps", "2",
           "--eval-steps", "4", "--no-shifts", *SMOKE_CADENCE),
    summary_keys=(*(f"{m}/{k}" for m in ("online", "metasgd", "memory", "lstm", "bayes")
                    for k in ("final_query_mse", "final_progress_last_mode",
                              "mode_time_ratio?", "bayes_similarity?")),
                  "lstm/meta_step_2/final_query_mse"),
)
