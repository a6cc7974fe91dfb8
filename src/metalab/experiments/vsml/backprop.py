"""``metalab run vsml-backprop``: clone online backprop into a VS-ML rule, then let it learn
forward-only for far longer than it was trained (Kirsch & Schmidhuber 2021, section 3.2,
Figure 3). ``metalab.vsml.clone`` describes the teacher, the student and the loss.

The rule is fitted on 400-example streams of one family with teacher forcing, then runs
without a teacher on ``--eval-steps`` (default 2,000) examples of that family's held-out split
and of unseen families; its online accuracy curve is compared with the teacher (online SGD on
the same layer, same initial weights distribution and rate) on the same streams.
``clone_trace`` then shows where each clone departs from SGD (read-out, update, stored
weights). The defaults (Adam 3e-2, storage scale 10, forget bias +5) come from the trials in
``docs/vsml.md``: the read-out saturates once |w| leaves the fitted range, and the cell's
fixed forget bias leaks 2.6% of a stored weight per step.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, replace

import jax
import numpy as np

from metalab.errors import require, require_cadence, require_fields
from metalab.runs.curves import training_curves
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage
from metalab.tasks.families import load_family
from metalab.tasks.online import stream_classes
from metalab.training import seed_keys
from metalab.vsml import (
    clone_start,
    init_train_state,
    make_step,
    meta_optimizer,
    teacher_sgd,
    vsml,
)
from metalab.vsml.clone import Forcing, clone_stream_loss, clone_traces, open_forget
from metalab.vsml.evaluate import online_curves, stream_keys

OFFLINE_FAMILIES = ("digits", "iris", "wine", "breast_cancer", "random", "sum", "mnist1d")


@dataclass(frozen=True)
class CloneConfig:
    """Settings of ``metalab run vsml-backprop``."""

    train_on: str = "digits"
    """family whose training split the rule is cloned on"""
    families: tuple[str, ...] = ("digits", "mnist1d", "wine", "sum")
    """families to run the clone on (held-out split; the others are unseen)"""
    alpha: float = 0.5
    """the teacher's SGD rate (per weight; it absorbs the 1/n_in of the layer's mean)"""
    steps: int = 2000
    """cloning steps (Adam)"""
    lr: float = 3e-2
    """Adam rate of the cloning fit (3e-3 left the input gates near their sigmoid(-5) start)"""
    clip: float = 25.0
    seeds: int = 3
    episodes: int = 4
    """teacher-forced streams per cloning step"""
    stream_steps: int = 400
    """examples per cloning stream: long enough for SGD's weights to reach the size they have
    in the long free runs (50-example streams left the clone's read-out unfitted there)"""
    force_every: int = 1
    """set the stored weights to the teacher's every k steps (1: teacher forcing; 0: never,
    the clone is scored on its own free-running state against SGD on its own weights)"""
    force_noise: float = 0.0
    """std of noise on the forced weights (in units of the initial weight std)"""
    through: bool = False
    """differentiate through the carried state across steps"""
    scale: float = 10.0
    """the cell stores w / scale (SGD's weights outgrow the cloning streams' range)"""
    forget_bias: float = 5.0
    """added to the rule's forget-gate bias at initialisation (the cell keeps its weight)"""
    n_in: int = 16
    n_classes: int = 5
    eval_steps: int = 2000
    """examples per evaluation stream (at least 10x --stream-steps shows generalisation in
    time)"""
    eval_streams: int = 64
    log_every: int = 50
    checkpoint_every: int = 500
    seed: int = 0
    quick: bool = False
    """reduced budget (about 5-10 minutes on 2 busy CPU cores)"""

    def __post_init__(self) -> None:
        require(self.train_on in OFFLINE_FAMILIES, "--train-on",
                f"choose an offline family from {OFFLINE_FAMILIES}")
        for name in self.families:
            require(name in OFFLINE_FAMILIES, "--families",
                    f"unknown family {name!r}; choose from {OFFLINE_FAMILIES}")
        if "mnist1d" in (self.train_on, *self.families):
            try:
                import mnist1d  # noqa: F401
            except ImportError:
                require(False, "--families", "mnist1d needs `pip install 'metalab[mnist1d]'`")
        require_fields(self, positive_int=("steps", "seeds", "episodes", "stream_steps", "n_in",
                                           "eval_steps", "eval_streams", "log_every"),
                       at_least={"n_classes": 2}, positive=("alpha", "lr", "clip", "scale"),
                       non_negative=("force_noise",))
        require(self.force_every >= 0, "--force-every", "must be 0 (never) or a positive integer")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> CloneConfig:
        """``quick``: one cloning stream per step, fewer steps, 1,000-example runs."""
        if not self.quick:
            return self
        return replace(self, steps=min(self.steps, 300), episodes=min(self.episodes, 1),
                       eval_streams=min(self.eval_streams, 16),
                       eval_steps=min(self.eval_steps, 1000))


def run(cfg: CloneConfig, rundir: RunDir) -> dict[str, float]:
    """Clone, then compare forward-only learning with the teacher on every family."""
    family = load_family(cfg.train_on, "train")
    classes = stream_classes(family, cfg.n_classes)
    forcing = Forcing(cfg.force_every, cfg.force_noise, cfg.through, cfg.scale)

    loss = clone_stream_loss(family, cfg.stream_steps, classes, cfg.n_in, cfg.alpha, forcing,
                             cfg.episodes)
    optimizer = meta_optimizer("grad", cfg.lr, cfg.clip)
    init_keys, run_keys = seed_keys(zlib.crc32(f"{cfg.seed}/clone".encode()), cfg.seeds)
    plain = vsml(backward=True)
    learner = plain._replace(init=lambda key: open_forget(plain.init(key), cfg.forget_bias))
    init = init_train_state(learner, optimizer, init_keys)
    meta_step = make_step(loss, "grad", optimizer, run_keys)
    start = time.perf_counter()
    state = train_stage(rundir, "clone", init, meta_step, cfg.steps, chunk=cfg.log_every,
                        checkpoint_every=cfg.checkpoint_every)
    summary: dict[str, float] = {"clone/train_seconds": time.perf_counter() - start}

    student = clone_start(vsml(backward=True), cfg.scale)
    teacher = teacher_sgd(cfg.alpha)
    eval_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6)
    shape = (cfg.eval_streams, cfg.eval_steps, cfg.n_classes, cfg.n_in)
    curves: dict[str, dict[str, np.ndarray]] = {"clone": {}, "sgd": {}}
    tail = max(1, cfg.eval_steps // 10)
    for j, name in enumerate(cfg.families):
        fam = load_family(name, "test")
        key = jax.random.fold_in(eval_key, j)
        keys = stream_keys(key, cfg.seeds)
        curves["clone"][name] = online_curves(student, state.meta, keys, fam, *shape)
        curves["sgd"][name] = online_curves(
            teacher, {"lr": np.full(cfg.seeds, cfg.alpha, np.float32)}, keys, fam, *shape)
        summary[f"chance/{name}"] = 1.0 / stream_classes(fam, cfg.n_classes)
        for who, per in curves.items():
            summary[f"{who}/{name}/final_accuracy"] = float(per[name][..., -tail:].mean())
            summary[f"{who}/{name}/online_accuracy"] = float(per[name].mean())
    for who in curves:
        summary[f"{who}/final_accuracy"] = summary[f"{who}/{cfg.train_on}/final_accuracy"] \
            if cfg.train_on in cfg.families else float(np.mean(
                [summary[f"{who}/{n}/final_accuracy"] for n in cfg.families]))
    summary["clone/final_loss"] = float(np.mean(
        [r["loss"] for r in rundir.metrics() if r.get("stage") == "clone"][-1:]))
    trace = clone_traces(state.meta, jax.random.fold_in(eval_key, 10**6),
                         load_family(cfg.train_on, "test"), cfg.eval_streams, cfg.eval_steps,
                         classes, cfg.n_in, cfg.alpha, cfg.scale)
    for field in ("readout", "update_w", "update_size", "drift_w", "scale_w", "scale_teacher"):
        summary[f"clone/trace/{field}_end"] = float(getattr(trace, field)[..., -tail:].mean())
    summary["clone/trace/readout_start"] = float(trace.readout[..., :tail].mean())
    _trace_figure(rundir, trace, cfg)

    training_curves(rundir, ylabel="teacher-forced regression loss")
    _curves_figure(rundir, curves, cfg, [summary[f"chance/{n}"] for n in cfg.families])
    rundir.write_summary("vsml-backprop", summary)
    what = (
        f"A VS-ML sub-LSTM cloned from online SGD (rate {cfg.alpha}) on a {cfg.n_in}x"
        f"{cfg.n_classes} layer y = mean_i w_ij tanh(x_i) + b_j: {cfg.steps} Adam steps x "
        f"{cfg.seeds} seeds on teacher-forced {cfg.stream_steps}-example streams of "
        f"{cfg.train_on}; then run forward-only, without the teacher, on {cfg.eval_streams} "
        f"held-out {cfg.eval_steps}-example streams per family and seed, next to SGD itself. "
        f"`final_accuracy`: online accuracy over the last {tail} examples (without a family: "
        f"on {cfg.train_on})."
    )
    rundir.write_report("VS-ML cloning backprop", what, summary)
    return summary


def _curves_figure(rundir: RunDir, curves, cfg: CloneConfig, chance: list[float],
                   window: int = 50) -> None:
    fig, axes = subplots(1, len(cfg.families), figsize=(3.6 * len(cfg.families), 3),
                         squeeze=False)
    kernel = np.ones(window) / window
    for k, name in enumerate(cfg.families):
        ax = axes[0, k]
        for who, per in curves.items():
            mean = np.convolve(per[name].mean(axis=(0, 1)), kernel, mode="valid")
            ax.plot(np.arange(len(mean)) + window, mean, label=who)
        ax.axhline(chance[k], color="k", ls=":", lw=1)
        ax.axvline(cfg.stream_steps, color="grey", ls="--", lw=1)
        seen = "seen" if name == cfg.train_on else "unseen"
        ax.set(title=f"{name} ({seen})", xlabel="example in stream", ylabel="online accuracy")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Forward-only clone vs SGD (dashed: cloning stream length; "
                 f"moving average of {window})")
    fig.tight_layout()
    rundir.save_figure(fig, "clone_curves")


def _trace_figure(rundir: RunDir, trace, cfg: CloneConfig) -> None:
    """Where the free-running clone departs from SGD, per example (mean over seeds, streams)."""
    fig, axes = subplots(1, 3, figsize=(11, 3.2), squeeze=False)
    t = np.arange(trace.readout.shape[-1])
    mean = lambda a: a.mean(axis=(0, 1))  # noqa: E731
    ax = axes[0, 0]
    ax.plot(t, mean(trace.scale_w), label="clone: stored w (RMS)")
    ax.plot(t, mean(trace.scale_teacher), label="SGD: w (RMS)")
    ax.plot(t, mean(trace.drift_w), label="clone - SGD (RMS)")
    ax.axvline(cfg.stream_steps, color="grey", ls="--", lw=1)
    ax.set(title="stored weights", xlabel="example in stream")
    ax = axes[0, 1]
    ax.plot(t, mean(trace.readout), label="read-out - (w tanh(x) + b)")
    ax.plot(t, mean(trace.update_w), label="dw/alpha + tanh(x) e")
    ax.plot(t, mean(trace.update_b), label="db/alpha + e")
    ax.plot(t, mean(trace.update_size), "k:", label="tanh(x) e (SGD's dw / alpha)")
    ax.axvline(cfg.stream_steps, color="grey", ls="--", lw=1)
    ax.set(title="errors against SGD on its own w (RMS)", xlabel="example in stream",
           yscale="log")
    ax = axes[0, 2]
    window = min(50, len(t))
    kernel = np.ones(window) / window
    for name, a in (("clone", trace.correct), ("SGD", trace.correct_teacher)):
        ax.plot(t[window - 1:], np.convolve(mean(a), kernel, mode="valid"), label=name)
    ax.set(title="online accuracy (same start)", xlabel="example in stream")
    for ax in axes[0]:
        ax.legend(fontsize=7)
    fig.suptitle(f"Free-running clone next to SGD on {cfg.train_on} (dashed: cloning stream "
                 "length)")
    fig.tight_layout()
    rundir.save_figure(fig, "clone_trace")


EXPERIMENT = Experiment(
    name="vsml-backprop",
    description="VS-ML rule cloned from online backprop, run forward-only, compared with SGD",
    expected_time="1-2 h",  # 27x the quick run's cloning work, estimated, not run
    quick_time="2.5 min",  # 2.3 min wall (3.1 min CPU) at load 0.4-2.3 (docs/vsml.md)
    config=CloneConfig,
    run=run,
    seeding="vmapped",
    smoke=("--families", "digits", "--steps", "2", "--seeds", "1", "--episodes", "1",
           "--stream-steps", "4", "--n-in", "2", "--n-classes", "2", "--eval-steps", "4",
           "--eval-streams", "1", *SMOKE_CADENCE),
    summary_keys=("chance/digits", "clone/digits/final_accuracy",
                  "clone/digits/online_accuracy", "sgd/digits/online_accuracy",
                  "clone/final_accuracy", "sgd/final_accuracy", "clone/final_loss",
                  "clone/train_seconds"),
)
