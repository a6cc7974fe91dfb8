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

import jax

from metalab.analysis.dynamics import META_LEARNERS, DynamicsProtocol
from metalab.errors import require_cadence, require_fields
from metalab.experiments.dynamics import plots
from metalab.runs.curves import training_curves
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.rundir import RunDir
from metalab.runs.snapshots import train_snapshots

FOURIER_META_STEPS = 8000
"""MAML / Meta-SGD meta-steps on Fourier series (see docs/learning-dynamics.md, "Why the
Fourier meta-learners were undertrained")"""
VARIANT_DEFAULTS = {
    "linear": {"hidden": 16, "learner_steps": 1500, "learner_lr": 0.1, "inner_lr": 0.05,
               "noise": 0.1, "meta_steps": 3000, "outer_lr": 3e-4, "metasgd_outer_lr": 1e-4,
               "metasgd_rate_lr": 1e-4},
    "fourier": {"hidden": 40, "learner_steps": 6000, "learner_lr": 0.05, "inner_lr": 0.01,
                "noise": 0.05, "meta_steps": FOURIER_META_STEPS, "outer_lr": 1e-2,
                "metasgd_outer_lr": 1e-2, "metasgd_rate_lr": 1e-5},
}


@dataclass(frozen=True)
class LearningDynamicsConfig(DynamicsProtocol):
    """Settings of ``metalab run learning-dynamics``; ``None`` takes the variant's default."""

    log_every: int = 100
    checkpoint_every: int = 1000
    seed: int = 0
    quick: bool = False
    """reduced budget (about 3 minutes on 2 CPU cores)"""

    def __post_init__(self) -> None:
        self.check_protocol()
        require_fields(self, positive_int=("log_every",))
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
                       lstm_steps=min(cfg.lstm_steps, 1000),
                       eval_tasks=min(cfg.eval_tasks, 100), checkpoint_every=500)


def meta_train_all(cfg: LearningDynamicsConfig, rundir: RunDir) -> dict[str, tuple]:
    """Per configured meta-learner: (learner or model, snapshots along meta-training)."""
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), 5)
    out = {}
    for i, name in enumerate(META_LEARNERS):
        if name in cfg.learners:
            trained, init, step, total = cfg.meta_training(name, keys[1 + i])
            out[name] = trained, train_snapshots(
                rundir, name, init, step, total, count=cfg.meta_snapshots,
                chunk=cfg.log_every, checkpoint_every=cfg.checkpoint_every)
    return out


def trace_and_analyse(cfg: LearningDynamicsConfig, rundir: RunDir
                      ) -> tuple[dict[str, float], dict[str, dict]]:
    """Meta-train (snapshots in ``rundir``), then trace and analyse every learner."""
    return cfg.trace(meta_train_all(cfg, rundir), cfg.seed)


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
