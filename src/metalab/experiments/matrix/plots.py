"""The matrix's figure (score against ms per meta-step, one marker per pair, one panel per
problem) and its report sections (the table, the unsupported pairs, diverged pairs)."""

from __future__ import annotations

import math

from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from metalab.runs.figures import colormap, subplots
from metalab.runs.rundir import RunDir

MARKERS = "osD^v<>pPX*h"


def _colour_index(i: int) -> int:
    """tab20's dark shades first, then the light ones, so few estimators differ clearly."""
    return (2 * i) % 20 + (2 * i) // 20 % 2


def _cell(row: dict) -> str:
    """Score ± CI, or what went wrong in words."""
    if "score" in row:
        return f"{row['score']:.4g} ± {row['ci95']:.2g}"
    return row["status"]


def _num(value: float, digits: str) -> str:
    return "n/a" if not math.isfinite(value) else format(value, digits)


def table(results: dict[str, dict]) -> str:
    """One row per pair run: learner, estimator, problem, score ± CI, cost columns; each
    problem's rows best score first, pairs that failed last."""
    lines = ["| learner | estimator | problem | score ± 95% CI | ms / meta-step | temp MiB "
             "| compile s |", "| --- | --- | --- | --- | ---: | ---: | ---: |"]
    for problem, result in results.items():
        sign = -1 if result["setup"].higher_is_better else 1
        rows = sorted(result["rows"], key=lambda r: (
            "score" not in r, sign * r.get("score", 0.0), r["learner"], r["estimator"]))
        lines += [f"| {r['learner']} | {r['estimator']} | {problem} | {_cell(r)} | "
                  f"{_num(r['ms_per_step'], '.3g')} | {_num(r['temp_mib'], '.3g')} | "
                  f"{_num(r['compile_s'], '.1f')} |" for r in rows]
    metrics = "; ".join(f"{p}: {r['setup'].metric}" for p, r in results.items())
    return f"## Every pair\n\nScores: {metrics}.\n\n" + "\n".join(lines)


def unsupported(results: dict[str, dict]) -> str:
    """Pairs the properties rule out (what the learner lacks) and learners a problem cannot
    host (why)."""
    pairs = {(u["learner"], u["estimator"], ", ".join(u["lacks"]))
             for r in results.values() for u in r["unsupported"]}
    lines = ["## Unsupported pairs", "",
             "An estimator drives a learner exactly when its requirements are among the "
             "learner's properties (`estimators.supports`).", "",
             "| learner | estimator | learner lacks |", "| --- | --- | --- |"]
    lines += [f"| {lname} | {ename} | {lacks} |" for lname, ename, lacks in sorted(pairs)]
    unhosted = [u for r in results.values() for u in r["unhosted"]]
    if unhosted:
        lines += ["", "Learners not run on a problem:", ""]
        lines += [f"- {u['learner']} on {u['problem']}: {u['reason']}" for u in unhosted]
    return "\n".join(lines)


def sections(results: dict[str, dict]) -> list[str]:
    """The report's sections after the key numbers."""
    return [table(results), unsupported(results)]


def score_vs_cost(rundir: RunDir, results: dict[str, dict]) -> None:
    """``matrix.png``: score (± 95% CI over seeds) against ms per meta-step, one panel per
    problem; colour is the estimator, marker shape the learner."""
    rows = [r for result in results.values() for r in result["rows"]]
    estimators = sorted({r["estimator"] for r in rows})
    learners = sorted({r["learner"] for r in rows})
    colours = dict(zip(estimators, colormap("tab20", [_colour_index(i) for i in
                                                       range(len(estimators))]), strict=True))
    markers = {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(learners)}
    fig, axes = subplots(1, len(results), figsize=(6 * len(results), 5), squeeze=False,
                         layout="constrained")
    for ax, (problem, result) in zip(axes[0], results.items(), strict=True):
        for r in result["rows"]:
            if "score" not in r or not math.isfinite(r["ms_per_step"]):
                continue
            ax.errorbar(r["ms_per_step"], r["score"], yerr=r["ci95"],
                        marker=markers[r["learner"]], color=colours[r["estimator"]],
                        markersize=7, capsize=2, linestyle="none")
            ax.annotate(f"{r['learner']}+{r['estimator']}", (r["ms_per_step"], r["score"]),
                        xytext=(4, 3), textcoords="offset points", fontsize=6, alpha=0.8)
        setup = result["setup"]
        ax.set_xscale("log")
        if not setup.higher_is_better:
            ax.set_yscale("log")
        failed = sum("score" not in r for r in result["rows"])
        ax.set_title(problem + (f" ({failed} diverged, not shown)" if failed else ""))
        ax.set_xlabel("ms per meta-step (one seed)")
        ax.set_ylabel(f"held-out {setup.metric} ({setup.direction()})")
        for axis in (ax.xaxis, ax.yaxis) if not setup.higher_is_better else (ax.xaxis,):
            axis.set_major_formatter(FuncFormatter(_plain))  # 0.3, not 3e-01: short labels
            axis.set_minor_formatter(FuncFormatter(_plain))
        ax.grid(alpha=0.3, which="both")
    handles = ([Line2D([], [], color=colours[e], marker="o", linestyle="none", label=e)
                for e in estimators]
               + [Line2D([], [], color="grey", marker=markers[n], linestyle="none", label=n)
                  for n in learners])
    fig.legend(handles=handles, loc="outside right center", fontsize=8,
               title="colour: estimator\nmarker: learner", title_fontsize=8)
    rundir.save_figure(fig, "matrix")


def _plain(value: float, _: int) -> str:
    """A log-axis tick as a plain number."""
    return f"{value:g}"

