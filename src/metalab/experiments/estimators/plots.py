"""Figures of the estimator-accuracy experiment: error versus beta and versus inner steps."""

from __future__ import annotations

import numpy as np

from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


def versus_beta(rundir: RunDir, betas, linear: dict, sinusoid: dict, steps: int) -> None:
    """Relative error of the contrastive rules versus beta (log-log), with fitted slopes."""
    fig, axes = subplots(1, 2, figsize=(10, 4))
    b = np.asarray(betas)
    titles = ("linear regression, converged inner solves",
              f"sinusoid MLP, {steps} inner steps per phase")
    for ax, data, title in zip(axes, (linear, sinusoid), titles, strict=True):
        for name, errors in data.items():
            fit = np.polyfit(np.log(b), np.log(errors), 1)[0]
            ax.loglog(b, errors, "o-", label=f"{name} (slope {fit:.2f})")
        ref = data["contrastive"][-1]
        ax.loglog(b, ref * b / b[-1], "k:", lw=1, label="O(beta)")
        ax.loglog(b, ref * (b / b[-1]) ** 2, "k--", lw=1, label="O(beta^2)")
        ax.set(xlabel="beta", ylabel="relative error to exact meta-gradient", title=title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    rundir.save_figure(fig, "contrastive_vs_beta")


def versus_steps(rundir: RunDir, name: str, title: str, steps, results: dict) -> None:
    """Cosine similarity and relative error of every estimator versus inner steps."""
    fig, (ax_cos, ax_err) = subplots(1, 2, figsize=(12, 4.5))
    styles = ["o-", "s-", "^-", "v-", "D-", "x-", "+-", "*-", "<-", ">-", "p-"]
    for style, (est, rows) in zip(styles * 2, results.items(), strict=False):
        ax_cos.semilogx(steps, rows[:, 0], style, label=est)
        ax_err.loglog(steps, rows[:, 1], style, label=est)
    ax_cos.set(xlabel="inner steps T", ylabel="cosine similarity", ylim=(-0.1, 1.05),
               title=title)
    ax_err.set(xlabel="inner steps T", ylabel="relative error", title=title)
    ax_err.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    rundir.save_figure(fig, name)
