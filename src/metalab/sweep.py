"""``metalab sweep NAME --set OPTION=V1,V2 [--set ...] [--seeds N]``: a grid of runs.

Every point of the grid (the product of the ``--set`` values, other options shared) is a
complete run folder under ``points/`` of the sweep folder, named by its values, trained with
``--seeds`` seeds (``runs.seeds``). Every point's configuration is built and validated before
anything is written. The sweep folder holds ``sweep.json`` (what was asked), ``results.csv``
and ``results.md`` (one row per point: swept values, then every summary metric) and one
figure per summary metric against each swept option (error bars are the 95% CI over seeds).
``--resume DIR`` keeps the finished points and resumes the unfinished one from its
checkpoints. A point that diverges is reported in the table's ``diverged`` column (what and
at which meta-step) and the sweep goes on with the next.

Options an experiment lists in ``Experiment.traced`` are numbers inside its compiled
meta-step (today: sinusoid's ``inner-lr``, ``outer-lr``, ``mask-lr``): points that differ
only in those form a group trained as one vmapped program by ``Experiment.run_points``
(training in the sweep folder, evaluation in each point's folder). Every other swept option
(widths, step counts, methods) changes the program, so its values compile and run one after
the other, as do all points of experiments without ``run_points``.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metalab.atomic import atomic_write
from metalab.errors import BadInput, Diverged
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.progress import watch_interrupts
from metalab.runs.rundir import RunDir
from metalab.runs.seeds import run_seeds, run_sub, scalars, with_seeds

Point = dict[str, str]  # option -> value, as given on the command line


def parse_sets(sets: list[str]) -> dict[str, list[str]]:
    """``["lr=0.1,0.01", ...]`` -> ``{"lr": ["0.1", "0.01"]}`` (option names as typed, with
    ``-`` or ``_``); ``BadInput`` on a malformed or repeated option."""
    grid: dict[str, list[str]] = {}
    for item in sets:
        name, sep, values = item.partition("=")
        name = name.strip().lstrip("-").replace("_", "-")
        if not sep or not name or not all(v.strip() for v in values.split(",")):
            raise BadInput("--set", f"{item!r} is not OPTION=V1,V2,...; e.g. --set "
                           "inner-lr=0.01,0.1")
        if name in grid:
            raise BadInput("--set", f"option {name!r} is set twice; give all its values in "
                           "one --set")
        grid[name] = [v.strip() for v in values.split(",")]
    if not grid:
        raise BadInput("--set", "give at least one --set OPTION=V1,V2,...")
    return grid


def points(grid: dict[str, list[str]]) -> list[Point]:
    """Every combination of the grid's values, the last option varying fastest."""
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


def point_name(point: Point) -> str:
    """Folder name of a point, e.g. ``inner-lr=0.01,steps=100`` (unsafe characters -> ``_``)."""
    return ",".join(re.sub(r"[^\w.+=-]", "_", f"{k}={v}") for k, v in point.items())


def build_config(experiment: Experiment, base: list[str], point: Point) -> Any:
    """The resolved configuration of one point: the shared options, then the point's values
    (a value with spaces is several tokens, e.g. ``--set "hidden=40 40,80 80"``)."""
    import tyro

    argv = list(base)
    for name, value in point.items():
        argv += [f"--{name}", *value.split()]
    return tyro.cli(experiment.config, args=argv,
                    prog=f"metalab sweep {experiment.name}").resolved()


def run_sweep(experiment: Experiment, spec: dict[str, Any], rundir: RunDir) -> list[dict]:
    """Run (or finish) every point of ``spec`` into ``rundir``; write the tables and figures.
    Returns one row per point: its values, then its scalar summary metrics."""
    grid, seeds = spec["grid"], spec["seeds"]
    configs = [with_seeds(experiment, build_config(experiment, spec["base"], p), seeds)
               for p in points(grid)]
    atomic_write(rundir.path / "sweep.json", json.dumps(spec, indent=2))
    grid_points = points(grid)
    summaries: dict[int, dict] = {}

    def finish(i: int, body: Callable[[RunDir], dict]) -> dict:
        start, name = time.perf_counter(), point_name(grid_points[i])
        try:
            summary = run_sub(experiment, configs[i], rundir.path / "points" / name, rundir,
                              body)
        except Diverged as e:
            print(f"{name}: diverged ({e.what} at meta-step {e.step})", flush=True)
            return {"diverged": f"{e.what} at meta-step {e.step}"}
        print(f"{name}: done ({time.perf_counter() - start:.0f} s)", flush=True)
        return summary

    for group, members in vmapped_groups(experiment, grid).items():
        try:
            found = experiment.run_points(
                [configs[i] for i in members], seeds, rundir, group,
                lambda k, body, members=members: finish(members[k], body))
        except Diverged as e:  # one member's divergence stops the shared program
            print(f"group {group}: a member diverged ({e.what} at meta-step {e.step}); "
                  "training its points one by one", flush=True)
            continue
        summaries.update(zip(members, found, strict=True))
    for i, config in enumerate(configs):
        if i not in summaries:
            summaries[i] = finish(i, lambda sub, c=config: run_seeds(experiment, c, sub, seeds))
    rows = [{**point, **scalars(summaries[i])} for i, point in enumerate(grid_points)]
    write_tables(rundir.path, rows, list(grid))
    for metric in _metrics(rows, list(grid)):
        _figure(rundir, rows, grid, metric)
    return rows


def vmapped_groups(experiment: Experiment, grid: dict[str, list[str]]) -> dict[str, list[int]]:
    """Indices of the points (in ``points(grid)`` order) trained together as one vmapped
    program, by group name (the values of the swept options that are not traced, or
    ``all``); empty when the experiment cannot vmap any swept option."""
    traced = [o for o in grid if o in experiment.traced]
    if experiment.run_points is None or not traced:
        return {}
    groups: dict[str, list[int]] = {}
    for i, point in enumerate(points(grid)):
        fixed = {o: v for o, v in point.items() if o not in traced}
        groups.setdefault(point_name(fixed) if fixed else "all", []).append(i)
    return groups


def write_tables(folder: Path, rows: list[dict], options: list[str]) -> None:
    """``results.csv`` and ``results.md``: one row per point, the swept options first."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(folder / "results.csv", buffer.getvalue())
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    atomic_write(folder / "results.md", "\n".join(lines) + "\n")


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else "" if value is None else str(value)


def _metrics(rows: list[dict], options: list[str]) -> list[str]:
    """Summary metrics every point that did not diverge has (not the CI columns, which
    become error bars)."""
    done = [r for r in rows if "diverged" not in r]
    names = [k for k in (done[0] if done else {}) if k not in options
             and not k.endswith("/ci95")]
    return [k for k in names if all(isinstance(r.get(k), float) for r in done)]


def _figure(rundir: RunDir, rows: list[dict], grid: dict[str, list[str]], metric: str) -> None:
    """``metric`` against each swept option (one panel each; one line per combination of the
    other options' values; error bars: 95% CI over seeds where there are several)."""
    options = list(grid)
    fig, axes = subplots(1, len(options), figsize=(4.5 * len(options), 3.6), squeeze=False)
    for ax, option in zip(axes[0], options, strict=True):
        values = grid[option]
        numeric = all(_is_number(v) for v in values)
        xs = [float(v) for v in values] if numeric else list(range(len(values)))
        others = [o for o in options if o != option]
        for combo in itertools.product(*(grid[o] for o in others)):
            fixed = dict(zip(others, combo, strict=True))
            line = [next(r for r in rows if r[option] == v
                         and all(r[o] == fixed[o] for o in others)) for v in values]
            ys = [r.get(metric, np.nan) for r in line]  # a diverged point has none
            err = [r.get(f"{metric}/ci95", 0.0) or 0.0 for r in line]
            label = ", ".join(f"{k}={v}" for k, v in fixed.items()) or None
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=label)
        if numeric and min(xs) > 0 and max(xs) / min(xs) >= 100:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(xs, values)
        ax.set(xlabel=option, ylabel=metric)
        if others:
            ax.legend(fontsize=7)
    fig.suptitle(f"{rundir.path.name}: {metric}")
    rundir.save_figure(fig, "sweep-" + re.sub(r"[^\w.+-]", "_", metric))


def _is_number(text: str) -> bool:
    try:
        return np.isfinite(float(text))
    except ValueError:
        return False


def main(name: str, argv: list[str]) -> int:
    """``metalab sweep NAME ...``: parse, validate every point, claim the folder, run."""
    from metalab.experiments import EXPERIMENTS, load_plugins
    from metalab.runs.claim import MARKER, finished, open_run
    from metalab.training import compile_level
    from metalab.training.threads import check_platform, use_cpu_threads

    load_plugins()
    experiment = EXPERIMENTS[name]
    front = argparse.ArgumentParser(prog=f"metalab sweep {name}", add_help=False)
    front.add_argument("--set", action="append", default=[], dest="sets")
    front.add_argument("--seeds", type=int, default=1)
    front.add_argument("--out", type=Path, default=None)
    front.add_argument("--resume", type=Path, default=None)
    opts, rest = front.parse_known_args(argv)
    if opts.resume is not None:
        if opts.sets or rest or opts.seeds != 1:
            raise BadInput("--resume", "takes the sweep from its folder; pass no other options")
        spec = _saved_spec(opts.resume, name)
        out = opts.resume
        if finished(out):
            print(f"{out} holds a finished sweep (results.md, no {MARKER}); nothing to "
                  "resume, nothing written")
            return 0
    else:
        if opts.seeds < 1:
            raise BadInput("--seeds", "must be at least 1")
        spec = {"experiment": name, "grid": parse_sets(opts.sets), "base": rest,
                "seeds": opts.seeds}
        out = opts.out or Path("runs") / f"sweep-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    # a quick sweep compiles at the quick level, like `metalab run NAME --quick`
    compile_level.request(compile_level.QUICK if "--quick" in spec["base"] else None)
    use_cpu_threads(small=experiment.small)
    check_platform()
    for point in points(spec["grid"]):  # every point valid before anything is written
        config = with_seeds(experiment, build_config(experiment, spec["base"], point),
                            spec["seeds"])
        if experiment.check is not None:
            experiment.check(config)
    start = time.perf_counter()
    try:
        with watch_interrupts(), open_run(out, resume=opts.resume is not None) as rundir:
            rows = run_sweep(experiment, spec, rundir)
    except KeyboardInterrupt as e:
        raise KeyboardInterrupt(str(out)) from e  # the folder to resume
    diverged = sum("diverged" in r for r in rows)
    print(f"{len(rows)} points in {time.perf_counter() - start:.0f} s"
          + (f" ({diverged} diverged: see the 'diverged' column)" if diverged else "")
          + f"; table: {(out / 'results.md').resolve()}")
    return 0


def _saved_spec(folder: Path, name: str) -> dict[str, Any]:
    """The ``sweep.json`` of the sweep being resumed (``BadInput`` if absent or another's)."""
    path = folder / "sweep.json"
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise BadInput("--resume", f"{path} is missing or unreadable ({e}); give the folder "
                       "of a metalab sweep") from e
    if spec.get("experiment") != name:
        raise BadInput("--resume", f"{folder} is a sweep of {spec.get('experiment')!r}, not "
                       f"{name!r}")
    return spec
