"""Figures and tables of the contrastive meta-learning experiments."""

from __future__ import annotations

import numpy as np

from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


def _rows(problem: str, summary: dict[str, float]) -> dict[str, dict[str, dict[str, float]]]:
    """{learner: {estimator: {field: value}}} for one problem, from summary keys."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key, value in summary.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[0] == problem:
            out.setdefault(parts[1], {}).setdefault(parts[2], {})[parts[3]] = value
    return out


def _metric(problem: str) -> str:
    return "query_mse" if problem == "sinusoid" else "test_accuracy"


def comparison(rundir: RunDir, problems, summary: dict[str, float]) -> None:
    """Per problem: the score of each estimator (x) for each learner, 95% CI over seeds."""
    fig, axes = subplots(1, len(problems), figsize=(5.5 * len(problems), 4), squeeze=False)
    for ax, problem in zip(axes[0], problems, strict=True):
        rows, metric = _rows(problem, summary), _metric(problem)
        estimators = list(dict.fromkeys(e for r in rows.values() for e in r))
        for i, (learner, by_est) in enumerate(rows.items()):
            x = np.arange(len(estimators)) + 0.12 * (i - (len(rows) - 1) / 2)
            y = [by_est.get(e, {}).get(metric, np.nan) for e in estimators]
            err = [by_est.get(e, {}).get(f"{metric}_ci95", np.nan) for e in estimators]
            ax.errorbar(x, y, yerr=err, fmt="o", capsize=3, label=learner)
        ax.set_xticks(np.arange(len(estimators)), estimators, rotation=30, ha="right")
        ax.set(title=problem, ylabel="held-out query MSE" if problem == "sinusoid"
               else "test accuracy (1-shot)")
        if problem == "sinusoid":
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle("Mean over seeds with 95% CI; missing points diverged", y=1.04)
    rundir.save_figure(fig, "comparison")


def training(rundir: RunDir, problems) -> None:
    """Meta-training loss (mean over seeds) per learner and estimator, one panel per problem."""
    fig, axes = subplots(1, len(problems), figsize=(5.5 * len(problems), 4), squeeze=False)
    curves: dict[str, list[tuple[int, float]]] = {}
    for r in rundir.metrics():
        if "loss" in r and "stage" in r:
            curves.setdefault(r["stage"], []).append((r["step"], r["loss"]))
    for ax, problem in zip(axes[0], problems, strict=True):
        for stage, points in curves.items():
            if stage.split(".")[0] == problem:
                steps, losses = zip(*points, strict=True)
                ax.plot(steps, losses, label=stage.split(".", 1)[1], lw=1)
        ax.set(title=problem, xlabel="meta-step", ylabel="query loss after adaptation",
               yscale="log")
        ax.legend(fontsize=6)
    rundir.save_figure(fig, "training_curves")


def table(problems, summary: dict[str, float]) -> str:
    """A markdown table: score with CI, ms per meta-step and temp memory per estimator (and
    the untrained initialisation's score, the floor)."""
    lines = ["## Results", "",
             "| problem | learner | estimator | score (95% CI over seeds) | ms / meta-step "
             "| XLA temp MiB |", "| --- | --- | --- | ---: | ---: | ---: |"]
    for problem in problems:
        metric = _metric(problem)
        for learner, by_est in _rows(problem, summary).items():
            for est, f in by_est.items():
                score = (f"{f[metric]:.4g} ± {f[f'{metric}_ci95']:.2g}" if metric in f
                         else "diverged")
                cost = (" | |" if est == "untrained" else
                        f" {f['ms_per_meta_step']:.1f} | {f['xla_temp_mb']:.1f} |")
                lines.append(f"| {problem} | {learner} | {est} | {score} |{cost}")
    return "\n".join(lines)


def hyper(rundir: RunDir, results: dict[str, list[tuple[float, float]]]) -> None:
    """Test accuracy after retraining and validation loss per estimator (and the baselines),
    every seed as a dot, the mean as a bar."""
    fig, axes = subplots(1, 2, figsize=(11, 4))
    names = list(results)
    for ax, col, label in ((axes[0], 1, "test accuracy (retrained on train + validation)"),
                           (axes[1], 0, "validation CE at the inner solution")):
        values = [np.array([r[col] for r in results[n]]) for n in names]
        ax.bar(np.arange(len(names)), [v.mean() for v in values], color="lightgray")
        for i, v in enumerate(values):
            ax.plot(np.full(len(v), i), v, "k.", ms=6)
        ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
        ax.set(ylabel=label)
        low = min(v.min() for v in values)
        high = max(v.max() for v in values)
        ax.set_ylim(low - 0.1 * (high - low + 1e-9), high + 0.1 * (high - low + 1e-9))
    fig.suptitle("Per-parameter L2 strengths learned by each estimator (dots: seeds)")
    rundir.save_figure(fig, "hyperparameters")
