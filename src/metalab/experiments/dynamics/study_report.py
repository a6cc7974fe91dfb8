"""Figure and report text of the learning-dynamics study across families and seeds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir

REGRESSION_ORDER = ("learner", "reference", "online", "maml", "metasgd", "memory", "lstm",
                    "bayes")
BANDIT_ORDER = ("pg", "lstm", "thompson")


def _learners(family: str, summary: dict[str, float]) -> list[str]:
    order = BANDIT_ORDER if family == "bandit" else REGRESSION_ORDER
    return [n for n in order if f"{n}/{family}/mode_time_ratio" in summary]


def _cell(summary: dict[str, float], key: str, seeds: int, reached: bool = False) -> str:
    mean, half = summary.get(key, math.nan), summary.get(f"{key}_ci95", math.nan)
    text = (f"{mean:.3g} ± {half:.2g}" if math.isfinite(mean)
            else "null (last mode never)" if mean == math.inf else "null")
    if reached:
        text += f" ({int(summary[f'{key}_reached'])}/{seeds})"
    return text


def _t50s(summary: dict[str, float], prefix: str, seeds: int) -> str:
    """Each mode's time to 50%, mean ± CI over seeds ("never": unreached in some seed)."""
    cells, j = [], 1
    while f"{prefix}/t50_mode_{j}" in summary:
        cell = _cell(summary, f"{prefix}/t50_mode_{j}", seeds)
        cells.append("never" if cell.startswith("null") else cell)
        j += 1
    return "; ".join(cells)


def _slope(summary: dict[str, float], key: str, seeds: int) -> str:
    """The slope of log t50 on log strength with its 95% interval and the seeds fitted."""
    mean, low, high = (summary.get(f"{key}{s}", math.nan) for s in ("", "_low", "_high"))
    if not math.isfinite(mean):
        return "null (a mode never at 50%)"
    interval = f" [{low:+.2f}, {high:+.2f}]" if math.isfinite(low) else ""
    return f"{mean:+.2f}{interval} ({int(summary[f'{key}_seeds'])}/{seeds})"


def _times(ratio: float) -> str:
    """A multiple such as ``29x``, blank where there is none."""
    return f"{ratio:.3g}x" if math.isfinite(ratio) else ""


def tables(cfg: Any, summary: dict[str, float]) -> list[str]:
    """One markdown table per family: ratios at 50% / 90%, the t50 slope, accuracy or
    reward (and a meta-learner's error over the Bayesian reference's), mean ± CI."""
    out = []
    for family in cfg.families:
        score = "mean_reward" if family == "bandit" else "final_query_mse"
        rows = [f"| {n} | {_cell(summary, f'{n}/{family}/mode_time_ratio', cfg.seeds, True)}"
                f" | {_cell(summary, f'{n}/{family}/mode_time_ratio_90', cfg.seeds, True)}"
                f" | {_slope(summary, f'{n}/{family}/t50_slope', cfg.seeds)}"
                f" | {_cell(summary, f'{n}/{family}/{score}', cfg.seeds)}"
                f" | {_times(summary.get(f'{n}/{family}/error_over_bayes', math.nan))}"
                f" | {_t50s(summary, f'{n}/{family}', cfg.seeds)} |"
                for n in _learners(family, summary)]
        head = (f"| learner | mode_time_ratio (seeds reached) | ratio at 90% | slope of log "
                f"t50 on log strength [95% CI] (seeds) | {score} | error / Bayes' "
                "| time to 50% per mode (first = largest) |")
        out.append(f"## {family}\n\n"
                   + "\n".join([head, "| --- | --- | --- | --- | --- | --- | --- |", *rows]))
    return out


def ratio_figure(rundir: RunDir, cfg: Any, summary: dict[str, float]) -> None:
    """Mode-time ratio per learner and family, mean and 95% CI over seeds (log scale; a
    learner whose last mode never reached 50% in some seed is drawn as an open marker at
    the top)."""
    fig, axes = subplots(1, len(cfg.families), figsize=(3.6 * len(cfg.families), 3.4),
                         squeeze=False)
    for ax, family in zip(axes[0], cfg.families, strict=True):
        names = _learners(family, summary)
        top = 1.0
        for i, name in enumerate(names):
            key = f"{name}/{family}/mode_time_ratio"
            mean, half = summary[key], summary[f"{key}_ci95"]
            if math.isfinite(mean):
                lo = max(mean - half, mean / 10) if math.isfinite(half) else mean
                hi = mean + half if math.isfinite(half) else mean
                ax.errorbar([i], [mean], yerr=[[mean - lo], [hi - mean]], fmt="o", capsize=3)
                top = max(top, hi)
        for i, name in enumerate(names):
            if not math.isfinite(summary[f"{name}/{family}/mode_time_ratio"]):
                ax.plot([i], [top * 2], marker="^", mfc="none", color="black")
        ax.axhline(1.0, color="grey", lw=0.5, ls=":")
        ax.set_xticks(np.arange(len(names)), names, rotation=45)
        ax.set(yscale="log", title=family, xlim=(-0.5, len(names) - 0.5))
    axes[0, 0].set_ylabel("time to 50%: last mode / first")
    fig.suptitle(f"Mode-time ratio, mean and 95% CI over {cfg.seeds} seeds "
                 "(open triangle: last mode never at 50%)")
    fig.tight_layout()
    rundir.save_figure(fig, "mode_time_ratio_by_family")


def description(cfg: Any, maml_steps: str) -> str:
    """What the study ran (``maml_steps``: the MAML budget, as the study words it)."""
    return (
        f"Families {', '.join(cfg.families)}; seeds {cfg.seed}..{cfg.seed + cfg.seeds - 1}; "
        f"{cfg.eval_tasks} held-out tasks per seed. Regression (learning-dynamics defaults "
        f"otherwise): learners {', '.join(cfg.learners)}; MAML {maml_steps} meta-steps, "
        f"LSTMs {cfg.lstm_steps}. Bandit: {cfg.n_arms} arms, contexts in R^{cfg.d_context}, "
        f"reward map of rank {cfg.rank} (singular values geometric 3 -> 0.5, modes are "
        f"contrasts between arms), noise {cfg.bandit_noise}; pg = REINFORCE on a deep linear "
        f"softmax policy {cfg.d_context}-{cfg.pg_hidden}-{cfg.n_arms} (init "
        f"{cfg.pg_init_scale}, lr {cfg.pg_lr}, {cfg.pg_steps} interactions); lstm = LSTM agent "
        f"({cfg.agent_hidden} units) meta-trained by A2C ({cfg.a2c_steps} steps, Adam "
        f"{cfg.a2c_lr}, gamma {cfg.gamma}, entropy {cfg.entropy_cost}) over "
        f"{cfg.horizon}-interaction episodes; thompson = Thompson sampling with the family's "
        "Gaussian prior. Bandit progress per mode: the probability that the policy acting on "
        "the mode alone picks its best arm (softmax of the logits projected on the mode; "
        "Thompson: a posterior draw with the true sign), from chance (0) to certain (1). "
        "`mode_time_ratio` = time to 50% of the last mode / of the first; slope: of log time "
        "to 50% on log mode strength (singular value; Fourier: inverse frequency), per seed, "
        "mean and 95% interval over seeds; error / Bayes': query MSE (bandit: regret per "
        "pull, first episode) over the Bayes learner's (Thompson's), mean over seeds; "
        "± = 95% CI half-width (Student t) over seeds."
    )
