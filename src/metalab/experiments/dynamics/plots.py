"""Figures and report text of the learning-dynamics experiment."""

from __future__ import annotations

from typing import Any

import numpy as np

from metalab.analysis.problem import DynamicsProblem
from metalab.runs.figures import colormap, subplots
from metalab.runs.rundir import RunDir


def mode_labels(cfg: DynamicsProblem) -> tuple[str, list[str], np.ndarray]:
    """(axis name, one label per mode, the mode's scale: singular value or frequency)."""
    dist = cfg.distribution()
    if cfg.variant == "linear":
        s = np.asarray(dist.singular_values())
        return "singular value", [f"s = {v:.2f}" for v in s], s
    k = np.arange(1, cfg.n_freq + 1)
    return "frequency", [f"k = {v}" for v in k], k


def mode_curves(rundir: RunDir, cfg: Any, details: dict[str, dict]) -> None:
    """Progress on each mode over learning, one panel per learner, side by side."""
    _, labels, _ = mode_labels(cfg)
    names = list(details)
    fig, axes = subplots(1, len(names), figsize=(3.3 * len(names), 3.2), squeeze=False)
    colors = colormap("viridis", np.linspace(0.0, 0.9, len(labels)))
    for ax, name in zip(axes[0], names, strict=True):
        d = details[name]
        for j, label in enumerate(labels):
            ax.plot(d["times"], d["progress"][:, j], color=colors[j], label=label)
        ax.axhline(0.5, color="grey", lw=0.5, ls=":")
        ax.axhline(0.9, color="grey", lw=0.5, ls=":")
        ax.set(title=name, xlabel=d["unit"], ylim=(-0.1, 1.2))
    axes[0, 0].set_ylabel("progress on mode (learned / true)")
    axes[0, -1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Mode progress over learning ({cfg.variant} tasks, {cfg.eval_tasks} held-out)")
    fig.tight_layout()
    rundir.save_figure(fig, "mode_progress")


def time_to_learn(rundir: RunDir, cfg: Any, details: dict[str, dict]) -> None:
    """Time to 50% and 90% of each mode versus its scale, relative to the first mode."""
    axis, _, scale = mode_labels(cfg)
    fig, axes = subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, key, level in ((axes[0], "t50", "50%"), (axes[1], "t90", "90%")):
        for name, d in details.items():
            with np.errstate(invalid="ignore", divide="ignore"):  # unreached modes: inf
                relative = d[key] / d[key][0]
            ax.plot(scale, relative, marker="o", label=name)
        ax.set(xlabel=axis, title=f"time to {level} of each mode", yscale="log")
        if cfg.variant == "linear":
            ax.set_xscale("log")
        ax.set_xticks(scale, [f"{v:.2g}" for v in scale], minor=False)
        ax.minorticks_off()
    axes[0].set_ylabel("time / time of first mode")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    rundir.save_figure(fig, "time_to_learn")


def times_table(cfg: Any, details: dict[str, dict]) -> str:
    """Markdown table of time to 50% / 90% per mode and learner."""
    _, labels, _ = mode_labels(cfg)
    head = "| learner | unit | " + " | ".join(labels) + " |"
    rule = "| --- | --- |" + " --- |" * len(labels)
    rows = [
        f"| {name} | {d['unit']} | "
        + " | ".join(f"{a:.3g} / {b:.3g}" for a, b in zip(d["t50"], d["t90"], strict=True))
        + " |"
        for name, d in details.items()
    ]
    return "## Time to 50% / 90% of each mode\n\n" + "\n".join([head, rule, *rows])


def description(cfg: Any) -> str:
    """What ran, in one paragraph."""
    if cfg.variant == "linear":
        task = (f"Linear regression y = W x + N(0, {cfg.noise}^2), W {cfg.d_out}x{cfg.d_in}, "
                f"singular values geometric from {cfg.s_max} to {cfg.s_min}, basis "
                f"`{cfg.basis}`; plain learner: deep linear net {cfg.d_in}-{cfg.hidden}-"
                f"{cfg.d_out} from init scale {cfg.init_scale}, GD lr {cfg.learner_lr}; "
                "reference: one-layer linear net from zero.")
    else:
        task = (f"Fourier series with frequencies 1..{cfg.n_freq} on [-1, 1], amplitude "
                f"k^-{cfg.decay}, noise {cfg.noise}; plain learner: ReLU MLP 1-{cfg.hidden}-"
                f"{cfg.hidden}-1, GD lr {cfg.learner_lr}.")
    return (
        f"{task} {cfg.k_support} support samples per task. MAML and Meta-SGD: "
        f"{cfg.meta_steps} meta-steps (Adam {cfg.outer_lr}; Meta-SGD init "
        f"{cfg.metasgd_outer_lr}, rates {cfg.metasgd_rate_lr}), "
        f"{cfg.inner_steps} inner steps at lr {cfg.inner_lr}, "
        f"traced for {cfg.eval_steps} steps. Memory: LSTM ({cfg.memory_hidden} units) reading "
        f"(x, y) pairs with a multiplicative read-out, {cfg.memory_steps} meta-steps; lstm: "
        f"plain LSTM (query through the cell, linear read-out), {cfg.lstm_steps} meta-steps. "
        f"Online: the plain learner by SGD on {cfg.online_batch} fresh sample(s) per step "
        f"(clock: samples seen). Bayes: posterior mean of the "
        f"family's Gaussian prior. `mode_time_ratio` = time to 50% of the last mode / of the "
        f"first; `bayes_similarity` = residual cosine to Bayes at equal overall progress "
        f"(25/50/75%). {cfg.eval_tasks} held-out tasks."
    )


def along_meta_training(rundir: RunDir, summary: dict[str, float]) -> None:
    """Mode-time ratio and query MSE of each meta-learner at its snapshots along
    meta-training (keys ``<name>/meta_step_<n>/...``)."""
    series: dict[str, dict[int, dict[str, float]]] = {}
    for key, value in summary.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[1].startswith("meta_step_"):
            step = int(parts[1].removeprefix("meta_step_"))
            series.setdefault(parts[0], {}).setdefault(step, {})[parts[2]] = value
    if not series:
        return
    fig, axes = subplots(1, 2, figsize=(9, 3.4))
    for name, points in series.items():
        steps = sorted(points)
        for ax, metric in zip(axes, ("mode_time_ratio", "final_query_mse"), strict=True):
            ax.plot(steps, [points[s][metric] for s in steps], marker="o", label=name)
    axes[0].axhline(1.0, color="grey", lw=0.5, ls=":")
    axes[0].set(xlabel="meta-step", ylabel="time to 50%: last mode / first",
                title="learning dynamics along meta-training")
    axes[1].set(xlabel="meta-step", ylabel="query MSE after K samples / steps", yscale="log",
                title="accuracy along meta-training")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    rundir.save_figure(fig, "along_meta_training")


def shift_table(summary: dict[str, float]) -> str:
    """Markdown table of mode-time ratio and query MSE per learner on each shifted family."""
    rows: dict[str, dict[str, str]] = {}
    shifts: list[str] = []
    for key, value in summary.items():
        name, part, *rest = key.split("/") + [""]
        if part.startswith("shift_") and rest[0] == "mode_time_ratio":
            label = part.removeprefix("shift_")
            shifts += [label] if label not in shifts else []
            mse = summary[f"{name}/{part}/final_query_mse"]
            rows.setdefault(name, {})[label] = f"{value:.3g} / {mse:.3g}"
    if not rows:
        return ""
    head = "| learner | " + " | ".join(shifts) + " |"
    rule = "| --- |" + " --- |" * len(shifts)
    body = [f"| {n} | " + " | ".join(r.get(s, "") for s in shifts) + " |"
            for n, r in rows.items()]
    return ("## Shifted test families: mode_time_ratio / final query MSE\n\n"
            + "\n".join([head, rule, *body]))
