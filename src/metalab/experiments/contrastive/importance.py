"""Beyond the paper: do a complex synapse's meta-learned strengths lambda_i find the synapses
that matter, where these are known by construction, and better than Fisher importance?

A complex synapse with learned lambda (Zucchet et al. 2022) on a linear map 8 -> 8 is
meta-trained by the symmetric contrastive rule on ``tasks.SharedWeights``: every task shares
the weights of 4 outputs and draws the other 4 outputs' weights afresh, so the shared synapses
should be consolidated (lambda high) and the task-specific ones left free (lambda low). Then:

* **recovery**: per seed, the mean log10 lambda on shared minus task-specific synapses, and
  the rank agreement (AUC) with the known mask of lambda and of the diagonal Fisher
  information of earlier tasks at their adapted weights (EWC's importance);
* **consolidation**: on held-out (A, B) pairs, adapt to A, then to B anchored at phi_A with
  strengths shaped as lambda, uniform, or A's Fisher (EWC), each at the common scale that is
  best on validation pairs and stable; scored by the mean of A's and B's query MSE after B.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
import optax

from metalab.analysis.fisher import fisher
from metalab.analysis.importance import SHAPES, auc, both_tasks, choose_scale, two_task_losses
from metalab.analysis.paired import paired
from metalab.errors import flag, require
from metalab.estimators.settings import make_estimator
from metalab.evaluation import adapt
from metalab.learners import LEARNERS, Learner
from metalab.learners.base import Meta
from metalab.models import deep_linear
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import record_claim, regime, report_section
from metalab.runs.stage import train_seeds
from metalab.stats import mean_ci95
from metalab.tasks import SharedWeights, Task
from metalab.training.seeds import meta_training

PAPER = "Zucchet et al. 2022 (contrastive meta-learning), beyond the paper"


@dataclass(frozen=True)
class ImportanceConfig:
    """Settings of ``metalab run synapse-importance``."""

    steps: int = 2000
    meta_batch: int = 16
    inner_steps: int = 100
    nudged_steps: int = 50
    inner_lr: float = 0.1
    outer_lr: float = 3e-3
    """Adam rate of omega"""
    rho_lr: float = 0.01
    """Adam rate of rho = log lambda (at most ~0.01 x steps natural-log units of movement)"""
    beta: float = 0.1
    lam: float = 1.0
    """initial consolidation strength"""
    specific: int = 4
    """task-specific outputs of the 8 -> 8 map (their weights drawn per task)"""
    noise: float = 0.3
    k_support: int = 10
    fisher_tasks: int = 200
    """earlier tasks the Fisher information is averaged over"""
    val_pairs: int = 100
    """(A, B) pairs the consolidation scale is chosen on"""
    pairs: int = 200
    """held-out (A, B) pairs of the consolidation test"""
    scales: tuple[float, ...] = (1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
    """mean consolidation strengths tried on the validation pairs"""
    seeds: int = 3
    """independent meta-trainings, trained together as one vmapped program"""
    log_every: int = 100
    seed: int = 0
    quick: bool = False
    """about 1 minute on 2 CPU cores"""

    def __post_init__(self) -> None:
        for name in ("steps", "meta_batch", "inner_steps", "nudged_steps", "fisher_tasks",
                     "val_pairs", "pairs", "log_every", "k_support"):
            require(getattr(self, name) >= 1, flag(name), "must be a positive integer")
        for name in ("inner_lr", "outer_lr", "rho_lr", "beta", "lam", "noise"):
            require(getattr(self, name) > 0, flag(name), "must be positive")
        require(len(self.scales) >= 1 and min(self.scales) > 0, "--scales",
                "give positive mean strengths")
        require(self.seeds >= 2, "--seeds", "need at least 2 for an interval")

    def resolved(self) -> ImportanceConfig:
        """``quick``: 500 meta-steps, fewer evaluation tasks."""
        if not self.quick:
            return self
        return replace(self, quick=False, steps=500, meta_batch=8, fisher_tasks=30,
                       val_pairs=30, pairs=60)

    def tasks(self) -> SharedWeights:
        """The task family (8 -> 8 linear maps, ``specific`` outputs drawn per task)."""
        return SharedWeights(specific=self.specific, noise=self.noise, k_support=self.k_support)


def analyse(learner: Learner, meta: Meta, earlier: Task, val: tuple[Task, Task],
            test: tuple[Task, Task], scales: jax.Array, steps: int) -> dict[str, jax.Array]:
    """lambda, the mean Fisher of earlier tasks and the consolidation losses of one seed."""
    def task_fisher(task: Task) -> jax.Array:
        return fisher(learner, meta, adapt(learner, meta, task, steps), task.query_x)

    def pairs(a: Task, b: Task) -> dict[str, jax.Array]:
        return jax.vmap(lambda x, y: two_task_losses(learner, meta, x, y, scales, steps))(a, b)

    return {"lambda": jnp.exp(meta["rho"]["layer0"]["w"]).ravel(),
            "fisher": jax.vmap(task_fisher)(earlier).mean(0), "val": pairs(*val)["grid"],
            "test": pairs(*test)}


def run(cfg: ImportanceConfig, rundir: RunDir) -> dict[str, float]:
    """Meta-train; recovery of the known mask by lambda and Fisher; consolidation; report."""
    family = cfg.tasks()
    learner = LEARNERS["complex-synapse"](deep_linear((family.d_in, family.d_out)),
                                          cfg.inner_lr, lam=cfg.lam)
    est = make_estimator("contrastive-symmetric", beta=cfg.beta, lam=cfg.lam,
                         nudged_steps=cfg.nudged_steps, nudged_lr_scale=1.0,
                         truncate=1, task_map="vmap")
    outer = optax.multi_transform({"omega": optax.adam(cfg.outer_lr),
                                   "rho": optax.adam(cfg.rho_lr)},
                                  lambda meta: {k: jax.tree.map(lambda _, k=k: k, v)
                                                for k, v in meta.items()})
    state, failure, _ = train_seeds(
        rundir, "complex-synapse", *meta_training(
            learner, est, optimizer=outer, tasks=family, meta_batch=cfg.meta_batch,
            inner_steps=cfg.inner_steps),
        cfg.seeds, seed=cfg.seed, steps=cfg.steps, chunk=cfg.log_every,
        checkpoint_every=cfg.steps, tolerate_divergence=True)
    if state is None:
        rundir.write_report("Learned strengths vs known importance", f"Meta-training {failure}.",
                            {})
        return {}
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed + 10**6), 5)
    held = replace(family, k_query=50)
    val = (held.sample(keys[1], cfg.val_pairs), held.sample(keys[2], cfg.val_pairs))
    test = (held.sample(keys[3], cfg.pairs), held.sample(keys[4], cfg.pairs))
    scales = jnp.asarray(cfg.scales)
    out = jax.device_get(jax.jit(jax.vmap(lambda m: analyse(
        learner, m, held.sample(keys[0], cfg.fisher_tasks), val, test, scales,
        cfg.inner_steps)))(state.meta))
    summary, claims, notes = summarise(cfg, family.mask().ravel(), out)
    figure(rundir, np.log10(out["lambda"][0]), family.mask().ravel(), summary)
    rundir.write_summary("synapse-importance", summary, claims=claims)
    what = (
        f"Complex synapse on a linear map 8 -> 8 (initial lambda {cfg.lam}) meta-trained by "
        f"the symmetric contrastive rule (beta {cfg.beta}, {cfg.inner_steps} free and "
        f"{cfg.nudged_steps} nudged Nesterov steps at {cfg.inner_lr}; Adam {cfg.outer_lr} on "
        f"omega, {cfg.rho_lr} on log lambda) for {cfg.steps} meta-steps of {cfg.meta_batch} "
        f"tasks sharing the weights of {family.d_out - cfg.specific} outputs ({cfg.specific} "
        f"drawn per task; {cfg.k_support} support points, noise {cfg.noise}), {cfg.seeds} "
        f"seeds. Fisher of {cfg.fisher_tasks} earlier tasks at their adapted weights. "
        f"Consolidation on {cfg.pairs} held-out (A, B) pairs, each shape's scale chosen on "
        f"{cfg.val_pairs} validation pairs among {list(cfg.scales)} (mean strength). Mean and "
        "95% CI over seeds.")
    rundir.write_report("Learned strengths vs known importance", what, summary,
                        sections=[*report_section(claims),
                                  *(["## Diverged\n\n" + "\n".join(notes)] if notes else [])])
    return summary


def summarise(cfg: ImportanceConfig, mask: np.ndarray, out: dict
              ) -> tuple[dict[str, float], list[dict], list[str]]:
    """Summary metrics, the claims (paired over seeds) and notes on divergence."""
    log_lam = np.log10(out["lambda"])  # [seeds, synapses]
    summary: dict[str, float] = {}
    per_seed = {
        "log10_lambda_shared": log_lam[:, mask].mean(1),
        "log10_lambda_specific": log_lam[:, ~mask].mean(1),
        "lambda_spread_log10": log_lam.std(1),
        "auc_lambda": np.array([auc(v, mask) for v in log_lam]),
        "auc_fisher": np.array([auc(v, mask) for v in out["fisher"]]),
    }
    chosen = np.stack([choose_scale(v) for v in out["val"]])  # [seeds, shapes]
    test = out["test"]["grid"]  # [seeds, pairs, shapes, scales, 3]
    at = np.take_along_axis(test, chosen[:, None, :, None, None], axis=3)[:, :, :, 0]
    rows = {name: at[:, :, i] for i, name in enumerate(SHAPES)}
    rows["as-learned"] = out["test"]["as_learned"]
    for name, v in rows.items():  # v: [seeds, pairs, 3]
        per_seed[f"{name}/forgetting"] = (v[..., 1] - v[..., 0]).mean(1)
        per_seed[f"{name}/new_task_mse"] = v[..., 2].mean(1)
        per_seed[f"{name}/both_tasks_mse"] = both_tasks(v).mean(1)
    for i, name in enumerate(SHAPES):
        per_seed[f"{name}/scale"] = np.asarray(cfg.scales)[chosen[:, i]]
    for key, v in per_seed.items():
        summary[key], summary[f"{key}_ci95"] = mean_ci95(v)
    fam = cfg.tasks()
    summary["bayes_log10_lambda_specific"] = float(np.log10(
        2 * cfg.noise**2 * fam.d_in / (cfg.k_support * fam.d_out)))
    f = out["fisher"]
    summary["ewc/max_strength"] = float(np.mean(
        per_seed["ewc/scale"] * f.max(1) / f.mean(1)))
    notes = [f"Consolidation with the `{name}` strengths diverged on some held-out pair at the "
             "validated scale (the inner rate cannot integrate the largest strength)."
             for name in rows if not np.isfinite(per_seed[f"{name}/both_tasks_mse"]).all()]
    claims = [
        _claim("separation", per_seed["log10_lambda_shared"],
               per_seed["log10_lambda_specific"], "greater", cfg,
               "the learned lambda is higher on the synapses all tasks share than on the "
               "task-specific ones", "mean log10 lambda, shared - task-specific synapses"),
        _claim("lambda-vs-fisher", per_seed["auc_lambda"], per_seed["auc_fisher"], "greater",
               cfg, "the learned lambda ranks the shared synapses above the task-specific ones "
               "better than Fisher importance does",
               "AUC of the known mask, learned lambda - Fisher of earlier tasks"),
        *(_claim(f"learned-vs-{other}", per_seed["learned/both_tasks_mse"],
                 per_seed[f"{other}/both_tasks_mse"], "less", cfg,
                 f"consolidating with the learned lambda's shape beats {other} strengths",
                 f"mean of A's and B's query MSE after B, each at its validated scale, "
                 f"learned - {other}") for other in ("ewc", "uniform")),
    ]
    return summary, claims, notes


def _claim(name: str, a: np.ndarray, b: np.ndarray, direction: str, cfg: ImportanceConfig,
           claim: str, metric: str) -> dict:
    return record_claim(f"synapse-importance/{name}", paired(a, b, direction=direction),
                        paper=PAPER, claim=claim, metric=metric, regime=regime(cfg),
                        means=(float(np.mean(a)), float(np.mean(b))))


def figure(rundir: RunDir, log_lam: np.ndarray, mask: np.ndarray,
           summary: dict[str, float]) -> None:
    """Left: log10 lambda of shared and task-specific synapses (first seed). Right: the
    consolidation score of each strength shape at its validated scale."""
    fig, (ax, bx) = subplots(1, 2, figsize=(11, 4.2))
    bins = np.linspace(log_lam.min() - 0.1, log_lam.max() + 0.1, 30)
    ax.hist(log_lam[mask], bins, alpha=0.6, label="shared (keep)")
    ax.hist(log_lam[~mask], bins, alpha=0.6, label="task-specific (free)")
    ax.axvline(summary["bayes_log10_lambda_specific"], color="k", ls=":",
               label="Bayes lambda, task-specific")
    ax.set(xlabel="log10 learned lambda_i", ylabel="synapses",
           title=f"AUC lambda {summary['auc_lambda']:.2f}, Fisher {summary['auc_fisher']:.2f}")
    ax.legend(fontsize=7)
    names = [*SHAPES, "as-learned"]
    vals = [summary[f"{n}/both_tasks_mse"] for n in names]
    errs = [summary[f"{n}/both_tasks_mse_ci95"] for n in names]
    bx.errorbar(np.arange(len(names)), vals, yerr=errs, fmt="o", capsize=3)
    bx.set_xticks(np.arange(len(names)), names)
    bx.set(ylabel="mean query MSE of A and B after B", title="Consolidation anchored at phi_A")
    rundir.save_figure(fig, "importance")


EXPERIMENT = Experiment(
    name="synapse-importance",
    description="learned complex-synapse strengths vs a known importance mask, Fisher and EWC",
    expected_time="5 min",
    quick_time="1 min",
    config=ImportanceConfig,
    run=run,
    seeding="vmapped",
    smoke=("--steps", "2", "--meta-batch", "1", "--inner-steps", "2", "--nudged-steps", "1",
           "--fisher-tasks", "2", "--val-pairs", "2", "--pairs", "2", "--scales", "0.1", "1",
           "--seeds", "2", "--log-every", "1"),
    summary_keys=("log10_lambda_shared", "log10_lambda_specific", "lambda_spread_log10",
                  "auc_lambda", "auc_fisher", "ewc/scale", "ewc/max_strength",
                  *(f"{m}/both_tasks_mse" for m in (*SHAPES, "as-learned"))),
)
