"""``metalab compare RUN...``: several run folders side by side.

Reads each run's ``config.json``, ``summary.json`` and ``metrics.jsonl`` (a folder holding run
folders, such as a sweep, stands for every run under it) and writes to the output folder:
``compare.md`` (the settings that differ and the summary metrics, one column per run),
``summary.csv`` and one PNG per training metric overlaying every run's curve per stage.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from metalab.atomic import atomic_write
from metalab.errors import BadInput
from metalab.runs.figures import subplots


@dataclass(frozen=True)
class Run:
    """What ``compare`` reads from one run folder."""

    label: str
    experiment: str
    config: dict
    summary: dict[str, float | None]
    metrics: list[dict]


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders (holding ``config.json``) among ``paths`` and their sub-folders, in order;
    ``BadInput`` naming a path that holds none."""
    runs: list[Path] = []
    for path in paths:
        if (path / "config.json").is_file():
            runs.append(path)
            continue
        found = sorted(p.parent for p in path.rglob("config.json")) if path.is_dir() else []
        if not found:
            raise BadInput("RUN", f"{path} is not a run folder and holds none (no config.json); "
                           "give folders written by metalab run or metalab sweep")
        runs += found
    if len(runs) < 1:
        raise BadInput("RUN", "give at least one run folder")
    return runs


def read_run(path: Path, label: str) -> Run:
    """One run's configuration, summary and metric records; ``BadInput`` if unreadable."""
    try:
        config = json.loads((path / "config.json").read_text())
        summary_file = path / "summary.json"
        summary = json.loads(summary_file.read_text())["metrics"] if summary_file.exists() else {}
        metrics = read_records(path)
    except (ValueError, KeyError, TypeError) as e:
        raise BadInput("RUN", f"{path} holds an unreadable run file ({e}); give run folders "
                       "written by metalab") from e
    return Run(label, str(config.get("experiment", "?")), config.get("config", {}),
               summary, metrics)


def labels(paths: list[Path]) -> list[str]:
    """Short distinct labels: the folder names, else with the parent's name, else numbered."""
    for names in ([p.name for p in paths], [f"{p.parent.name}/{p.name}" for p in paths]):
        if len(set(names)) == len(names):
            return names
    return [f"{i}:{p.name}" for i, p in enumerate(paths, 1)]


def differing_settings(runs: list[Run]) -> list[str]:
    """Configuration fields whose values are not the same in every run."""
    keys = sorted({k for r in runs for k in r.config})
    return [k for k in keys if len({json.dumps(r.config.get(k)) for r in runs}) > 1]


def read_records(folder: Path) -> list[dict]:
    """The records of a run folder's ``metrics.jsonl`` (none if it has no such file)."""
    path = folder / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def curves(records: list[dict]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """``metric -> stage -> [(step, value)]`` of the finite numeric entries of records."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for r in records:
        if not isinstance(r.get("step"), (int, float)):
            continue
        for key, value in r.items():
            if key in ("stage", "step") or isinstance(value, bool) \
                    or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            out.setdefault(key, {}).setdefault(str(r.get("stage", "")), []).append(
                (r["step"], value))
    return out


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def markdown(runs: list[Run], figures: list[str]) -> str:
    """The comparison page: settings that differ, then summary metrics, then figures."""
    head = "| | " + " | ".join(r.label for r in runs) + " |\n|" + "---|" * (len(runs) + 1) + "\n"
    experiments = "| experiment | " + " | ".join(r.experiment for r in runs) + " |\n"
    settings = "".join(f"| `{k}` | " + " | ".join(_cell(r.config.get(k)) for r in runs) + " |\n"
                       for k in differing_settings(runs))
    keys = list(dict.fromkeys(k for r in runs for k in r.summary))
    metrics = "".join(f"| `{k}` | " + " | ".join(_cell(r.summary.get(k)) for r in runs) + " |\n"
                      for k in keys)
    parts = [f"# Comparison of {len(runs)} runs", "## Settings that differ",
             head + experiments + settings, "## Summary metrics",
             head + metrics if keys else "No run has a summary yet (unfinished runs)."]
    if figures:
        parts += ["## Training curves", "\n\n".join(f"![{f}]({f})" for f in figures)]
    return "\n\n".join(parts) + "\n"


def summary_csv(runs: list[Run]) -> str:
    """One row per run: its label, experiment and every summary metric."""
    keys = list(dict.fromkeys(k for r in runs for k in r.summary))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["run", "experiment", *keys])
    for r in runs:
        writer.writerow([r.label, r.experiment, *("" if r.summary.get(k) is None
                                                  else r.summary[k] for k in keys)])
    return buffer.getvalue()


def compare(paths: list[Path], out: Path) -> list[Run]:
    """Write the comparison of the runs under ``paths`` into ``out``; returns the runs read."""
    folders = find_runs(paths)
    runs = [read_run(p, label) for p, label in zip(folders, labels(folders), strict=True)]
    out.mkdir(parents=True, exist_ok=True)
    per_run = [curves(r.metrics) for r in runs]
    figures = []
    for metric in dict.fromkeys(m for c in per_run for m in c):
        fig, ax = subplots(figsize=(6.5, 4))
        for run, c in zip(runs, per_run, strict=True):
            for stage, points in c.get(metric, {}).items():
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, label=f"{run.label} {stage}".strip())
        ax.set(xlabel="step", ylabel=metric, title=metric)
        ax.legend(fontsize=7)
        name = "curve_" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in metric)
        atomic_write(out / f"{name}.png",
                     lambda f, fig=fig: fig.savefig(f, format="png", dpi=110,
                                                    bbox_inches="tight"))
        figures.append(f"{name}.png")
    atomic_write(out / "summary.csv", summary_csv(runs))
    atomic_write(out / "compare.md", markdown(runs, figures))
    return runs
