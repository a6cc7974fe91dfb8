"""Every supported (learner, estimator) pair on the same problems, in one command.

The pairs come from the registries alone: a pair runs exactly when the estimator's
``requires`` is a subset of the learner's ``properties`` (``estimators.supports``), and every
other pair is listed with the properties it lacks. No line here names a learner or an
estimator: what must differ between learners on a problem (the inner rate, CAVIA's context)
is in that problem's table (``matrix/problems.py``); estimator settings (implicit's lambda,
contrastive's beta) are their factories' defaults. Each pair trains ``seeds`` seeds as one
vmapped program (``train_seeds``: checkpoints, resume, progress), is scored on the same
held-out tasks with ``metalab.evaluation.task_scores`` (vmapped over seeds), and is costed
off its own training program: ms per meta-step of one seed, XLA temporary memory, compile
seconds. A pair that diverges is reported in words and the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import numpy as np

from metalab.errors import require, require_cadence, require_fields
from metalab.estimators import ESTIMATORS
from metalab.estimators.task_map import STRATEGIES, resolve
from metalab.evaluation import seed_scores, trace_error
from metalab.experiments.matrix import problems as table
from metalab.learners import LEARNERS, Learner
from metalab.models.convnet import CONVS
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_seeds
from metalab.stats import mean_ci95
from metalab.tasks.fewshot import DEFAULT_DATA
from metalab.training.optimizers import per_entry_adam
from metalab.training.seeds import meta_training

ProblemName = Literal["sinusoid", "omniglot-5w1s", "digits-5w1s"]
QUICK_LEARNERS = ("maml", "metasgd", "protonet")
QUICK_ESTIMATORS = ("backprop", "first-order", "reptile", "implicit", "contrastive-symmetric",
                    "prototypical")
"""``--quick``'s pairs when none are chosen: one learner per kind of meta-parameter (an
initialisation, learned rates, none: closed form) and one estimator per way of obtaining a
meta-gradient but evolution strategies (its 16 perturbed inner loops per task took a third of
a measured quick run; add it with ``--estimators``)"""


@dataclass(frozen=True)
class MatrixConfig:
    """Settings of ``metalab run matrix``: every pair gets the same budget on each problem."""

    problems: tuple[ProblemName, ...] = ("sinusoid", "omniglot-5w1s")
    """sinusoid, omniglot-5w1s (needs the Omniglot zips), digits-5w1s (embedded, no files)"""
    learners: tuple[str, ...] = ()
    """learners to pair (default: every registered learner)"""
    estimators: tuple[str, ...] = ()
    """estimators to pair (default: every registered estimator)"""
    seeds: int = 3
    """seeds per pair, trained as one vmapped program (mean and 95% CI over seeds)"""
    steps: int = 1000
    """meta-steps per pair"""
    meta_batch: int = 16
    inner_steps: int = 5
    """inner steps in meta-training and at test"""
    outer_lr: float = 1e-3
    hidden: int = 40
    """sinusoid MLP width (two hidden layers)"""
    width: int = 32
    """filters per conv block (few-shot problems)"""
    q_query: int = 5
    """query images per class in training episodes"""
    eval_query: int = 15
    """query images per class in held-out episodes (sinusoid: 100 query points)"""
    eval_tasks: int = 500
    """held-out tasks (episodes) per problem, the same for every pair"""
    data: str = DEFAULT_DATA
    """folder of the Omniglot zips (default $METALAB_DATA/omniglot, else
    ~/.cache/metalab/data/omniglot)"""
    cache_dir: str = ""
    test_alphabets: int = 3
    """alphabets (digits: digits) held out for testing"""
    conv: str = "auto"
    task_map: str = "auto"
    """how tasks of a batch are mapped: auto, vmap, map or unroll (estimators/task_map.py)"""
    log_every: int = 50
    checkpoint_every: int = 500
    seed: int = 0
    quick: bool = False
    """minutes on 2 CPU cores: 3 learners x 6 estimators (unless chosen), 100 meta-steps of 8
    tasks, 3 inner steps, a conv net 8 filters wide, 100 held-out tasks"""

    def __post_init__(self) -> None:
        require(len(self.problems) > 0, "--problems", "give at least one problem")
        for option, names, registry in (("--learners", self.learners, LEARNERS),
                                        ("--estimators", self.estimators, ESTIMATORS)):
            for name in names:
                require(name in registry, option,
                        f"unknown name {name!r}; choose from {', '.join(registry)}")
        require(self.seeds >= 2, "--seeds", "need at least 2 for an interval over seeds")
        require_fields(self, positive_int=("steps", "meta_batch", "inner_steps", "hidden",
                                           "width", "q_query", "eval_query", "test_alphabets",
                                           "log_every"),
                       at_least={"eval_tasks": 10}, positive=("outer_lr",))
        require(self.conv in CONVS, "--conv", f"choose from {CONVS}")
        require(self.task_map in STRATEGIES, "--task-map", f"choose from {STRATEGIES}")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> MatrixConfig:
        """Every registered learner and estimator unless chosen; ``quick`` shrinks the pairs
        (unless chosen) and the budget."""
        if self.quick:
            return replace(self, quick=False, learners=self.learners or QUICK_LEARNERS,
                           estimators=self.estimators or QUICK_ESTIMATORS, steps=100,
                           meta_batch=8, inner_steps=3, width=8, q_query=2, eval_tasks=100,
                           log_every=50, checkpoint_every=100).resolved()
        return replace(self, learners=self.learners or tuple(LEARNERS),
                       estimators=self.estimators or tuple(ESTIMATORS))


def make_learner(setup: table.Setup, name: str) -> Learner:
    """``LEARNERS[name]`` over the problem's network, at its inner rate and options."""
    options = setup.options.get(name, {})
    return LEARNERS[name](setup.model(table.extra_inputs(options)), setup.learner_rate(name),
                          setup.loss, **options)


def unfit(setup: table.Setup, learner: Learner) -> str:
    """Why ``learner`` cannot run on the problem at all ("" if it can): a property the
    problem cannot host, or an error adapting and scoring one task (traced, not run)."""
    for prop, needs in setup.excludes.items():
        if prop in learner.properties:
            return f"needs {needs}"
    error = trace_error(learner, setup.train.sample)
    return f"cannot be built over this problem's network ({error})" if error else ""


def eval_key(cfg: MatrixConfig) -> jax.Array:
    """The key the held-out tasks of every pair are drawn with."""
    return jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6)


def run_problem(cfg: MatrixConfig, problem: str, rundir: RunDir) -> dict:
    """Train and score every supported pair on ``problem``; rows (run or failed), pairs the
    properties rule out, and learners the problem cannot host."""
    setup = table.PROBLEMS[problem](cfg)
    task_map = resolve(cfg.task_map) if problem != "sinusoid" else "vmap"
    optimizer = per_entry_adam(cfg.outer_lr)
    rows, unsupported, unhosted = [], [], []
    for lname in cfg.learners:
        learner = make_learner(setup, lname)
        why = unfit(setup, learner)
        if why:
            unhosted.append({"problem": problem, "learner": lname, "reason": why})
            continue
        for ename in cfg.estimators:
            estimator = ESTIMATORS[ename](task_map=task_map)
            missing = estimator.requires - learner.properties
            if missing:
                unsupported.append({"problem": problem, "learner": lname, "estimator": ename,
                                    "lacks": sorted(missing)})
                continue
            state, failure, cost = train_seeds(
                rundir, f"{problem}.{lname}+{ename}", *meta_training(
                    learner, estimator, optimizer=optimizer, tasks=setup.train,
                    meta_batch=cfg.meta_batch, inner_steps=cfg.inner_steps),
                cfg.seeds, seed=cfg.seed, steps=cfg.steps, chunk=cfg.log_every,
                checkpoint_every=cfg.checkpoint_every, tolerate_divergence=True)
            row = {"problem": problem, "learner": lname, "estimator": ename,
                   "ms_per_step": cost.ms_per_meta_step(), "temp_mib": cost.temp_mb_per_seed(),
                   "compile_s": cost.compile_s, "status": failure}
            if state is not None:
                per_seed = seed_scores(learner, state.meta, setup.held_out.sample,
                                       steps=cfg.inner_steps, key=eval_key(cfg),
                                       n=cfg.eval_tasks, task_map=task_map).mean(axis=1)
                bad = int(np.sum(~np.isfinite(per_seed)))
                if bad:
                    row["status"] = f"diverged on held-out tasks ({bad} of {cfg.seeds} seeds)"
                else:
                    row["score"], row["ci95"] = mean_ci95(per_seed)
                    row["per_seed"] = [float(v) for v in per_seed]
            rundir.log({"stage": "result", **row})
            rows.append(row)
    return {"setup": setup, "rows": rows, "unsupported": unsupported, "unhosted": unhosted}


def summary_of(results: dict[str, dict]) -> dict[str, float]:
    """``<problem>/<learner>+<estimator>/<score|ci95|ms_per_step|compile_s|temp_mib>``; a
    diverged pair has no score and ``diverged`` = 1."""
    summary: dict[str, float] = {}
    for problem, result in results.items():
        for row in result["rows"]:
            key = f"{problem}/{row['learner']}+{row['estimator']}"
            if "score" in row:
                summary[f"{key}/score"], summary[f"{key}/ci95"] = row["score"], row["ci95"]
            else:
                summary[f"{key}/diverged"] = 1.0
            for name in ("ms_per_step", "compile_s", "temp_mib"):
                summary[f"{key}/{name}"] = row[name]
        summary[f"{problem}/pairs_run"] = float(len(result["rows"]))
        summary[f"{problem}/pairs_unsupported"] = float(len(result["unsupported"]))
    return summary


def run(cfg: MatrixConfig, rundir: RunDir) -> dict[str, float]:
    """Every problem, every supported pair: table, unsupported pairs, figure, report."""
    from metalab.experiments.matrix import plots

    results = {problem: run_problem(cfg, problem, rundir) for problem in cfg.problems}
    summary = summary_of(results)
    plots.score_vs_cost(rundir, results)
    rundir.write_summary("matrix", summary)
    rundir.write_report("Every learner with every estimator", describe(cfg, results), summary,
                        sections=plots.sections(results))
    return summary


def describe(cfg: MatrixConfig, results: dict[str, dict]) -> str:
    """The report's description of what ran."""
    scores = "; ".join(f"{p}: {r['setup'].metric} ({r['setup'].direction()})"
                       for p, r in results.items())
    return (
        f"Learners {', '.join(cfg.learners)} paired with estimators "
        f"{', '.join(cfg.estimators)} wherever the estimator's requirements are among the "
        f"learner's properties. Every pair: {cfg.steps} meta-steps of {cfg.meta_batch} tasks, "
        f"{cfg.inner_steps} inner steps (also at test), outer Adam {cfg.outer_lr}, "
        f"{cfg.seeds} seeds as one vmapped program; sinusoid MLP 1-{cfg.hidden}-{cfg.hidden}-1, "
        f"conv net {cfg.width} filters wide; estimator settings are their defaults. Score on "
        f"the same {cfg.eval_tasks} held-out tasks per problem, mean and Student-t 95% CI over "
        f"seeds ({scores}). ms per meta-step and XLA temporary MiB are one seed's share of "
        "the vmapped training program; compile seconds are that program's (all seeds)."
    )


EXPERIMENT = Experiment(
    name="matrix",
    description="every supported (learner, estimator) pair on sinusoid and Omniglot 5-way "
                "1-shot: score, ms per meta-step, memory, compile time",
    expected_time="hours (use a GPU)",
    quick_time="5 min",  # 294 s on an idle 2-core CPU, cold compilation cache (docs/matrix.md)
    config=MatrixConfig,
    run=run,
    check=table.check_data,
    seeding="vmapped",
    smoke=("--problems", "sinusoid", "--learners", "maml", "--estimators", "first-order",
           "--seeds", "2", "--steps", "2", "--meta-batch", "2", "--inner-steps", "1", "--hidden",
           "8", "--eval-tasks", "10", *SMOKE_CADENCE),
    summary_keys=tuple(f"sinusoid/maml+first-order/{k}" for k in (
        "score", "ci95", "ms_per_step", "compile_s", "temp_mib")),
)
