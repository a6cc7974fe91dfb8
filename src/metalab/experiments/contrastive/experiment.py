"""Contrastive meta-learning against implicit, truncated and first-order meta-gradients
(Zucchet, Schug, von Oswald, Zhao and Sacramento, NeurIPS 2022, sec. 5.3 and 5.5).

* sinusoid regression (tanh MLP 1-40-40-1): the dual system (gain modulation), CAVIA and MAML
  on the same body; MAML is iMAML's proximal model (the pull ``sinusoid_lam`` is added for every
  estimator, so all of them target the same meta-objective);
* Omniglot 5-way 1-shot and 20-way 1-shot: the complex synapse over the 4-block conv net, with
  a fixed consolidation strength (the paper's released setting: iMAML's model) and a learned
  one.

Every estimator runs the same free-phase budget of inner steps (SGD with Nesterov momentum 0.9,
as in the paper); the contrastive rules add their nudged phases. Each (learner, estimator)
pair trains ``seeds`` seeds as one compiled program and is scored on the same held-out tasks:
the mean over seeds with a Student-t 95% confidence interval, the milliseconds of one seed's
meta-step and the XLA temporary memory of its compiled program.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Literal

import jax
import numpy as np

from metalab.errors import require, require_cadence, require_fields
from metalab.estimators import ESTIMATORS, require_support, with_proximal
from metalab.estimators.settings import make_estimator
from metalab.estimators.task_map import STRATEGIES
from metalab.evaluation import seed_scores
from metalab.experiments.contrastive.claims import estimator_claims
from metalab.learners import LEARNERS, Learner
from metalab.models import mlp
from metalab.models.convnet import CONVS, convnet
from metalab.runs.experiment import SMOKE_CADENCE, Experiment, preset
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import decides, report_section
from metalab.runs.stage import train_seeds
from metalab.stats import mean_ci95
from metalab.tasks import Sinusoid
from metalab.tasks.episodes import Episodes
from metalab.tasks.fewshot import DEFAULT_DATA, check_classes, load_split
from metalab.training.optimizers import per_entry_adam
from metalab.training.seeds import initial_metas, meta_training

Problem = Literal["sinusoid", "omniglot-5w1s", "omniglot-20w1s"]
PROBLEMS: tuple[Problem, ...] = ("sinusoid", "omniglot-5w1s", "omniglot-20w1s")
SYNAPSES = ("complex-synapse-fixed-lambda", "complex-synapse-learned-lambda")
ESTIMATOR_NAMES = ("contrastive-symmetric", "contrastive", "implicit", "truncated",
                   "first-order")
"""the estimators the comparison drives, in table order"""
PAPER = {"problems": ("omniglot-5w1s", "omniglot-20w1s"), "omniglot_steps": 3750,
         "inner_steps": 200, "nudged_steps": 100, "inner_lr": 0.01, "outer_lr": 0.01,
         "lam": 0.5, "beta_5way": 0.1, "beta_20way": 0.03, "meta_batch_5way": 32,
         "meta_batch_20way": 16, "q_query": 15, "width": 64, "truncate": 20,
         "eval_episodes": 300}
"""``--regime paper``: the authors' released Omniglot settings (``fewshot/commands.sh``:
Nesterov SGD 0.01, 200 free and 100 nudged steps, wd 0.5, beta 0.1 / 0.03, Adam 0.01,
meta-batch 32 / 16, 3,750 outer steps, 15 queries per class, 64 filters, 300 test tasks)"""
QUICK = {"sinusoid_steps": 200, "sinusoid_meta_batch": 10, "sinusoid_inner_steps": 30,
         "sinusoid_nudged_steps": 15, "eval_tasks": 100, "omniglot_steps": 60,
         "inner_steps": 10, "nudged_steps": 5, "inner_lr": 0.1, "meta_batch_5way": 4,
         "meta_batch_20way": 2, "q_query": 2, "width": 8, "truncate": 3, "eval_episodes": 100,
         "log_every": 20, "checkpoint_every": 60}
"""``--quick`` (minutes on 2 CPU cores, mostly compiling): short phases; on Omniglot 8 filters,
60 meta-steps of 4 episodes, the inner rate chosen on validation characters"""


@dataclass(frozen=True)
class ContrastiveConfig:
    """Settings of ``metalab run contrastive``. The Omniglot defaults are the largest 5-way
    1-shot regime a 90-minute run allows on 2 CPU cores (``PAPER`` is the authors')."""

    problems: tuple[Problem, ...] = PROBLEMS[:2]
    estimators: tuple[str, ...] = ESTIMATOR_NAMES
    """meta-gradient estimators compared on every learner"""
    seeds: int = 3
    """independent seeds per (learner, estimator), trained as one vmapped program"""
    sinusoid_learners: tuple[str, ...] = ("dual-system", "cavia", "maml")
    sinusoid_steps: int = 3000
    sinusoid_meta_batch: int = 25
    sinusoid_inner_steps: int = 100
    sinusoid_nudged_steps: int = 50
    sinusoid_inner_lr: float = 0.01
    sinusoid_outer_lr: float = 1e-3
    sinusoid_beta: float = 0.1
    sinusoid_lam: float = 1.0
    """pull towards the fast initial values (dual system, CAVIA's context, MAML's init)"""
    context: int = 5
    """CAVIA's context entries"""
    eval_tasks: int = 500
    """held-out sinusoid tasks (100 query points each)"""
    synapses: tuple[str, ...] = SYNAPSES[:1]
    """complex-synapse variants compared on Omniglot (fixed lambda; or learned lambda too)"""
    omniglot_steps: int = 250
    """meta-steps per Omniglot setting (the paper: 3,750)"""
    inner_steps: int = 20
    """free-phase inner steps on Omniglot, in training and at test (the paper: 200)"""
    nudged_steps: int = 10
    """steps of each nudged phase on Omniglot (the paper: 100)"""
    inner_lr: float = 0.01
    """Omniglot inner rate, chosen on validation characters from 0.003-0.1 (the paper's too)"""
    outer_lr: float = 0.01
    lam: float = 0.5
    """the complex synapse's consolidation strength (its initial value when learned)"""
    beta_5way: float = 0.1
    beta_20way: float = 0.03
    meta_batch_5way: int = 8
    meta_batch_20way: int = 4
    q_query: int = 5
    """query images per class in training episodes (test: 15)"""
    width: int = 16
    """filters per conv block (the paper: 64)"""
    nudged_lr_scale: float = 1.0
    """nudged phases' inner learning rate relative to the free phase's"""
    truncate: int = 5
    """exact steps of truncated backprop (Omniglot; sinusoid: a fifth of its inner steps)"""
    eval_episodes: int = 300
    data: str = DEFAULT_DATA
    cache_dir: str = ""
    test_alphabets: int = 3
    val_characters: int = 20
    """training characters held out: the settings were chosen on them, never on test ones"""
    evaluate_on: Literal["test", "validation"] = "test"
    """score on the test alphabets, or on the validation characters (to choose settings)"""
    conv: str = "auto"
    task_map: str = "auto"
    log_every: int = 50
    checkpoint_every: int = 500
    seed: int = 0
    regime: Literal["ours", "paper"] = "ours"
    """`paper`: the authors' Omniglot run (``PAPER``; a GPU job), for every option left at
    its default"""
    quick: bool = False
    """reduced budget (minutes on 2 CPU cores): ``QUICK`` in every option left at default"""

    def __post_init__(self) -> None:
        require(len(self.problems) > 0, "--problems", "give at least one problem")
        require(len(self.estimators) > 0, "--estimators", "give at least one estimator")
        require(len(self.synapses) > 0, "--synapses", "give at least one variant")
        for name in self.estimators:
            require(name in ESTIMATORS, "--estimators",
                    f"unknown estimator {name!r}; choose from {', '.join(ESTIMATORS)}")
        for name in self.sinusoid_learners:
            require(name in ("dual-system", "cavia", "maml"), "--sinusoid-learners",
                    f"unknown learner {name!r}; choose from dual-system, cavia, maml")
        for name in self.synapses:
            require(name in SYNAPSES, "--synapses",
                    f"unknown variant {name!r}; choose from {', '.join(SYNAPSES)}")
        require(self.seeds >= 2, "--seeds", "need at least 2 for an interval")
        require_fields(
            self, positive_int=("sinusoid_steps", "sinusoid_meta_batch", "sinusoid_inner_steps",
                                "sinusoid_nudged_steps", "context", "omniglot_steps",
                                "inner_steps", "nudged_steps", "meta_batch_5way",
                                "meta_batch_20way", "q_query", "width", "truncate", "log_every"),
            positive=("sinusoid_inner_lr", "sinusoid_outer_lr", "sinusoid_beta", "sinusoid_lam",
                      "inner_lr", "outer_lr", "lam", "beta_5way", "beta_20way",
                      "nudged_lr_scale"),
            at_least={"eval_tasks": 10, "eval_episodes": 10, "val_characters": 0})
        require(self.evaluate_on == "test" or self.val_characters > 0, "--evaluate-on",
                "validation needs --val-characters above 0")
        require(self.conv in CONVS, "--conv", f"choose from {CONVS}")
        require(self.task_map in STRATEGIES, "--task-map", f"choose from {STRATEGIES}")
        require_cadence(self.log_every, self.checkpoint_every)
        for problem in self.problems:
            for learner in learners(self, problem).values():
                for name in self.estimators:
                    require_support(name, learner, "--estimators")

    def resolved(self) -> ContrastiveConfig:
        """``regime`` paper fills ``PAPER``, ``quick`` fills ``QUICK``, each into the options
        left at their defaults."""
        cfg = preset(self, PAPER) if self.regime == "paper" else self
        return replace(preset(cfg, QUICK), quick=False) if cfg.quick else cfg


def learners(cfg: ContrastiveConfig, problem: str) -> dict[str, Learner]:
    """The learners compared on ``problem``, by the name used in summary keys."""
    if problem == "sinusoid":
        body = mlp((1, 40, 40, 1), "tanh")
        lr, lam = cfg.sinusoid_inner_lr, cfg.sinusoid_lam
        made = {
            "dual-system": LEARNERS["dual-system"](body, lr, lam=lam),
            "cavia": LEARNERS["cavia"](mlp((1 + cfg.context, 40, 40, 1), "tanh"), lr,
                                       context=cfg.context, lam=lam, inner_opt="nesterov"),
            "maml": with_proximal(LEARNERS["maml"](body, lr, inner_opt="nesterov"), lam),
        }
        return {name: made[name] for name in cfg.sinusoid_learners}
    n_way = n_way_of(problem)
    net = convnet(n_way, (28, 28, 1), width=cfg.width, conv=cfg.conv)
    return {name: LEARNERS["complex-synapse"](net, cfg.inner_lr, "cross_entropy", lam=cfg.lam,
                                              learn_lam=name.endswith("learned-lambda"))
            for name in cfg.synapses}


def n_way_of(problem: str) -> int:
    """5 or 20 for the Omniglot problems."""
    return 5 if problem == "omniglot-5w1s" else 20


def settings(cfg: ContrastiveConfig, problem: str) -> dict:
    """Meta-batch, inner steps, nudged steps, beta, lam, truncation, outer rate, meta-steps."""
    if problem == "sinusoid":
        t = cfg.sinusoid_inner_steps
        return {"meta_batch": cfg.sinusoid_meta_batch, "inner_steps": t,
                "nudged_steps": cfg.sinusoid_nudged_steps, "beta": cfg.sinusoid_beta,
                "lam": cfg.sinusoid_lam, "truncate": max(1, t // 5),
                "outer_lr": cfg.sinusoid_outer_lr, "steps": cfg.sinusoid_steps}
    five = problem == "omniglot-5w1s"
    return {"meta_batch": cfg.meta_batch_5way if five else cfg.meta_batch_20way,
            "inner_steps": cfg.inner_steps, "nudged_steps": cfg.nudged_steps,
            "beta": cfg.beta_5way if five else cfg.beta_20way, "lam": cfg.lam,
            "truncate": cfg.truncate, "outer_lr": cfg.outer_lr, "steps": cfg.omniglot_steps}


def run(cfg: ContrastiveConfig, rundir: RunDir) -> dict[str, float]:
    """Every problem, learner and estimator; table, figures, summary and report."""
    summary: dict[str, float] = {}
    notes: list[str] = []
    seconds = {"compile": 0.0, "train": 0.0, "evaluation": 0.0}
    scores_per_seed: dict[str, np.ndarray] = {}  # paired across estimators (same seeds, tasks)
    data = None
    if any(p.startswith("omniglot") for p in cfg.problems):
        split = load_split("omniglot", "small", cfg.data, cfg.cache_dir, cfg.test_alphabets, 0,
                           cfg.val_characters)
        data = split.train, split.val if cfg.evaluate_on == "validation" else split.test
    for problem in cfg.problems:
        s = settings(cfg, problem)
        if problem == "sinusoid":
            tasks, held_out, n_eval = Sinusoid(10, 10), Sinusoid(10, 100), cfg.eval_tasks
            task_map, metric = "vmap", "query_mse"
        else:
            train, test = data
            n_way = n_way_of(problem)
            check_classes(train, "training", n_way, 1 + cfg.q_query)
            check_classes(test, cfg.evaluate_on, n_way, 1 + 15)
            tasks = Episodes.of(train, n_way, 1, cfg.q_query)
            held_out, n_eval = Episodes.of(test, n_way, 1, 15), cfg.eval_episodes
            task_map, metric = cfg.task_map, "test_accuracy"
        optimizer = per_entry_adam(s["outer_lr"])
        for lname, learner in learners(cfg, problem).items():
            untrained = held_out_scores(  # the floor: where every estimator starts
                cfg, learner, initial_metas(learner, optimizer, cfg.seed, cfg.seeds),
                held_out.sample, s["inner_steps"], n_eval, task_map)
            summary[f"{problem}/{lname}/untrained/{metric}"], \
                summary[f"{problem}/{lname}/untrained/{metric}_ci95"] = mean_ci95(untrained)
            for ename in cfg.estimators:
                est = make_estimator(ename, beta=s["beta"], lam=s["lam"],
                                     nudged_steps=s["nudged_steps"],
                                     nudged_lr_scale=cfg.nudged_lr_scale,
                                     truncate=s["truncate"], task_map=task_map)
                key = f"{problem}/{lname}/{ename}"
                state, failure, cost = train_seeds(
                    rundir, key.replace("/", "."), *meta_training(
                        learner, est, optimizer=optimizer, tasks=tasks,
                        meta_batch=s["meta_batch"], inner_steps=s["inner_steps"]),
                    cfg.seeds, seed=cfg.seed, steps=s["steps"], chunk=cfg.log_every,
                    checkpoint_every=cfg.checkpoint_every, tolerate_divergence=True)
                summary[f"{key}/ms_per_meta_step"] = cost.ms_per_meta_step()
                summary[f"{key}/xla_temp_mb"] = cost.temp_mb_per_seed()
                summary[f"{key}/compile_s"] = cost.compile_s
                seconds["compile"] += cost.compile_s
                seconds["train"] += cost.run_s
                if state is None:
                    notes.append(f"`{key}` {failure}.")
                    continue
                start = time.perf_counter()
                per_seed = held_out_scores(cfg, learner, state.meta, held_out.sample,
                                           s["inner_steps"], n_eval, task_map)
                record = {"stage": "result", "key": key, "compile_s": cost.compile_s,
                          "train_s": cost.run_s, "eval_s": time.perf_counter() - start,
                          "ms_per_meta_step": cost.ms_per_meta_step(),
                          "xla_temp_mb": cost.temp_mb_per_seed()}
                seconds["evaluation"] += record["eval_s"]
                if not np.all(np.isfinite(per_seed)):
                    notes.append(f"`{key}`: adaptation diverged on held-out tasks for "
                                 f"{int(np.sum(~np.isfinite(per_seed)))} of {cfg.seeds} seeds.")
                    rundir.log(record)
                    continue
                mean, ci = mean_ci95(per_seed)
                scores_per_seed[key] = per_seed
                summary[f"{key}/{metric}"] = mean
                summary[f"{key}/{metric}_ci95"] = ci
                rundir.log({**record, metric: mean, "ci95": ci,
                            "per_seed": [float(v) for v in per_seed]})

    from metalab.experiments.contrastive import plots

    plots.comparison(rundir, cfg.problems, summary)
    plots.training(rundir, cfg.problems)
    claims = estimator_claims(scores_per_seed, cfg) if decides(cfg) else []
    rundir.write_summary("contrastive", summary, claims=claims)
    rundir.write_report("Contrastive meta-learning", describe(cfg), summary,
                        sections=[plots.table(cfg.problems, summary), timing(seconds), *(
                            ["## Failures\n\n" + "\n".join(f"- {n}" for n in notes)]
                            if notes else []), *report_section(claims)])
    return summary


def held_out_scores(cfg: ContrastiveConfig, learner: Learner, meta, sample, steps: int,
                    n: int, task_map: str) -> np.ndarray:
    """Every seed's mean score on the same held-out tasks (one program for all seeds)."""
    return seed_scores(learner, meta, sample, steps=steps, n=n, chunk=25,
                       key=jax.random.PRNGKey(cfg.seed + 10**6), task_map=task_map).mean(axis=1)


def timing(seconds: dict[str, float]) -> str:
    """The report's section on where the run's time went (wall seconds, all seeds)."""
    total = sum(seconds.values())
    parts = ", ".join(f"{name} {value:.0f} s ({100 * value / max(total, 1e-9):.0f}%)"
                      for name, value in seconds.items())
    return ("## Where the time went\n\nTraining programs compiled, training programs run "
            "(all seeds, after compilation), evaluation (compilation included): " + parts + ".")


def describe(cfg: ContrastiveConfig) -> str:
    """The report's description of what ran."""
    return (
        f"Estimators {', '.join(cfg.estimators)} drive each learner for the same free-phase "
        f"budget; {cfg.seeds} seeds each, mean and Student-t 95% CI over seeds. Sinusoid "
        f"(amplitude 0.1-5, 10 shots, tanh MLP 1-40-40-1): {cfg.sinusoid_steps} meta-steps of "
        f"{cfg.sinusoid_meta_batch} tasks, {cfg.sinusoid_inner_steps} inner steps (nudged "
        f"{cfg.sinusoid_nudged_steps}, beta {cfg.sinusoid_beta}) of Nesterov SGD at "
        f"{cfg.sinusoid_inner_lr}, pull lam {cfg.sinusoid_lam}, outer Adam "
        f"{cfg.sinusoid_outer_lr}; query MSE on {cfg.eval_tasks} held-out tasks. Omniglot "
        f"(complex synapse, conv net width {cfg.width}, lam {cfg.lam} fixed or learned): "
        f"{cfg.omniglot_steps} meta-steps, meta-batch {cfg.meta_batch_5way} (5-way) / "
        f"{cfg.meta_batch_20way} (20-way), {cfg.inner_steps} free steps (also at test) and "
        f"{cfg.nudged_steps} nudged, beta {cfg.beta_5way} / {cfg.beta_20way}, truncated "
        f"backprop through the last {cfg.truncate}, outer Adam {cfg.outer_lr}; accuracy on "
        f"{cfg.eval_episodes} {cfg.evaluate_on} episodes (15 queries per class): test from "
        f"{cfg.test_alphabets} held-out alphabets, validation from {cfg.val_characters} "
        "training characters held out (where the settings were chosen). ms per meta-step and "
        "XLA temporary memory are for one seed's compiled meta-step."
    )


EXPERIMENT = Experiment(
    name="contrastive",
    description="contrastive rule vs implicit, truncated and first-order: complex synapse on "
                "Omniglot, dual system and CAVIA on sinusoids",
    expected_time="2 h",  # sinusoid 36 min + Omniglot 5-way ~85 min on one core (RESULTS.md)
    quick_time="4.5 min",  # 262 s on an idle 2-core CPU, cold compilation cache (RESULTS.md)
    config=ContrastiveConfig,
    run=run,
    seeding="vmapped",
    smoke=("--problems", "sinusoid", "--sinusoid-learners", "maml", "--estimators",
           "contrastive", "--seeds", "2", "--sinusoid-steps", "2", "--sinusoid-meta-batch",
           "1", "--sinusoid-inner-steps", "2", "--sinusoid-nudged-steps", "1", "--eval-tasks",
           "10", *SMOKE_CADENCE),
    summary_keys=tuple(f"sinusoid/maml/contrastive/{k}" for k in (
        "query_mse", "query_mse_ci95", "ms_per_meta_step", "xla_temp_mb", "compile_s")),
)
