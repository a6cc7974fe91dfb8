"""Meta-training curves from a run folder's ``metrics.jsonl``, shared by the experiments."""

from __future__ import annotations

import numpy as np

from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir


def training_curves(rundir: RunDir,
                    ylabel: str = "query MSE after adaptation (train batch)") -> None:
    """Meta-training loss per stage, from ``metrics.jsonl`` (shared by the experiments)."""
    fig, ax = subplots(figsize=(6, 4))
    stages: dict[str, list[tuple[int, float]]] = {}
    for r in rundir.metrics():
        if "loss" in r:
            stages.setdefault(r["stage"], []).append((r["step"], r["loss"]))
    for stage, points in stages.items():
        steps, losses = zip(*points, strict=True)
        ax.plot(steps, losses, label=stage)
    ax.set(xlabel="meta-step", ylabel=ylabel, yscale="log")
    ax.set_title("Meta-training")
    ax.legend()
    rundir.save_figure(fig, "training_curves")


def stage_curve(rundir: RunDir, stage: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one column of one stage, from ``metrics.jsonl``; empty if none."""
    rows = [(r["step"], r[column]) for r in rundir.metrics() if r.get("stage") == stage]
    if not rows:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*rows, strict=True)
    return np.asarray(steps), np.asarray(values)
