"""Learning dynamics across task families and seeds (Rabinowitz 2019): linear regression,
Fourier series and low-rank contextual bandits, each over several seeds, with the mean and
95% confidence interval of every learner's mode-time ratio per family.

Each (family, seed) is one sub-run in its own folder (``<family>-seed<s>``, with checkpoints
and metrics), so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from metalab.analysis.dynamics import DYNAMICS_LEARNERS, seed_aggregate
from metalab.atomic import atomic_write
from metalab.errors import require, require_cadence, require_fields
from metalab.experiments.dynamics import bandit_run, study_report
from metalab.experiments.dynamics.claims import mode_order_claims, near_bayes_claims, slopes
from metalab.experiments.dynamics.experiment import (
    FOURIER_META_STEPS,
    LearningDynamicsConfig,
    trace_and_analyse,
)
from metalab.runs.curves import training_curves
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import report_section

FAMILIES = ("linear", "fourier", "bandit")
STUDY_META_STEPS = {"linear": 1000, "fourier": FOURIER_META_STEPS}


@dataclass(frozen=True)
class DynamicsStudyConfig:
    """Settings of ``metalab run learning-dynamics-families``."""

    families: tuple[str, ...] = FAMILIES
    seeds: int = 3
    """seeds seed, seed + 1, ...; mean and 95% CI (Student t) over them"""
    learners: tuple[str, ...] = ("learner", "online", "maml", "lstm", "bayes")
    """regression learners (see learning-dynamics); the bandit always runs pg, lstm, thompson"""
    meta_steps: int | None = None
    """MAML / Meta-SGD meta-steps (regression; linear 1000, fourier 8000 at Adam 1e-2)"""
    lstm_steps: int = 40000
    """meta-steps of both regression LSTMs (the plain LSTM's Adam step decays by a cosine to
    1% over them: at a constant step its error on linear maps levelled off at ~29x Bayes' by
    40000, docs/learning-dynamics.md)"""
    eval_tasks: int = 100
    shifts: bool = True
    meta_snapshots: int = 3
    n_arms: int = 5
    d_context: int = 4
    rank: int = 3
    """bandit: modes of the reward map (singular values geometric 3 -> 0.5)"""
    bandit_noise: float = 0.3
    horizon: int = 50
    """bandit: interactions per episode of the LSTM agent and Thompson sampling"""
    a2c_steps: int = 5000
    a2c_lr: float = 1e-2
    """Adam step of A2C (gradient norm clipped at 1); at 3e-3 one seed earned only 0.19 a
    pull after 2000 meta-steps (docs/learning-dynamics.md)"""
    agent_hidden: int = 128
    gamma: float = 0.3
    """discount of the A2C returns"""
    entropy_cost: float = 0.01
    pg_steps: int = 40000
    """interactions of the REINFORCE learner (one per step): its weakest mode's best-arm
    probability was at 42% of the way from chance at 20000 (seed 0), so its t50 needs more"""
    pg_lr: float = 0.05
    pg_hidden: int = 16
    pg_init_scale: float = 0.01
    meta_batch: int = 32
    log_every: int = 100
    checkpoint_every: int = 1000
    seed: int = 0
    quick: bool = False
    """reduced budget (a few minutes on 2 CPU cores)"""

    def __post_init__(self) -> None:
        require_fields(
            self, positive_int=("meta_steps", "seeds", "lstm_steps", "meta_snapshots", "n_arms",
                                "d_context", "rank", "horizon", "a2c_steps", "agent_hidden",
                                "pg_steps", "pg_hidden", "meta_batch", "log_every"),
            positive=("bandit_noise", "a2c_lr", "pg_lr", "pg_init_scale"),
            at_least={"eval_tasks": 20})
        bad = sorted(set(self.families) - set(FAMILIES))
        require(bool(self.families) and not bad, "--families",
                f"choose one or more of {', '.join(FAMILIES)}")
        bad = sorted(set(self.learners) - set(DYNAMICS_LEARNERS))
        require(not bad, "--learners", f"unknown {bad}; choose from "
                f"{', '.join(DYNAMICS_LEARNERS)}")
        require(self.rank <= min(self.n_arms - 1, self.d_context), "--rank",
                "must be at most min(n-arms - 1, d-context) (modes are contrasts between arms)")
        require(0.0 <= self.gamma < 1.0, "--gamma", "must be in [0, 1)")
        require(self.entropy_cost >= 0, "--entropy-cost", "must be >= 0")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> DynamicsStudyConfig:
        """``quick`` shrinks every budget."""
        if not self.quick:
            return self
        return replace(self, meta_steps=min(self.meta_steps or 100, 100),
                       lstm_steps=min(self.lstm_steps, 200), a2c_steps=min(self.a2c_steps, 200),
                       pg_steps=min(self.pg_steps, 600), eval_tasks=min(self.eval_tasks, 40),
                       meta_snapshots=min(self.meta_snapshots, 2), log_every=50,
                       checkpoint_every=100, shifts=False)


def regression_config(cfg: DynamicsStudyConfig, family: str, seed: int
                      ) -> LearningDynamicsConfig:
    """The learning-dynamics settings of one regression family and seed in the study."""
    meta_steps = cfg.meta_steps or STUDY_META_STEPS[family]
    return LearningDynamicsConfig(
        variant=family, seed=seed, learners=cfg.learners, meta_steps=meta_steps,
        memory_steps=cfg.lstm_steps, lstm_steps=cfg.lstm_steps, eval_tasks=cfg.eval_tasks,
        meta_batch=cfg.meta_batch, meta_snapshots=cfg.meta_snapshots, shifts=cfg.shifts,
        log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every).resolved()


def mode_strengths(cfg: DynamicsStudyConfig, family: str) -> np.ndarray:
    """The strength of each mode of a family, largest first: its singular values (linear,
    bandit) or inverse frequencies 1, 1/2, ... (Fourier)."""
    if family == "bandit":
        return np.asarray(bandit_run.family(cfg).singular_values())
    dist = regression_config(cfg, family, cfg.seed).distribution()
    if family == "linear":
        return np.asarray(dist.singular_values())
    return 1.0 / np.arange(1, dist.n_freq + 1)


def _sub_run(cfg: DynamicsStudyConfig, family: str, seed: int, rundir: RunDir
             ) -> dict[str, float]:
    """Summary of one (family, seed); on ``--resume`` a finished sub-run is read back."""
    sub = RunDir(rundir.path / f"{family}-seed{seed}", resume=rundir.resume,
                 max_loss=rundir.max_loss)
    done = sub.path / "metrics_exact.json"  # keeps inf (never reached) apart from NaN
    if rundir.resume and done.exists():
        return json.loads(done.read_text())
    if family == "bandit":
        summary, _ = bandit_run.run_seed(cfg, seed, sub)
    else:
        summary, _ = trace_and_analyse(regression_config(cfg, family, seed), sub)
        training_curves(sub, "query MSE, train batch (LSTMs: mean over prefixes)")
    sub.write_summary(f"learning-dynamics-families/{family}", summary)
    atomic_write(done, json.dumps(summary))
    return summary


def _maml_steps(cfg: DynamicsStudyConfig) -> str:
    """The study's MAML budget: one number, or each regression family's default."""
    if cfg.meta_steps is not None:
        return str(cfg.meta_steps)
    return ", ".join(f"{STUDY_META_STEPS[f]} ({f})" for f in cfg.families if f != "bandit")


def run(cfg: DynamicsStudyConfig, rundir: RunDir) -> dict[str, float]:
    """Every family and seed as a sub-run; aggregate, plot, report."""
    per_seed: dict[str, list[dict[str, float]]] = defaultdict(list)
    for family in cfg.families:
        for seed in range(cfg.seed, cfg.seed + cfg.seeds):
            per_seed[family].append(_sub_run(cfg, family, seed, rundir))
    strengths = {f: mode_strengths(cfg, f) for f in cfg.families}
    summary = seed_aggregate(per_seed) | slopes(per_seed, strengths)
    study_report.ratio_figure(rundir, cfg, summary)
    claims = [*mode_order_claims(per_seed, strengths, cfg), *near_bayes_claims(per_seed, cfg)]
    rundir.write_summary("learning-dynamics-families", summary, claims=claims)
    rundir.write_report("Learning dynamics across families and seeds",
                        study_report.description(cfg, _maml_steps(cfg)), summary,
                        [*study_report.tables(cfg, summary), *report_section(claims)])
    return summary


EXPERIMENT = Experiment(
    name="learning-dynamics-families",
    description="Mode-time ratios and slopes of log time-to-50% on log mode strength of "
    "learners and meta-learners on linear, Fourier and contextual-bandit families, and each "
    "meta-learner's error as a multiple of Bayes', mean and 95% CI over seeds (Rabinowitz 2019)",
    expected_time="80 min",  # estimate: 14.6 min measured at 3000 LSTM steps (2026-12-01) + 6
    # runs x 37000 more plain-LSTM steps at ~15 ms CPU each + 3 x 37000 more REINFORCE
    # interactions (~2 min a seed), from CPU time measured under load (issue 28)
    quick_time="3 min",  # 167 s wall on the idle 2-core machine, 2026-12-01
    config=DynamicsStudyConfig,
    run=run,
    seeding="loop",
    seeding_reason="each (family, seed) is a whole learning-dynamics run of several learners "
    "and analyses (the bandit agents trained by loops of their own), in its own resumable "
    "sub-folder",
    smoke=("--families", "linear", "--seeds", "1", "--learners", "learner", "maml", "bayes",
           "--meta-steps", "2", "--lstm-steps", "2", "--eval-tasks", "20", "--meta-snapshots",
           "1", "--meta-batch", "2", "--no-shifts", *SMOKE_CADENCE),
    summary_keys=tuple(f"{m}/linear/{k}" for m in ("learner", "maml", "bayes") for k in (
        "final_query_mse", "final_query_mse_ci95", "bayes_similarity",
        "mode_time_ratio_reached", "mode_time_ratio?", "mode_time_ratio_ci95?")),
)
