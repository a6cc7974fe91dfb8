"""``metalab run NAME --seeds N``: one experiment over N seeds, summarised as mean and 95% CI.

How is the experiment's declaration, ``Experiment.seeding``:

- **"vmapped"**: the configuration's own ``seeds`` option, set by ``--seeds N``; the
  experiment trains every seed as one compiled program through ``runs.stage.train_seeds``
  (e.g. contrastive, where-to-learn, vsml) and reports its own confidence intervals.
- **"loop"**: the configuration's own ``seeds`` option as well, but the experiment runs its
  seeds one after another, for the reason ``Experiment.seeding_reason`` gives.
- **"folders"** (no ``seeds`` option of its own): an experiment with ``run_points``
  (sinusoid) trains its seeds as one program per method, as a sweep trains one point's
  seeds; one run folder, with each seed's training loss logged as ``loss/seed<i>``. Any
  other runs once per seed ``seed, seed + 1, ...`` in the sub-folders ``seed-<s>/`` (each a
  complete run folder), one after the other in this process. The top folder then holds
  ``summary.json`` with, for every summary metric, the mean over seeds as ``<metric>``, the
  Student-t half-width as ``<metric>/ci95`` and the per-seed values as ``<metric>/seeds``, a
  report, and the training curves of every stage as the mean over seeds with a 95% band. A
  resumed run keeps the finished seeds and resumes the unfinished one from its checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metalab.atomic import atomic_write
from metalab.errors import BadInput
from metalab.runs.claim import MARKER
from metalab.runs.compare import curves, read_records
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.stats import mean_ci95

Summary = dict[str, Any]  # metric -> float, or list of floats for "<metric>/seeds"


@dataclasses.dataclass(frozen=True)
class SeedOptions:
    """``--seeds`` of ``metalab run`` for experiments without a seed axis of their own."""

    seeds: int = 1
    """Run N seeds (seed, seed+1, ...): trained as one vmapped program in this folder where
    the experiment can (sinusoid), else one run folder per seed, one after the other; summary:
    the mean as <metric>, <metric>/ci95, <metric>/seeds."""


def parse_seeds(experiment: Experiment, argv: list[str],
                resume: Path | None) -> tuple[int, list[str]]:
    """(seed count, other arguments) of ``metalab run``: ``--seeds N`` for an experiment
    without its own ``seeds`` option (1 if absent), or the count a resumed folder holds."""
    import tyro

    if own_seeds(experiment):
        return 1, argv
    opts, rest = tyro.cli(SeedOptions, args=argv, prog=f"metalab run {experiment.name}",
                          return_unknown_args=True)
    if resume is not None:
        if opts.seeds != 1:
            raise BadInput("--seeds", "is not given with --resume: the run folder holds it")
        return recorded_seeds(resume), rest
    if opts.seeds < 1:
        raise BadInput("--seeds", "must be at least 1")
    return opts.seeds, rest


def own_seeds(experiment: Experiment) -> bool:
    """True when the experiment runs its seeds itself (``--seeds`` is its own option)."""
    return experiment.seeding != "folders"


def run_seeds(experiment: Experiment, config: Any, rundir: RunDir, seeds: int) -> Summary:
    """Run ``experiment`` over ``seeds`` seeds into ``rundir`` (``config`` from
    ``with_seeds``); returns the summary."""
    if seeds == 1 or own_seeds(experiment):
        return experiment.run(config, rundir)
    if experiment.run_points is not None:  # as one point of a sweep: its seeds vmapped

        def finish(_: int, write: Callable[[RunDir], Summary]) -> Summary:
            _band_figure(rundir, _seed_columns(rundir, seeds))
            return write(rundir)

        return experiment.run_points([config], seeds, rundir, "seeds", finish)[0]
    summaries = [_one_seed(experiment, config, rundir, i) for i in range(seeds)]
    summary = aggregate(summaries)
    rundir.write_summary(experiment.name, summary)
    folders = [f"seed-{i}" for i in range(seeds)]
    _band_figure(rundir, [_curves(rundir.path / f) for f in folders])
    _report(rundir, experiment, config, summary, folders)
    return summary


def aggregate(summaries: list[dict[str, float]]) -> Summary:
    """Mean, ``/ci95`` and ``/seeds`` of every metric present in all ``summaries``."""
    out: Summary = {}
    for key in (k for k in summaries[0] if all(k in s for s in summaries)):
        values = [float(s[key]) for s in summaries]
        finite = [v for v in values if math.isfinite(v)]
        mean, ci = mean_ci95(finite) if len(finite) == len(values) else (math.nan, math.nan)
        out[key], out[f"{key}/ci95"], out[f"{key}/seeds"] = mean, ci, values
    return out


def scalars(summary: Summary) -> dict[str, float]:
    """The summary without its per-seed lists (what a table of numbers shows)."""
    return {k: v for k, v in summary.items() if not isinstance(v, list)}


def with_seeds(experiment: Experiment, config: Any, seeds: int) -> Any:
    """The configuration to record and run: ``seeds`` set on an experiment's own ``seeds``
    option (so ``config.json`` holds it), unchanged otherwise."""
    if seeds > 1 and not any(f.name == "seed" for f in dataclasses.fields(config)):
        raise BadInput("--seeds", f"{experiment.name} has no --seed option to vary; run it "
                       "without --seeds")
    return dataclasses.replace(config, seeds=seeds) if own_seeds(experiment) else config


def run_sub(experiment: Experiment, config: Any, folder: Path, parent: RunDir,
            body: Callable[[RunDir], Summary] | None = None) -> Summary:
    """A complete run folder inside ``parent`` (a seed, a sweep point): its summary if it
    finished before, else run ``body`` (default ``experiment.run(config, .)``), resuming its
    checkpoints; an ``INCOMPLETE`` marker stays there until it finishes."""
    marker, summary_path = folder / MARKER, folder / "summary.json"
    if summary_path.exists() and not marker.exists():
        return json.loads(summary_path.read_text())["metrics"]
    resume = folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    marker.touch()
    sub = RunDir(folder, resume=resume, max_loss=parent.max_loss,
                 figure_format=parent.figure_format)
    sub.write_config(experiment.name, config)
    summary = body(sub) if body is not None else experiment.run(config, sub)
    marker.unlink()
    return summary


def _one_seed(experiment: Experiment, config: Any, rundir: RunDir, i: int) -> dict[str, float]:
    """Seed ``config.seed + i`` in ``seed-<i>/``."""
    return run_sub(experiment, dataclasses.replace(config, seed=config.seed + i),
                   rundir.path / f"seed-{i}", rundir)


def _curves(folder: Path) -> dict[str, dict[int, float]]:
    """Per stage, the logged training loss by meta-step, from ``metrics.jsonl``."""
    losses = curves(read_records(folder)).get("loss", {})
    return {stage: dict(points) for stage, points in losses.items() if stage}


def _seed_columns(rundir: RunDir, seeds: int) -> list[dict[str, dict[int, float]]]:
    """Per seed, per stage, the loss by meta-step from the ``loss/seed<i>`` columns that a
    vmapped-seeds run logs."""
    per_seed: list[dict[str, dict[int, float]]] = [{} for _ in range(seeds)]
    for r in rundir.metrics():
        for i in range(seeds):
            if f"loss/seed{i}" in r:
                per_seed[i].setdefault(r["stage"], {})[r["step"]] = r[f"loss/seed{i}"]
    return per_seed


def _band_figure(rundir: RunDir, per_seed: list[dict[str, dict[int, float]]]) -> None:
    """Training loss of every stage: mean over seeds and its 95% band (steps all seeds log)."""
    stages = [s for s in per_seed[0] if all(s in c for c in per_seed)]
    if not stages:
        return
    fig, ax = subplots(figsize=(6, 4))
    for stage in stages:
        steps = sorted(set.intersection(*(set(c[stage]) for c in per_seed)))
        stats = np.array([mean_ci95([c[stage][s] for c in per_seed]) for s in steps])
        ax.plot(steps, stats[:, 0], label=stage)
        ax.fill_between(steps, stats[:, 0] - stats[:, 1], stats[:, 0] + stats[:, 1], alpha=0.25)
    ax.set(xlabel="meta-step", ylabel="training loss", yscale="log")
    ax.set_title(f"Meta-training, mean and 95% CI over {len(per_seed)} seeds")
    ax.legend()
    rundir.save_figure(fig, "training_curves_seeds")


def _report(rundir: RunDir, experiment: Experiment, config: Any, summary: Summary,
            folders: list[str]) -> None:
    """``report.md``: mean +- 95% CI and per-seed values of every metric, links, figure."""
    rows = "\n".join(
        f"| `{k}` | {v:.4g} | {summary[f'{k}/ci95']:.3g} | "
        f"{', '.join(f'{x:.4g}' for x in summary[f'{k}/seeds'])} |"
        for k, v in summary.items() if not k.endswith(("/ci95", "/seeds")))
    links = ", ".join(f"[{f}]({f}/report.md)" for f in folders)
    figures = "\n\n".join(f"![{f}]({f})" for f in rundir.figures)
    text = (f"# {experiment.name} over {len(folders)} seeds\n\n{experiment.description}. "
            f"Seeds {config.seed} to {config.seed + len(folders) - 1}, run one after the "
            f"other (this experiment has no seed axis of its own); each seed's run folder: "
            f"{links}.\n\n| metric | mean | 95% CI +- | per seed |\n| --- | --- | --- | --- |\n"
            f"{rows}\n\n{figures}\n")
    atomic_write(rundir.path / "report.md", text)


def record_seeds(rundir: RunDir, seeds: int) -> None:
    """Add ``"seeds": N`` to the run's ``config.json`` so ``--resume`` runs the same seeds."""
    path = rundir.path / "config.json"
    payload = json.loads(path.read_text())
    atomic_write(path, json.dumps({**payload, "seeds": seeds}, indent=2))


def recorded_seeds(folder: Path) -> int:
    """The seed count a run folder was started with (1 when it was not given or the folder
    holds no readable ``config.json``, which resume refuses anyway)."""
    try:
        return int(json.loads((folder / "config.json").read_text()).get("seeds", 1))
    except (OSError, ValueError, AttributeError):
        return 1
