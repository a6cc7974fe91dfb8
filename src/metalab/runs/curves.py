"""Meta-training curves from a run folder's ``metrics.jsonl``, shared by the experiments."""

from __future__ import annotations

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
