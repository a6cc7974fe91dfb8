"""Figures of the few-shot classification experiment: training curve, sample episodes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from metalab.evaluation import adapt
from metalab.learners.base import Learner, Meta
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.tasks.base import Task


def sample_episodes(rundir: RunDir, learner: Learner, meta: Meta, tasks: Task,
                    steps: int, n_query: int = 10) -> None:
    """Per held-out episode: the support images (one row, labelled) and the first queries
    with their predicted labels (green if right, red if wrong)."""
    n = tasks.support_x.shape[0]
    n_support = tasks.support_x.shape[1]
    cols = max(n_support, n_query)
    fig, axes = subplots(2 * n, cols, figsize=(cols * 0.9, 2 * n * 1.0), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    preds = np.asarray(jax.jit(jax.vmap(lambda t: jnp.argmax(
        learner.predict(meta, adapt(learner, meta, t, steps), t.query_x), -1)))(tasks))
    for e in range(n):
        task = Task(*(a[e] for a in tasks))
        pred = preds[e]
        for j in range(n_support):
            ax = axes[2 * e, j]
            ax.imshow(np.asarray(task.support_x[j, :, :, 0]), cmap="gray_r")
            ax.set_title(f"{int(task.support_y[j])}", fontsize=8)
        order = np.linspace(0, len(pred) - 1, min(n_query, len(pred))).astype(int)
        for j, q in enumerate(order):
            ax = axes[2 * e + 1, j]
            ax.imshow(np.asarray(task.query_x[q, :, :, 0]), cmap="gray_r")
            right = pred[q] == int(task.query_y[q])
            ax.set_title(f"{pred[q]}", fontsize=8, color="green" if right else "red")
        axes[2 * e, 0].text(-0.3, 0.5, f"ep {e}\nsupport", transform=axes[2 * e, 0].transAxes,
                            ha="right", va="center", fontsize=8)
        axes[2 * e + 1, 0].text(-0.3, 0.5, "query\n(pred.)",
                                transform=axes[2 * e + 1, 0].transAxes, ha="right",
                                va="center", fontsize=8)
    fig.suptitle("Held-out episodes: support labels; query predictions (green right, red "
                 "wrong)", fontsize=9)
    rundir.save_figure(fig, "sample_episodes")
