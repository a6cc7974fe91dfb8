"""Figures of the VS-ML experiments: generalisation matrix, learning curves, introspection."""

from __future__ import annotations

import jax
import numpy as np

from metalab.learners.online import OnlineLearner
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.tasks.families import Family
from metalab.tasks.online import draw_stream, stream_classes
from metalab.vsml.introspect import weight_changes
from metalab.vsml.layer import Rule


def generalisation_matrix(rundir: RunDir, matrix: np.ndarray, rows: tuple[str, ...],
                          cols: tuple[str, ...], floor: list[float]) -> None:
    """Online accuracy of the rule meta-trained on each row family, learning each column
    family's held-out streams; each cell shows the accuracy and its excess over the column's
    floor (the label-frequency predictor's accuracy, or chance without it)."""
    excess = matrix - np.asarray(floor)[None]
    fig, ax = subplots(figsize=(1.2 * len(cols) + 2.5, 0.7 * len(rows) + 2))
    image = ax.imshow(excess, cmap="viridis", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, f"{matrix[i, j]:.2f}\n({excess[i, j]:+.2f})", ha="center",
                    va="center", fontsize=8, color="w" if excess[i, j] < excess.max() / 2
                    else "k")
    ax.set_xticks(range(len(cols)), [f"{c}\nfloor {p:.2f}" for c, p in zip(cols, floor,
                                                                             strict=True)],
                  fontsize=8)
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel="evaluated on (held-out streams)", ylabel="meta-trained on")
    ax.set_title("VS-ML online accuracy (above the label-frequency floor)")
    fig.colorbar(image, ax=ax, label="accuracy - floor")
    rundir.save_figure(fig, "generalisation_matrix")


def learning_curves(rundir: RunDir, curves: dict[str, dict[str, np.ndarray]],
                    chance: list[float], window: int = 20) -> None:
    """Accuracy over the stream (moving average of ``window`` steps; mean over seeds and
    streams, band: SEM over seeds) of every learner on every family."""
    families = list(next(iter(curves.values())))
    cols = min(4, len(families))
    rows = -(-len(families) // cols)
    fig, axes = subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    kernel = np.ones(window) / window
    for k, fam in enumerate(families):
        ax = axes[k // cols, k % cols]
        for name, per_family in curves.items():
            per_seed = per_family[fam].mean(1)  # [seeds, steps]
            smooth = np.stack([np.convolve(s, kernel, mode="valid") for s in per_seed])
            steps = np.arange(smooth.shape[1]) + window
            mean = smooth.mean(0)
            sem = smooth.std(0, ddof=1) / np.sqrt(len(smooth)) if len(smooth) > 1 else 0 * mean
            ax.plot(steps, mean, label=name, lw=2 if name == "vsml" else 1)
            ax.fill_between(steps, mean - sem, mean + sem, alpha=0.2)
        ax.axhline(chance[k], color="k", ls=":", lw=1)
        ax.set_title(fam)
        ax.set(xlabel="example in stream", ylabel="online accuracy")
    for k in range(len(families), rows * cols):
        axes[k // cols, k % cols].axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Online learning on held-out streams (moving average of {window})")
    fig.tight_layout()
    rundir.save_figure(fig, "learning_curves")


def introspection(rundir: RunDir, learner: OnlineLearner, rule: Rule, family: Family, cfg,
                  trained_on: str, streams: int = 8, bins: int = 15) -> None:
    """Mean change of the effective weight (``vsml.introspect``) binned by pre-synaptic input
    x_i and error e_j, for the rule of seed 0, next to gradient descent's -x_i e_j."""
    classes = stream_classes(family, cfg.n_classes)

    def one(k):
        k_s, k_0 = jax.random.split(k)
        stream = draw_stream(family, k_s, cfg.eval_steps, classes, cfg.n_in)
        return weight_changes(learner, rule, k_0, stream, classes)

    x, e, dw = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(7), streams))
    x = np.broadcast_to(np.asarray(x)[..., :, None], dw.shape).ravel()
    e = np.broadcast_to(np.asarray(e)[..., None, :], dw.shape).ravel()
    dw = np.asarray(dw).ravel()
    x_edges = np.quantile(x, np.linspace(0.01, 0.99, bins + 1))
    e_edges = np.linspace(-1.0, 1.0, bins + 1)
    total, _, _ = np.histogram2d(x, e, (x_edges, e_edges), weights=dw)
    count, _, _ = np.histogram2d(x, e, (x_edges, e_edges))
    learned = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    xc, ec = (x_edges[1:] + x_edges[:-1]) / 2, (e_edges[1:] + e_edges[:-1]) / 2
    gradient = -xc[:, None] * ec[None]
    corr = float(np.corrcoef(dw, -x * e)[0, 1])
    fig, axes = subplots(1, 2, figsize=(10, 4))
    extent = (e_edges[0], e_edges[-1], x_edges[0], x_edges[-1])
    for ax, grid, title in ((axes[0], learned, f"learned rule (trained on {trained_on})"),
                            (axes[1], gradient, "gradient descent: -x e")):
        lim = np.nanmax(np.abs(grid))
        image = ax.imshow(grid, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r",
                          vmin=-lim, vmax=lim)
        ax.set(xlabel="error e_j = softmax(y)_j - onehot_j", ylabel="pre-synaptic input x_i",
               title=title)
        fig.colorbar(image, ax=ax, label="mean change of effective weight")
    fig.suptitle(f"Weight updates on {family.name} streams; corr(dw, -x e) = {corr:.2f}")
    fig.tight_layout()
    rundir.save_figure(fig, "introspection")
