"""Where the contrastive rule's error comes from (Zucchet et al. 2022, Theorem 1): on the
complex synapse, the meta-gradient error is O(beta) (one-sided; O(beta^2) symmetric) plus the
free phase's residual delta divided by beta. With a free phase stopped after T steps, too small
a beta amplifies the unconverged phi_0; the best beta grows with the residual (about sqrt(delta)
if the two terms are a beta and delta / beta).

Float64, a tanh MLP on sinusoid tasks, learned strengths. The reference is the implicit
gradient (CG) at a free phase solved to ||grad|| <= ``tol``; the nudged phases are solved to
the same tolerance, so only the free phase's length varies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import numpy as np

from metalab.errors import require
from metalab.estimators import ESTIMATORS
from metalab.estimators.accuracy import contrastive_at_beta, flat_gradient, gradient_accuracy
from metalab.learners import LEARNERS
from metalab.models import mlp
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.progress import progress_bar
from metalab.runs.rundir import RunDir
from metalab.tasks import Sinusoid


@dataclass(frozen=True)
class BetaErrorConfig:
    """Settings of ``metalab run contrastive-beta``."""

    betas: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
    free_steps: tuple[int, ...] = (30, 100, 300, 1000, 3000)
    """free-phase lengths compared"""
    lam: float = 1.0
    inner_lr: float = 0.005
    """Nesterov SGD rate (0.01 oscillates on this problem: the residual does not fall)"""
    tasks: int = 8
    tol: float = 1e-9
    """gradient norm the reference free phase and every nudged phase are solved to"""
    max_steps: int = 20000
    cg_steps: int = 500
    """CG iterations of the reference (20 leave a ~1% error on this ill-conditioned problem)"""
    seed: int = 0
    quick: bool = False
    """five betas, three free-phase lengths"""

    def __post_init__(self) -> None:
        require(len(self.betas) >= 3 and min(self.betas) > 0, "--betas",
                "give at least three positive values")
        require(len(self.free_steps) >= 2 and min(self.free_steps) >= 1, "--free-steps",
                "give at least two positive step counts")
        require(max(self.free_steps) < self.max_steps, "--max-steps",
                "must exceed the longest free phase")
        for name in ("lam", "inner_lr", "tol"):
            require(getattr(self, name) > 0, f"--{name.replace('_', '-')}", "must be positive")
        require(self.tasks >= 1, "--tasks", "must be at least 1")
        require(self.cg_steps >= 1, "--cg-steps", "must be at least 1")

    def resolved(self) -> BetaErrorConfig:
        """``quick``: fewer betas and free-phase lengths."""
        if not self.quick:
            return self
        return replace(self, quick=False, betas=(1e-4, 1e-3, 1e-2, 1e-1, 1.0),
                       free_steps=(30, 300, 3000))


def run(cfg: BetaErrorConfig, rundir: RunDir) -> dict[str, float]:
    """Error of both rules at every (free steps, beta); figures, summary, report."""
    with jax.enable_x64(True):
        return _run(cfg, rundir)


def _run(cfg: BetaErrorConfig, rundir: RunDir) -> dict[str, float]:
    learner = LEARNERS["complex-synapse"](mlp((1, 20, 20, 1), "tanh"), cfg.inner_lr,
                                          lam=cfg.lam)
    meta = learner.init(jax.random.PRNGKey(cfg.seed))
    tasks = Sinusoid(10, 10).sample(jax.random.PRNGKey(cfg.seed + 1), cfg.tasks)

    exact, ref = flat_gradient(ESTIMATORS["implicit"](tol=cfg.tol, solver_steps=cfg.cg_steps),
                               learner, meta, tasks, cfg.max_steps, jax.random.PRNGKey(0))
    errors = np.zeros((2, len(cfg.free_steps), len(cfg.betas)))
    residual = np.zeros(len(cfg.free_steps))
    with progress_bar("beta x free steps", errors.size) as advance:
        for r, symmetric in enumerate((False, True)):
            for i, t in enumerate(cfg.free_steps):
                gradient = contrastive_at_beta(learner, meta, tasks, t, jax.random.PRNGKey(0),
                                               symmetric=symmetric, nudged_steps=cfg.max_steps,
                                               tol=cfg.tol)
                for j, beta in enumerate(cfg.betas):
                    g, metrics = gradient(beta)
                    errors[r, i, j] = gradient_accuracy(g, exact)[1]
                    residual[i] = float(metrics["free_grad_norm"])
                    rundir.log({"symmetric": symmetric, "free_steps": t, "beta": beta,
                                "rel_error": errors[r, i, j],
                                "free_residual": residual[i]})
                    advance(1)

    best = np.array(cfg.betas)[errors[0].argmin(axis=1)]
    summary: dict[str, float] = {"reference/inner_grad_norm": float(ref["inner_grad_norm"]),
                                 "reference/cg_residual": float(ref["solve_residual"])}
    failed = [f"{'symmetric' if r else 'one-sided'}, T = {cfg.free_steps[i]}, beta = "
              f"{cfg.betas[j]:g}" for r, i, j in zip(*np.nonzero(~np.isfinite(errors)),
                                                     strict=True)]
    for i, t in enumerate(cfg.free_steps):
        summary[f"free{t}/residual"] = residual[i]
        summary[f"free{t}/best_beta_one_sided"] = float(best[i])
        summary[f"free{t}/min_rel_error_one_sided"] = float(errors[0, i].min())
        summary[f"free{t}/min_rel_error_symmetric"] = float(errors[1, i].min())
    figure(rundir, cfg, errors, residual, best)
    rundir.write_summary("contrastive-beta", summary)
    what = (
        f"Relative error of the contrastive meta-gradient of a complex synapse (learned "
        f"strengths, lam {cfg.lam}; tanh MLP 1-20-20-1, {cfg.tasks} sinusoid tasks, Nesterov "
        f"SGD at {cfg.inner_lr}, float64) against the implicit gradient at a free phase solved "
        f"to ||grad|| <= {cfg.tol:g}, for free phases of {cfg.free_steps} steps; nudged phases "
        "solved to the same tolerance. `best_beta_one_sided` minimises the one-sided error."
    )
    notes = ["## Diverged\n\nThe estimate was not finite for: " + "; ".join(failed) + ". With "
             "a large beta the -beta phase minimises L_in - beta L_out, which need not be "
             "bounded below."] if failed else []
    rundir.write_report("Contrastive rule: error versus beta and free-phase length", what,
                        summary, sections=notes)
    return summary


def figure(rundir: RunDir, cfg: BetaErrorConfig, errors: np.ndarray, residual: np.ndarray,
           best: np.ndarray) -> None:
    """Left: error vs beta per free-phase length (solid one-sided, dashed symmetric). Right:
    the best one-sided beta vs the free phase's residual gradient norm."""
    fig, (ax, bx) = subplots(1, 2, figsize=(11, 4.2))
    for i, t in enumerate(cfg.free_steps):
        line, = ax.loglog(cfg.betas, errors[0, i], "o-", label=f"T = {t} (one-sided)")
        ax.loglog(cfg.betas, errors[1, i], "s--", color=line.get_color(), alpha=0.6,
                  label=f"T = {t} (symmetric)")
    ax.set(xlabel="beta", ylabel="relative error vs implicit (converged)",
           title="Error = O(beta) + O(residual / beta)")
    ax.legend(fontsize=7)
    bx.loglog(residual, best, "o-")
    for t, r, b in zip(cfg.free_steps, residual, best, strict=True):
        bx.annotate(f"T = {t}", (r, b), fontsize=8)
    bx.set(xlabel="free-phase residual ||grad L_in(phi_0)||", ylabel="best beta (one-sided)",
           title="The best beta grows with the residual")
    rundir.save_figure(fig, "beta_error")


EXPERIMENT = Experiment(
    name="contrastive-beta",
    description="contrastive rule's error vs beta and free-phase length (complex synapse)",
    expected_time="5 min",
    quick_time="2 min",
    config=BetaErrorConfig,
    run=run,
    smoke=("--betas", "0.01", "0.1", "1.0", "--free-steps", "1", "2", "--max-steps", "4",
           "--tasks", "1", "--cg-steps", "2"),
    summary_keys=("reference/inner_grad_norm", "reference/cg_residual", *(
        f"free{t}/{k}" for t in (1, 2) for k in (
            "residual", "best_beta_one_sided", "min_rel_error_one_sided",
            "min_rel_error_symmetric"))),
)
