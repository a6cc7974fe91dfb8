"""Figures of the where-to-learn experiments: the score of every method on every problem, and
the update fractions over meta-training."""

from __future__ import annotations

import numpy as np

from metalab.analysis.sparsity import fraction_curves
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


def comparison(rundir: RunDir, results: dict[str, dict[str, tuple]]) -> None:
    """One panel per problem: held-out MSE after adaptation (sinusoid, lower is better) or test
    accuracy (few-shot, higher is better) per method, mean over seeds with 95% CI bars."""
    fig, axes = subplots(1, len(results), figsize=(4.2 * len(results), 3.6), squeeze=False)
    for ax, (problem, res) in zip(axes[0], results.items(), strict=True):
        methods = list(res)
        values = np.array([res[m][0] for m in methods])
        errors = np.array([res[m][1] for m in methods])
        ax.bar(range(len(methods)), values, yerr=errors, capsize=4,
               color=[f"C{i}" for i in range(len(methods))])
        ax.set_xticks(range(len(methods)), methods, rotation=25, ha="right")
        for i, v in enumerate(values):
            ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 3), textcoords="offset points")
        if problem == "sinusoid":
            ax.set(ylabel="query MSE (95% CI over seeds)", title="sinusoid, K = 10")
        else:
            ax.set(ylabel="test accuracy (95% CI over seeds)", title=f"5-way, {problem}",
                   ylim=(0, min(1.0, float(values.max()) * 1.25 + 0.05)))
    fig.tight_layout()
    rundir.save_figure(fig, "comparison")


def update_fraction_curves(rundir: RunDir) -> None:
    """``update_fraction.png``: per layer of every sparse stage, the fraction of weights the
    inner loop updates over meta-training (mean over the vmapped seeds)."""
    fig = fraction_curves(rundir.metrics())
    if fig is not None:
        rundir.save_figure(fig, "update_fraction")
