"""Claims of "Learning where to learn" (Zhao, von Oswald et al. 2021) decided from paired
seeds: ``sparse-maml-over-maml`` (where-to-learn) and ``less-interference`` (continual)."""

from __future__ import annotations

from typing import Any

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
