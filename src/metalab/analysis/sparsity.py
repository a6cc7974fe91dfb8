"""Where the inner loop learns: per-layer update fractions during meta-training and the final
mask pattern of each layer (the analyses of von Oswald et al. 2021, figs. 2-4), for any
learner with ``sparse-updates``. The figures are ``matplotlib.figure.Figure`` objects, drawn
without pyplot, for the caller to save."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from metalab.estimators.base import Estimator
from metalab.learners.base import SPARSE_UPDATES, Learner
from metalab.learners.sparse import layer_names, update_fractions, update_gate

PREFIX = "update_fraction/"


def track_sparsity(estimator: Estimator, learner: Learner) -> Estimator:
    """``estimator`` that also reports ``update_fraction/<layer>`` of the current meta-params
    (before this step's update) for sparse learners, so they land in ``metrics.jsonl`` (the
    mean over seeds where seeds are vmapped)."""

    def estimate(lrn, meta, tasks, key, inner_steps):
        loss, grad, metrics = estimator.estimate(lrn, meta, tasks, key, inner_steps)
        if SPARSE_UPDATES in learner.properties:
            fractions = update_fractions(update_gate(learner, meta))
            metrics = {**metrics, **{PREFIX + n: f for n, f in fractions.items()}}
        return loss, grad, metrics

    return estimator._replace(estimate=estimate)


def mean_fractions(learner: Learner, metas: list) -> dict[str, float]:
    """Per tensor, the fraction of weights the inner loop updates, averaged over seeds."""
    per_seed = [update_fractions(update_gate(learner, m)) for m in metas]
    return {k: float(np.mean([f[k] for f in per_seed])) for k in per_seed[0]}


def switched_off(rates: Any) -> dict[str, float]:
    """Per tensor (``layer0.w``, ...) and over every rate (``all``), the fraction of per-weight
    rates at or below zero: the weights sparse-ReLU-MAML's inner loop leaves unchanged, or
    that Meta-SGD moves against its gradient (von Oswald et al. 2021, fig. 4)."""
    leaves = [np.asarray(r) for r in jax.tree.leaves(rates)]
    out = {n: float((r <= 0).mean()) for n, r in zip(layer_names(rates), leaves, strict=True)}
    out["all"] = float(sum((r <= 0).sum() for r in leaves) / sum(r.size for r in leaves))
    return out


def fraction_curves(records: Iterable[dict[str, Any]]) -> Figure | None:
    """Per-layer fraction of weights the inner loop updates versus meta-step, one panel per
    stage of the metrics ``records`` that logged ``update_fraction/<layer>`` (None if none)."""
    series: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for r in records:
        for k, v in r.items():
            if k.startswith(PREFIX):
                series.setdefault(r["stage"], {}).setdefault(k[len(PREFIX):], []).append(
                    (r["step"], v))
    if not series:
        return None
    fig = Figure(figsize=(5 * len(series), 3.6))
    axes = fig.subplots(1, len(series), squeeze=False)
    for ax, (stage, layers) in zip(axes[0], series.items(), strict=True):
        colors = colormaps["tab20"](np.arange(len(layers)) % 20)
        for color, (layer, points) in zip(colors, layers.items(), strict=True):
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, label=layer, color=color)
        ax.set(xlabel="meta-step", ylabel="fraction of weights updated", ylim=(-0.02, 1.02),
               title=stage)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def mask_figure(gate: Any, title: str) -> Figure:
    """Each tensor's 0/1 update gate as an image (white: updated by the inner loop).

    Matrices are shown as [in, out], conv kernels as [in * kh * kw, out], vectors as one row.
    """
    leaves = jax.tree.leaves(gate)
    cols = min(len(leaves), 6)
    rows = -(-len(leaves) // cols)
    fig = Figure(figsize=(2.2 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(leaves):]:
        ax.axis("off")
    for ax, layer, g in zip(axes.flat, layer_names(gate), leaves, strict=False):
        g = np.asarray(g)
        image = g.reshape(1, -1) if g.ndim <= 1 else g.reshape(-1, g.shape[-1])
        ax.imshow(image, cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_title(f"{layer}\n{g.mean():.0%} updated", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return fig
