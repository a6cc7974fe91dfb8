"""The run folder every experiment writes: config, metrics, summary, report, figures, checkpoints.

    config.json     the fully resolved configuration and the environment that ran it
    metrics.jsonl   one JSON object per logged step
    summary.json    {"experiment": name, "metrics": {name: number}, "compile": {...},
                     "claims": [record] (where the run tests a paper's claim)}
    report.md       what ran, the key numbers as a table, the figures
    *.png           figures (or *.pdf, *.svg: ``--figure-format``)
    checkpoints/    one sub-folder per training stage
    INCOMPLETE      present from the start of a run until it finishes (``runs.claim``)
    .lock           held (flock) by the one process writing the folder (``runs.claim``)

On ``--resume`` the metrics already logged are replayed rather than rewritten: each new line
is compared with the next old one and the file is cut at the first difference, and
``rewind`` skips a stage's lines up to its checkpoint; a resumed run therefore ends with the
lines an uninterrupted run writes, in the same order, whatever it logs besides training.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from metalab.atomic import atomic_write
from metalab.errors import BadInput
from metalab.runs import compile_cache
from metalab.runs.environment import describe
from metalab.runs.sinks import Sink
from metalab.training.checkpoint import Checkpointer

FIGURE_FORMATS = ("png", "pdf", "svg")


class RunDir:
    """Writes one run's files; ``resume=True`` reopens an existing folder to continue it."""

    def __init__(self, path: Path | str, resume: bool = False, *,
                 max_loss: float | None = None, sinks: Iterable[Sink] = (),
                 figure_format: str = "png"):
        if figure_format not in FIGURE_FORMATS:
            raise BadInput("--figure-format", f"choose from {', '.join(FIGURE_FORMATS)}, "
                           f"got {figure_format!r}")
        self.path = Path(path)
        self.figure_format = figure_format
        self.sinks = list(sinks)  # extra metric destinations; metrics.jsonl stays the truth
        self.path.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.path / "metrics.jsonl"
        self.resume = resume
        self.max_loss = max_loss  # divergence bound for every training stage
        self.figures: list[str] = []
        compile_cache.listen()
        self._compiled = compile_cache.totals()  # this process's compilations from here on
        self._replay: list[str] | None = None  # old lines while resuming, else None
        self._cursor = 0  # old lines confirmed by the resumed run
        if resume and self.metrics_path.exists():
            self._replay = self.metrics_path.read_text().split("\n")[:-1]  # drops a torn tail
        elif self.metrics_path.exists():
            self.metrics_path.unlink()

    def write_config(self, experiment: str, config: Any) -> None:
        """Write ``config.json``: the experiment name, every resolved field and what ran it
        (``runs.environment``)."""
        payload = {"experiment": experiment, "config": dataclasses.asdict(config)}
        if self.max_loss is not None:
            payload["max_loss"] = self.max_loss
        if self.sinks:
            payload["log"] = [sink.name for sink in self.sinks]
            payload["log_options"] = {s.name: s.options for s in self.sinks if s.options}
        if self.figure_format != "png":
            payload["figure_format"] = self.figure_format
        for sink in self.sinks:
            sink.settings({"experiment": experiment, **payload["config"]})
        payload["environment"] = describe()
        atomic_write(self.path / "config.json", json.dumps(payload, indent=2))

    def checkpointer(self, stage: str) -> Checkpointer:
        """The checkpointer of one training stage (e.g. one method of a comparison)."""
        return Checkpointer(self.path / "checkpoints" / stage)

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl`` (while resuming: confirm the old one)."""
        line = json.dumps(record)
        if self._replay is not None:
            if self._cursor < len(self._replay) and self._replay[self._cursor] == line:
                self._cursor += 1
                return
            self.settle()
        with open(self.metrics_path, "a") as f:
            f.write(line + "\n")
        for sink in self.sinks:
            sink.write(record)

    def logger(self, stage: str) -> Callable[[int, dict[str, float]], None]:
        """A ``log(step, metrics)`` callback tagging each line with ``stage``."""
        return lambda step, metrics: self.log({"stage": stage, "step": step, **metrics})

    def keep_metrics(self, keep: Callable[[dict], bool]) -> None:
        """Rewrite ``metrics.jsonl`` keeping only the lines ``keep`` accepts."""
        self.settle()
        if self.metrics_path.exists():
            kept = [line for line in self._lines() if keep(json.loads(line))]
            atomic_write(self.metrics_path, "".join(line + "\n" for line in kept))

    def rewind(self, stage: str, step: int) -> None:
        """Keep this stage's lines up to ``step`` (the checkpoint a resume starts from); its
        later lines are dropped (while resuming: replayed, kept only if logged again)."""
        if self._replay is None:
            self.keep_metrics(lambda r: r.get("stage") != stage or r.get("step", 0) <= step)
            return
        while self._cursor < len(self._replay):
            record = json.loads(self._replay[self._cursor])
            if record.get("stage") != stage or record.get("step", 0) > step:
                break
            self._cursor += 1

    def settle(self) -> None:
        """End the replay of a resumed run: cut ``metrics.jsonl`` after the confirmed lines."""
        if self._replay is not None:
            confirmed = self._replay[: self._cursor]
            self._replay = None
            atomic_write(self.metrics_path, "".join(line + "\n" for line in confirmed))

    def metrics(self) -> list[dict]:
        """All logged lines."""
        return [json.loads(line) for line in self._lines()]

    def _lines(self) -> list[str]:
        if self._replay is not None:
            return self._replay[: self._cursor]
        if not self.metrics_path.exists():
            return []
        return [x for x in self.metrics_path.read_text().split("\n")[:-1] if x.strip()]

    def save_figure(self, fig: Any, name: str) -> str:
        """Save a figure (``runs.figures.subplots``) as ``name.png`` (or ``.pdf`` / ``.svg``:
        the run's ``--figure-format``); returns the file name."""
        file = f"{name}.{self.figure_format}"
        atomic_write(self.path / file, lambda f: fig.savefig(
            f, format=self.figure_format, dpi=120, bbox_inches="tight"))
        if file not in self.figures:
            self.figures.append(file)
        return file

    def write_summary(self, experiment: str, metrics: dict[str, float | list[float]],
                      claims: Iterable[dict] = (), **labels: str) -> None:
        """Write ``summary.json``; non-finite values (in per-seed lists too) become null;
        ``labels`` (e.g. the data split) are written beside the metrics, under ``compile``
        the seconds compiling (or loading programs) and the cache hits so far, and ``claims``
        (``runs.scoreboard.record_claim``) under ``claims`` when given."""
        clean = {k: [_finite(x) for x in v] if isinstance(v, list) else _finite(v)
                 for k, v in metrics.items()}
        records = list(claims)
        payload = {"experiment": experiment, **labels, "metrics": clean,
                   "compile": compile_cache.since(self._compiled),
                   **({"claims": records} if records else {})}
        atomic_write(self.path / "summary.json", json.dumps(payload, indent=2))

    def write_report(
        self,
        title: str,
        what: str,
        metrics: dict[str, float | list[float]],
        sections: Iterable[str] = (),
    ) -> None:
        """Write ``report.md``: a description, the key numbers as a table, then the figures."""
        rows = "\n".join(f"| `{k}` | {_fmt(v)} |" for k, v in metrics.items())
        figures = "\n\n".join(f"![{f}]({f})" for f in self.figures)
        parts = [f"# {title}", what, "## Key numbers", "| metric | value |\n| --- | --- |\n" + rows]
        parts += list(sections)
        c = compile_cache.since(self._compiled)
        parts += ["## Compilation", f"{c['programs']} programs compiled or loaded in "
                  f"{c['seconds']:.1f} s; {c['cache_hits']} from the persistent compilation "
                  f"cache, {c['cache_writes']} written to it (`metalab cache info`)."]
        if figures:
            parts += ["## Figures", figures]
        atomic_write(self.path / "report.md", "\n\n".join(parts) + "\n")


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(float(v)) else None


def _fmt(v: float | list[float]) -> str:
    if isinstance(v, list):  # per-seed values
        return ", ".join(map(_fmt, v))
    v = float(v)
    return f"{v:.4g}" if math.isfinite(v) else f"not finite ({v})"
