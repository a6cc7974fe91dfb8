"""How accurate is each meta-gradient estimator? Cosine similarity and relative error against the
exact meta-gradient, versus the contrastive rule's beta and versus the number of inner steps.

Every estimator targets the same meta-objective, the query loss at the minimiser of iMAML's
proximal inner problem L_s(phi) + lam/2 ||phi - theta||^2: implicit and contrastive solve it
themselves; the unrolled estimators (backprop, truncated, first-order, Reptile, evolution)
drive the learner ``with_proximal`` gives, whose inner loop descends it, so as T grows
backprop converges to the exact gradient. Two problems:

* linear regression (``estimators.closed_form``): the exact meta-gradient in closed form;
* sinusoid regression with an MLP (Finn et al. 2017): the reference is backprop through a long
  unroll (``reference_steps`` steps, checkpointed), which has converged to the minimiser.

Everything runs in float64 so that the O(beta^2) error of the symmetric rule is visible down
to beta = 1e-3 (float32 rounding divided by beta would swamp it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import optax

from metalab.errors import flag, require, require_fields
from metalab.estimators import ESTIMATORS, Estimator
from metalab.estimators.accuracy import (
    accuracy_over_steps,
    contrastive_error_over_beta,
    log_slope,
    proximal_estimators,
    proximal_gradient,
)
from metalab.estimators.closed_form import LinearTasks, exact_meta_gradient, linear_model
from metalab.learners import LEARNERS, Learner
from metalab.models import mlp
from metalab.runs.experiment import Experiment
from metalab.runs.progress import progress_bar
from metalab.runs.rundir import RunDir
from metalab.tasks import Sinusoid


@dataclass(frozen=True)
class EstimatorAccuracyConfig:
    """Settings of ``metalab run estimator-accuracy``."""

    estimators: tuple[str, ...] = ()
    """estimators compared over inner steps (default: every registered one that drives MAML)"""
    lam: float = 1.0
    """proximal strength of the inner problem (iMAML's lambda)"""
    betas: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
    """nudging strengths of the contrastive sweep (the slope is fitted over all of them)"""
    beta: float = 0.01
    """the contrastive estimators' beta in the sweeps over inner steps"""
    linear_steps: tuple[int, ...] = (1, 10, 100, 1000)
    """inner steps compared on linear regression"""
    linear_dim: int = 8
    linear_lr: float = 0.1
    sinusoid_steps: tuple[int, ...] = (10, 30, 100, 300)
    """inner steps compared on sinusoid regression"""
    sinusoid_lr: float = 0.01
    sinusoid_lam: float = 5.0
    """proximal strength on sinusoids (strong enough for the inner problem to converge)"""
    hidden: tuple[int, ...] = (40, 40)
    activation: Literal["tanh", "relu", "gelu"] = "tanh"
    """MLP activation on sinusoids (with relu the inner problem is not smooth and gradient
    descent does not settle, so implicit and contrastive estimates lose their footing)"""
    reference_steps: int = 2000
    """inner steps of the long-unroll backprop reference on sinusoids"""
    summary_steps: int = 100
    """inner steps at which ``<estimator>/cosine_to_exact`` is reported (linear problem);
    sinusoid numbers are reported at the largest ``--sinusoid-steps``"""
    tasks: int = 25
    """tasks per meta-batch (the gradient compared is the batch mean)"""
    population: int = 64
    """antithetic pairs of the evolution-strategies estimator"""
    sigma: float = 1e-3
    seed: int = 0
    quick: bool = False
    """fewer steps and tasks (about 1 minute on 2 CPU cores)"""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.estimators) - set(ESTIMATORS))
        require(not unknown, "--estimators", f"unknown {unknown}; choose from "
                f"{', '.join(ESTIMATORS)}")
        require_fields(self, positive=("lam", "sinusoid_lam"))
        require(len(self.betas) >= 2 and all(b > 0 for b in self.betas), "--betas",
                "give at least two positive values")
        require(self.beta > 0, "--beta", "must be positive")
        for name in ("linear_steps", "sinusoid_steps"):
            require(len(getattr(self, name)) > 0 and min(getattr(self, name)) >= 1,
                    flag(name), "give inner step counts >= 1")
        require(self.summary_steps in self.linear_steps, "--summary-steps",
                "must be one of --linear-steps")
        require(self.reference_steps >= max(self.sinusoid_steps), "--reference-steps",
                "must be at least the largest --sinusoid-steps")
        require_fields(self, positive_int=("linear_dim", "tasks", "population"))
        require_fields(self, positive=("linear_lr", "sinusoid_lr", "sigma"))
        require(all(h > 0 for h in self.hidden), "--hidden", "layer widths must be positive")

    def resolved(self) -> EstimatorAccuracyConfig:
        """``quick``: fewer betas, step counts and tasks, a shorter reference."""
        if not self.quick:
            return self
        return replace(self, betas=(1e-3, 1e-2, 1e-1), linear_steps=(1, 10, 100),
                       sinusoid_steps=(10, 100), reference_steps=1000, tasks=8,
                       population=16, summary_steps=100, quick=False)


def estimators(cfg: EstimatorAccuracyConfig, lr: float, lam: float,
               learner: Learner) -> dict[str, Estimator]:
    """Every registered estimator that can drive ``learner`` made proximal, at this
    experiment's shared settings (``--estimators`` when given)."""
    return proximal_estimators(learner, lam, {
        "implicit": {"lam": lam},
        "implicit-neumann": {"lam": lam, "alpha": lr},
        "contrastive": {"lam": lam, "beta": cfg.beta},
        "contrastive-symmetric": {"lam": lam, "beta": cfg.beta},
        "evolution": {"population": cfg.population, "sigma": cfg.sigma},
    }, cfg.estimators)


def run(cfg: EstimatorAccuracyConfig, rundir: RunDir) -> dict[str, float]:
    """Both problems, both sweeps, in float64; figures, summary and report."""
    with jax.enable_x64(True):
        return _run(cfg, rundir)


def _run(cfg: EstimatorAccuracyConfig, rundir: RunDir) -> dict[str, float]:
    from metalab.experiments.estimators import plots

    key = jax.random.PRNGKey(cfg.seed)
    k_lin, k_sin, k_init, k_est = jax.random.split(key, 4)
    lin_learner = LEARNERS["maml"](linear_model(cfg.linear_dim), cfg.linear_lr)
    lin_meta = lin_learner.init(k_init)
    lin_tasks = LinearTasks(dim=cfg.linear_dim).sample(k_lin, cfg.tasks)
    lin_exact = exact_meta_gradient(lin_meta["init"]["w"], lin_tasks, cfg.lam).ravel()
    sin_learner = LEARNERS["maml"](mlp((1, *cfg.hidden, 1), cfg.activation), cfg.sinusoid_lr)
    sin_meta = sin_learner.init(k_init)
    sin_tasks = Sinusoid(10, 10).sample(k_sin, cfg.tasks)
    lin_ests = estimators(cfg, cfg.linear_lr, cfg.lam, lin_learner)
    sin_ests = estimators(cfg, cfg.sinusoid_lr, cfg.sinusoid_lam, sin_learner)
    t_sin = max(cfg.sinusoid_steps)
    total = len(lin_ests) * (len(cfg.linear_steps) + len(cfg.sinusoid_steps))
    with progress_bar("estimator accuracy", total + 4 * len(cfg.betas) + 1) as advance:
        sin_ref = proximal_gradient(ESTIMATORS["backprop-remat"](), sin_learner, cfg.sinusoid_lam,
                           sin_meta, sin_tasks, cfg.reference_steps, k_est)
        advance(1)
        # solved to a tolerance with heavy-ball momentum 0.5, so small beta sees a converged
        # free phase
        heavy_ball = LEARNERS["maml"](linear_model(cfg.linear_dim), cfg.linear_lr,
                                      inner_opt=optax.trace(decay=0.5))
        lin_beta = contrastive_error_over_beta(cfg.betas, cfg.lam, heavy_ball, lin_meta,
                                               lin_tasks, lin_exact, 20000, k_est, 1e-12,
                                               advance)
        sin_beta = contrastive_error_over_beta(cfg.betas, cfg.sinusoid_lam, sin_learner,
                                               sin_meta, sin_tasks, sin_ref, t_sin, k_est, 0.0,
                                               advance)
        lin = accuracy_over_steps(lin_ests, lin_learner, cfg.lam, lin_meta, lin_tasks,
                                  lin_exact, cfg.linear_steps, k_est, advance)
        sin = accuracy_over_steps(sin_ests, sin_learner, cfg.sinusoid_lam, sin_meta, sin_tasks,
                                  sin_ref, cfg.sinusoid_steps, k_est, advance)

    for problem, results, steps in (("linear", lin, cfg.linear_steps),
                                    ("sinusoid", sin, cfg.sinusoid_steps)):
        for name, rows in results.items():
            for t, (cos, err) in zip(steps, rows, strict=True):
                rundir.log({"problem": problem, "estimator": name, "inner_steps": t,
                            "cosine": cos, "rel_error": err})
    for problem, sweep in (("linear", lin_beta), ("sinusoid", sin_beta)):
        for name, errors in sweep.items():
            for beta, err in zip(cfg.betas, errors, strict=True):
                rundir.log({"problem": problem, "estimator": name, "beta": beta,
                            "rel_error": float(err)})
    summary: dict[str, float] = {}
    for name, errors in lin_beta.items():
        summary[f"{_key(name)}/slope_beta"] = log_slope(cfg.betas, errors)
        summary[f"{_key(name)}/rel_error_beta{cfg.betas[0]:.0e}"] = float(errors[0])
    i_lin, i_sin = cfg.linear_steps.index(cfg.summary_steps), cfg.sinusoid_steps.index(t_sin)
    for name in lin_ests:
        summary[f"{_key(name)}/cosine_to_exact"] = float(lin[name][i_lin, 0])
        summary[f"{_key(name)}/rel_error_to_exact"] = float(lin[name][i_lin, 1])
    for name in sin_ests:
        summary[f"sinusoid/{_key(name)}/cosine_to_reference"] = float(sin[name][i_sin, 0])
        summary[f"sinusoid/{_key(name)}/rel_error_to_reference"] = float(sin[name][i_sin, 1])

    plots.versus_beta(rundir, cfg.betas, lin_beta, sin_beta, t_sin)
    plots.versus_steps(rundir, "linear_vs_steps", "linear regression (exact gradient)",
                       cfg.linear_steps, lin)
    plots.versus_steps(rundir, "sinusoid_vs_steps",
                       f"sinusoid MLP (reference: backprop, {cfg.reference_steps} steps)",
                       cfg.sinusoid_steps, sin)
    rundir.write_summary("estimator-accuracy", summary)
    what = (
        f"Meta-gradient estimators against the exact meta-gradient of the proximal "
        f"meta-objective, on linear regression (dim {cfg.linear_dim}, lam = {cfg.lam}, inner "
        f"lr {cfg.linear_lr}, closed form) and sinusoid regression ({cfg.activation} MLP "
        f"{cfg.hidden}, lam = {cfg.sinusoid_lam}, inner lr {cfg.sinusoid_lr}, reference: "
        f"backprop through {cfg.reference_steps} inner steps), meta-batch {cfg.tasks}, float64. "
        f"Contrastive slopes are fitted over beta in {cfg.betas[0]:g}..{cfg.betas[-1]:g} with "
        f"converged inner solves; the step sweeps use beta = {cfg.beta}, ES with "
        f"{cfg.population} antithetic pairs and sigma = {cfg.sigma}. Linear-problem numbers "
        f"are at {cfg.summary_steps} inner steps, sinusoid numbers at {t_sin}."
    )
    rundir.write_report("Meta-gradient estimator accuracy", what, summary)
    return summary


def _key(name: str) -> str:
    return name.replace("-", "_")


EXPERIMENT = Experiment(
    name="estimator-accuracy",
    description="meta-gradient estimators vs the exact gradient: error vs beta and inner steps",
    expected_time="7 min",
    quick_time="1.5 min",  # 84 s on 2 idle cores, cold compile cache (126 programs, 65 s compiling)
    config=EstimatorAccuracyConfig,
    run=run,
    smoke=("--estimators", "backprop", "implicit", "--betas", "0.01", "0.1", "--linear-steps",
           "1", "2", "--summary-steps", "2", "--sinusoid-steps", "2", "--reference-steps", "4",
           "--tasks", "2", "--population", "2", "--hidden", "4", "--linear-dim", "2"),
    summary_keys=("contrastive/slope_beta", "contrastive/rel_error_beta1e-02",
                  "contrastive_symmetric/slope_beta", "backprop/cosine_to_exact",
                  "implicit/rel_error_to_exact", "sinusoid/backprop/cosine_to_reference",
                  "sinusoid/implicit/rel_error_to_reference"),
)
