"""Figures of the sinusoid experiment: training curves, adaptation curves, example fits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from metalab.learners import trajectory
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.tasks.sinusoid import function


def adaptation_curves(rundir: RunDir, curves: dict[str, np.ndarray]) -> None:
    """Held-out query MSE versus inner steps, mean and standard error over tasks. The y-axis
    stops at twice the worst step-0 error, so a method whose adaptation diverges (marked in
    the legend) does not hide the others."""
    fig, ax = subplots(figsize=(6, 4))
    top = 2 * max(float(c[:, 0].mean()) for c in curves.values())
    for method, c in curves.items():
        with np.errstate(over="ignore", invalid="ignore"):  # diverged: marked in the legend
            mean = c.mean(0)
            sem = c.std(0, ddof=1) / np.sqrt(len(c))
        steps = np.arange(len(mean))
        bad = ~np.isfinite(mean) | (mean > top)
        label = method if not bad.any() else f"{method} (diverges from step {np.argmax(bad)})"
        ax.plot(steps, mean, marker="o", label=label)
        ax.fill_between(steps, mean - sem, mean + sem, alpha=0.2)
    ax.set(xlabel="inner gradient steps on K support points", ylabel="held-out query MSE",
           yscale="log", ylim=(None, top))
    ax.set_title(f"Adaptation on {len(next(iter(curves.values())))} held-out tasks")
    ax.legend()
    rundir.save_figure(fig, "adaptation_curves")


def _clip_to_truth(ax, truth: np.ndarray, preds: dict[int, np.ndarray]) -> None:
    """Keep the panel on the true function's range; a prediction that leaves it by far (a
    learned rate that diverges over more steps than it was trained for) is named in words."""
    span = float(np.ptp(truth))
    far = {t: float(np.max(np.abs(y))) for t, y in preds.items()
           if not np.all(np.abs(y) < 10 * (span + 1.0))}
    near = [truth, *(y for t, y in preds.items() if t not in far)]
    lo, hi = min(float(y.min()) for y in near), max(float(y.max()) for y in near)
    ax.set_ylim(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
    if far:
        ax.text(0.02, 0.03, "; ".join(
            f"{t} steps: diverged (max |y| {m:.1e})" if np.isfinite(m) else
            f"{t} steps: diverged (non-finite)" for t, m in far.items()),
            transform=ax.transAxes, fontsize=7, color="C3")


def example_fits(rundir, cfg, learners, metas, tasks, amp, phase, n_tasks: int = 3) -> None:
    """For three held-out tasks: the true function, the support points, and each method's
    prediction before adaptation and after 1 and 10 inner steps."""
    grid = jnp.linspace(-5.0, 5.0, 200)[:, None]
    marks = (0, 1, 10)
    support = (tasks.support_x[:n_tasks], tasks.support_y[:n_tasks])
    preds = {}
    for method, meta in metas.items():
        learner = learners[method]

        def fits(sx, sy, learner=learner, meta=meta):
            return trajectory(learner, meta, sx, sy, max(marks),
                              lambda phi: learner.predict(meta, phi, grid))

        preds[method] = np.asarray(jax.jit(jax.vmap(fits))(*support))  # [task, step, grid, 1]
    truth = np.asarray(function(amp[:n_tasks], phase[:n_tasks], jnp.broadcast_to(
        grid, (n_tasks, *grid.shape))))
    methods = list(metas)
    fig, axes = subplots(n_tasks, len(methods), figsize=(3.2 * len(methods), 2.6 * n_tasks),
                             squeeze=False, sharex=True)
    for i in range(n_tasks):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            ax.plot(grid[:, 0], truth[i, :, 0], "k-", lw=2, label="true")
            ax.scatter(support[0][i, :, 0], support[1][i, :, 0], c="k", marker="^", zorder=3,
                       label="support")
            for t, style in zip(marks, (":", "--", "-"), strict=True):
                ax.plot(grid[:, 0], preds[method][i, t, :, 0], style, label=f"{t} steps")
            _clip_to_truth(ax, truth[i, :, 0], {t: preds[method][i, t, :, 0] for t in marks})
            if i == 0:
                ax.set_title(method)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Held-out tasks, K = {cfg.k_shot}")
    fig.tight_layout()
    rundir.save_figure(fig, "example_fits")
