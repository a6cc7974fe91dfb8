"""Claims of "Learning where to learn" (Zhao, von Oswald et al. 2021) decided from paired
seeds: ``sparse-maml-over-maml`` (where-to-learn), ``less-interference`` (continual),
``patterned-sparsity`` and ``initial-sparsity`` (where-to-learn-controls)."""

from __future__ import annotations

from typing import Any

import numpy as np

from metalab.analysis.paired import paired
from metalab.runs.scoreboard import record_claim, regime

PAPER = "Zhao, von Oswald et al. 2021 (learning where to learn)"
SPARSE = ("sparse-maml", "sparse-relu-maml")


def over_maml_claims(per_seed: dict[str, dict[str, list[float]]], config: Any) -> list[dict]:
    """``sparse-maml-over-maml/<problem>/<method>``: each sparse method's score minus MAML's
    on the same held-out tasks, from the same seeds (``per_seed[problem][method]``), Student-t
    over seeds; query MSE on sinusoid (lower is better), test accuracy on few-shot problems."""
    claims = []
    for problem, methods in per_seed.items():
        sinusoid = problem == "sinusoid"
        for method in (m for m in SPARSE if m in methods and "maml" in methods):
            a, b = methods[method], methods["maml"]
            claims.append(record_claim(
                f"sparse-maml-over-maml/{problem}/{method}",
                paired(a, b, direction="less" if sinusoid else "greater"), paper=PAPER,
                claim=f"{method} generalises better than MAML",
                metric=("query MSE on held-out tasks" if sinusoid else
                        "test accuracy on held-out episodes") + f" ({problem}), {method} - maml",
                regime=regime(config), means=(sum(a) / len(a), sum(b) / len(b))))
    return claims


def interference_claims(per_seed: dict[str, dict[str, list[float]]], stream: str,
                        config: Any) -> list[dict]:
    """``less-interference/<stream>/<method>/<metric>``: each sparse method minus MAML in
    forgetting and the end-of-stream score (``retained_mse`` or ``retained_accuracy``), on the
    same held-out streams from the same seeds (``per_seed[metric][method]``), Student-t over
    seeds."""
    claims = []
    for metric, methods in per_seed.items():
        lower = metric != "retained_accuracy"  # forgetting and MSE: lower is better
        for method in (m for m in SPARSE if m in methods and "maml" in methods):
            a, b = methods[method], methods["maml"]
            claims.append(record_claim(
                f"less-interference/{stream}/{method}/{metric}",
                paired(a, b, direction="less" if lower else "greater"), paper=PAPER,
                claim=f"{method} interferes less than MAML in continual learning",
                metric=f"{metric.replace('_', ' ')} on the held-out {stream} streams, "
                       f"{method} - maml", regime=regime(config),
                means=(sum(a) / len(a), sum(b) / len(b))))
    return claims


def controls_claims(rows: dict[str, list[float]], random_masks: int,
                    fractions: tuple[float, ...], config: Any) -> list[dict]:
    """The claims of ``where-to-learn-controls`` from its per-seed ``rows``, Student-t over
    seeds. ``patterned-sparsity``: target query MSE with the mask sparse-MAML learned on
    sinusoids minus with random masks of exactly its per-tensor counts (each seed's mean over
    its ``random_masks``): which weights learn matters, not only how many.
    ``initial-sparsity/level``: how far apart the final plastic fractions of the sparsest and
    the densest start end, minus how far apart they started (below 0: the mask moves towards
    a level of its own); ``initial-sparsity/mse``: sinusoid query MSE of the sparsest start
    minus the densest (below 0: starting sparse generalises better). Empty where the sweep
    has fewer than two fractions."""
    transferred = rows["transferred mask"]
    seeds = len(transferred)
    random = np.asarray(rows["random masks, same per-tensor sparsity"]).reshape(
        random_masks, seeds).mean(axis=0)
    claims = [record_claim(
        "patterned-sparsity", paired(transferred, random, direction="less"), paper=PAPER,
        claim="sparse-MAML learns which weights to adapt, not only how many",
        metric="target query MSE, mask learned on sinusoids - random masks of its per-tensor "
               "counts (Fourier series)", regime=regime(config),
        means=(float(np.mean(transferred)), float(random.mean())))]
    if len(fractions) < 2:
        return claims
    lo, hi = f"sweep {min(fractions):g}", f"sweep {max(fractions):g}"
    spread = np.subtract(rows[f"{hi} final fraction"], rows[f"{lo} final fraction"])
    start = max(fractions) - min(fractions)
    claims.append(record_claim(
        "initial-sparsity/level", paired(spread, np.full(seeds, start), direction="less"),
        paper=PAPER, claim="the learned mask settles at a sparsity of its own, not its start",
        metric=f"final plastic fraction, start {max(fractions):g} - start {min(fractions):g}, "
               "minus the same difference at the start", regime=regime(config),
        means=(float(spread.mean()), start)))
    claims.append(record_claim(
        "initial-sparsity/mse", paired(rows[lo], rows[hi], direction="less"), paper=PAPER,
        claim="starting sparse generalises better than starting dense",
        metric=f"sinusoid query MSE, initial plastic fraction {min(fractions):g} - "
               f"{max(fractions):g}", regime=regime(config),
        means=(float(np.mean(rows[lo])), float(np.mean(rows[hi])))))
    return claims
