"""The run folder every experiment writes: config, metrics, summary, report, figures, checkpoints.

    config.json     the fully resolved configuration
    metrics.jsonl   one JSON object per logged step
    summary.json    {"experiment": name, "metrics": {name: number}}
    report.md       what ran, the key numbers as a table, the figures
    *.png           figures
    checkpoints/    one sub-folder per training stage
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from metalab.atomic import atomic_write
from metalab.training.checkpoint import Checkpointer


class RunDir:
    """Writes one run's files; ``resume=True`` reopens an existing folder to continue it."""

    def __init__(self, path: Path | str, resume: bool = False):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.path / "metrics.jsonl"
        self.resume = resume
        self.figures: list[str] = []
        if not resume and self.metrics_path.exists():
            self.metrics_path.unlink()

    def write_config(self, experiment: str, config: Any) -> None:
        """Write ``config.json`` with the experiment name and every resolved field."""
        payload = {"experiment": experiment, "config": dataclasses.asdict(config)}
        atomic_write(self.path / "config.json", json.dumps(payload, indent=2))

    def checkpointer(self, stage: str) -> Checkpointer:
        """The checkpointer of one training stage (e.g. one method of a comparison)."""
        return Checkpointer(self.path / "checkpoints" / stage)

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl`` and flush it."""
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def logger(self, stage: str) -> Callable[[int, dict[str, float]], None]:
        """A ``log(step, metrics)`` callback tagging each line with ``stage``."""
        return lambda step, metrics: self.log({"stage": stage, "step": step, **metrics})

    def keep_metrics(self, keep: Callable[[dict], bool]) -> None:
        """Rewrite ``metrics.jsonl`` keeping only the lines ``keep`` accepts (used on resume to
        drop lines logged after the last checkpoint, which will be logged again)."""
        if not self.metrics_path.exists():
            return
        lines = [line for line in self.metrics_path.read_text().splitlines() if line.strip()]
        kept = [line for line in lines if keep(json.loads(line))]
        atomic_write(self.metrics_path, "".join(line + "\n" for line in kept))

    def rewind(self, stage: str, step: int) -> None:
        """Drop this stage's metric lines past ``step`` (the checkpoint a resume starts from)."""
        self.keep_metrics(lambda r: r.get("stage") != stage or r.get("step", 0) <= step)

    def metrics(self) -> list[dict]:
        """All logged lines."""
        if not self.metrics_path.exists():
            return []
        return [json.loads(x) for x in self.metrics_path.read_text().splitlines() if x.strip()]

    def save_figure(self, fig: Any, name: str) -> str:
        """Save a figure (``runs.figures.subplots``) as ``name.png``; returns the file name."""
        file = f"{name}.png"
        fig.savefig(self.path / file, dpi=120, bbox_inches="tight")
        if file not in self.figures:
            self.figures.append(file)
        return file

    def write_summary(self, experiment: str, metrics: dict[str, float]) -> None:
        """Write ``summary.json``; non-finite values become null."""
        clean = {k: (float(v) if math.isfinite(float(v)) else None) for k, v in metrics.items()}
        atomic_write(
            self.path / "summary.json",
            json.dumps({"experiment": experiment, "metrics": clean}, indent=2),
        )

    def write_report(
        self,
        title: str,
        what: str,
        metrics: dict[str, float],
        sections: Iterable[str] = (),
    ) -> None:
        """Write ``report.md``: a description, the key numbers as a table, then the figures."""
        rows = "\n".join(f"| `{k}` | {_fmt(v)} |" for k, v in metrics.items())
        figures = "\n\n".join(f"![{f}]({f})" for f in self.figures)
        parts = [f"# {title}", what, "## Key numbers", "| metric | value |\n| --- | --- |\n" + rows]
        parts += list(sections)
        if figures:
            parts += ["## Figures", figures]
        atomic_write(self.path / "report.md", "\n\n".join(parts) + "\n")


def _fmt(v: float) -> str:
    v = float(v)
    return f"{v:.4g}" if math.isfinite(v) else str(v)

