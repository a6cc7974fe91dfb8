"""Beyond the paper: do a complex synapse's meta-learned strengths lambda_i track each
parameter's importance, as elastic weight consolidation sets them (Kirkpatrick et al. 2017)?

A complex synapse with learned lambda (Zucchet et al. 2022) is meta-trained by the symmetric
contrastive rule on a stream of sinusoid tasks (tanh MLP 1-40-40-1). Then:

* **importance**: the diagonal Fisher information of earlier tasks, F_i = E_x (d f(x)/d phi_i)^2
  at each task's adapted weights (a unit-variance Gaussian likelihood, so F needs no labels),
  averaged over tasks of the training stream; reported as the Spearman rank correlation of
  lambda_i with F_i over all parameters, per seed;
* **forgetting**: for held-out task pairs (A, B), adapt to A from omega, then to B with the
  consolidation anchored at phi_A and strengths (a) the learned lambda, (b) one fixed lambda
  with the same mean, (c) EWC's Fisher of A scaled to the same mean. Forgetting is
  L_A(phi_B) - L_A(phi_A) on A's query points; the new task's loss L_B(phi_B) shows what the
  protection costs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import numpy as np
import optax
from scipy import stats

from metalab.analysis.fisher import STRENGTHS, consolidation
from metalab.errors import flag, require
from metalab.estimators.settings import make_estimator
from metalab.learners import LEARNERS
from metalab.models import mlp
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_seeds
from metalab.stats import mean_ci95
from metalab.tasks import Sinusoid
from metalab.training.seeds import meta_training


@dataclass(frozen=True)
class ImportanceConfig:
    """Settings of ``metalab run synapse-importance``."""

    steps: int = 1000
    meta_batch: int = 16
    inner_steps: int = 100
    nudged_steps: int = 50
    inner_lr: float = 0.01
    outer_lr: float = 3e-3
    beta: float = 0.1
    lam: float = 1.0
    """initial consolidation strength"""
    fisher_tasks: int = 200
    """earlier tasks the Fisher information is averaged over"""
    pairs: int = 200
    """held-out (A, B) task pairs of the forgetting test"""
    seeds: int = 3
    """independent meta-trainings, trained together as one vmapped program"""
    log_every: int = 50
    seed: int = 0
    quick: bool = False
    """about 3 minutes on 2 CPU cores"""

    def __post_init__(self) -> None:
        for name in ("steps", "meta_batch", "inner_steps", "nudged_steps", "fisher_tasks",
                     "pairs", "log_every"):
            require(getattr(self, name) >= 1, flag(name), "must be a positive integer")
        for name in ("inner_lr", "outer_lr", "beta", "lam"):
            require(getattr(self, name) > 0, flag(name), "must be positive")
        require(self.seeds >= 2, "--seeds", "need at least 2 for an interval")

    def resolved(self) -> ImportanceConfig:
        """``quick``: 200 meta-steps, shorter phases, fewer evaluation tasks."""
        if not self.quick:
            return self
        return replace(self, quick=False, steps=200, meta_batch=8, inner_steps=50,
                       nudged_steps=25, fisher_tasks=50, pairs=50)


def run(cfg: ImportanceConfig, rundir: RunDir) -> dict[str, float]:
    """Meta-train, correlate lambda with Fisher, measure forgetting; figure and report."""
    learner = LEARNERS["complex-synapse"](mlp((1, 40, 40, 1), "tanh"), cfg.inner_lr,
                                          lam=cfg.lam)
    est = make_estimator("contrastive-symmetric", beta=cfg.beta, lam=cfg.lam,
                         nudged_steps=cfg.nudged_steps, nudged_lr_scale=1.0,
                         truncate=1, task_map="vmap")
    state, failure, _ = train_seeds(
        rundir, "complex-synapse", *meta_training(
            learner, est, optimizer=optax.adam(cfg.outer_lr), tasks=Sinusoid(10, 10),
            meta_batch=cfg.meta_batch, inner_steps=cfg.inner_steps),
        cfg.seeds, seed=cfg.seed, steps=cfg.steps, chunk=cfg.log_every,
        checkpoint_every=cfg.steps, tolerate_divergence=True)
    if state is None:
        rundir.write_report("Learned strengths vs importance", f"Meta-training {failure}.", {})
        return {}
    key = jax.random.PRNGKey(cfg.seed + 10**6)
    k1, k2, k3 = jax.random.split(key, 3)
    held = Sinusoid(10, 50)
    earlier = held.sample(k1, cfg.fisher_tasks)
    pairs = (held.sample(k2, cfg.pairs), held.sample(k3, cfg.pairs))
    out = jax.jit(jax.vmap(lambda m: consolidation(learner, m, earlier, pairs, cfg.inner_steps)))(
        state.meta)
    lam, fish = np.asarray(out["lambda"]), np.asarray(out["fisher"])
    rho = [stats.spearmanr(lam[s], fish[s]).statistic for s in range(cfg.seeds)]
    forget = np.asarray(out["forgetting"])  # [seeds, strengths, 2]
    summary: dict[str, float] = {}
    summary["spearman_lambda_fisher"], summary["spearman_lambda_fisher_ci95"] = \
        mean_ci95(rho)
    summary["lambda_spread_log10"] = float(np.mean(np.log10(lam).std(axis=1)))
    for i, name in enumerate(STRENGTHS):
        for j, what in enumerate(("forgetting", "new_task_mse")):
            summary[f"{name}/{what}"], summary[f"{name}/{what}_ci95"] = \
                mean_ci95(forget[:, i, j])
    ratio = fish.max(axis=1) / fish.mean(axis=1)
    summary["ewc/max_strength"] = float(np.mean(ratio * lam.mean(axis=1)))
    notes = [f"Adaptation with the `{name}` strengths diverged (the new-task MSE is "
             f"{_words(summary[f'{name}/new_task_mse'])}): "
             + ("Fisher information is concentrated on few parameters, so at the same mean "
                f"strength the largest reaches ~{summary['ewc/max_strength']:.3g}, beyond what "
                f"Nesterov SGD at rate {cfg.inner_lr} keeps stable (~2/rate)."
                if name == "ewc" else "the strengths are too large for the inner rate.")
             for name in STRENGTHS
             if not summary[f"{name}/new_task_mse"] < 100 * summary["fixed/new_task_mse"]]
    figure(rundir, lam[0], fish[0], rho, forget)
    rundir.write_summary("synapse-importance", summary)
    what = (
        f"Complex synapse with learned strengths (initial lambda {cfg.lam}) meta-trained by "
        f"the symmetric contrastive rule (beta {cfg.beta}, {cfg.inner_steps} free and "
        f"{cfg.nudged_steps} nudged Nesterov steps at {cfg.inner_lr}) for {cfg.steps} "
        f"meta-steps of {cfg.meta_batch} sinusoid tasks, {cfg.seeds} seeds. Spearman "
        f"correlation of lambda_i with the diagonal Fisher of {cfg.fisher_tasks} earlier tasks "
        f"at their adapted weights; forgetting on {cfg.pairs} held-out (A, B) pairs with the "
        "consolidation anchored at phi_A: learned lambda, one fixed lambda of the same mean, "
        "EWC's Fisher of A scaled to the same mean. Mean and 95% CI over seeds."
    )
    rundir.write_report("Learned strengths vs importance (EWC)", what, summary,
                        sections=["## Diverged\n\n" + "\n".join(notes)] if notes else [])
    return summary


def _words(value: float) -> str:
    return f"{value:.3g}" if np.isfinite(value) else "not finite"


def figure(rundir: RunDir, lam: np.ndarray, fish: np.ndarray, rho: list[float],
           forget: np.ndarray) -> None:
    """Left: lambda_i against Fisher_i (first seed). Right: forgetting and new-task loss."""
    fig, (ax, bx) = subplots(1, 2, figsize=(11, 4.2))
    ax.loglog(fish + 1e-12, lam, ".", ms=3, alpha=0.5)
    ax.set(xlabel="Fisher information of earlier tasks F_i", ylabel="learned lambda_i",
           title=f"Spearman rho = {np.mean(rho):.2f} (mean over seeds)")
    x = np.arange(len(STRENGTHS))
    for j, (what, shift) in enumerate((("forgetting L_A(phi_B) - L_A(phi_A)", -0.15),
                                       ("new-task query MSE L_B(phi_B)", 0.15))):
        vals = forget[:, :, j]
        keep = np.all(np.abs(vals) < 100 * np.abs(forget[:, 1, :]).max(), axis=0)
        half = [mean_ci95(vals[:, i])[1] for i in range(len(STRENGTHS))]
        bx.errorbar((x + shift)[keep], vals.mean(0)[keep], yerr=np.array(half)[keep], fmt="o",
                    capsize=3, label=what)
    bx.set_xticks(x, [n if k else f"{n}\n(diverged)" for n, k in zip(STRENGTHS, keep,
                                                                     strict=True)])
    bx.set(ylabel="MSE", title="Consolidation anchored at task A's solution")
    bx.legend(fontsize=7)
    rundir.save_figure(fig, "importance")


EXPERIMENT = Experiment(
    name="synapse-importance",
    description="learned complex-synapse strengths vs Fisher importance (EWC) and forgetting",
    expected_time="15 min",
    quick_time="3 min",
    config=ImportanceConfig,
    run=run,
    seeding="vmapped",
    smoke=("--steps", "1", "--meta-batch", "1", "--inner-steps", "2", "--nudged-steps", "1",
           "--fisher-tasks", "2", "--pairs", "2", "--seeds", "2", "--log-every", "1"),
    summary_keys=("spearman_lambda_fisher", "spearman_lambda_fisher_ci95",
                  "lambda_spread_log10", "ewc/max_strength",
                  *(f"{m}/{k}" for m in ("learned", "fixed", "ewc") for k in (
                      "forgetting", "forgetting_ci95", "new_task_mse", "new_task_mse_ci95"))),
)
