"""``metalab run vsml-backprop``: clone online backprop into a VS-ML rule, a two-layer network
whose sub-LSTMs also pass the error down, then let it learn forward-only for 2,000 examples
(Kirsch & Schmidhuber 2021, section 3.2, Figure 3). ``metalab.vsml.deep_clone`` describes the
teacher, the student, the targets and the bank of long teacher runs the fit samples from.

The rule is fitted on teacher-forced windows that start anywhere along long teacher runs on
one family's training split, then runs without a teacher on ``--eval-steps`` examples of that
family's held-out split and of unseen families, next to the teacher (online backprop on the
same network from the same weights) on the same streams. A free-running trace shows where it
departs from backprop (read-out, update, backward message, stored weights). Claim
``vsml-deep-clone/<family>``: the clone's online accuracy minus backprop's, at least -margin.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, replace

import jax
import numpy as np

from metalab.analysis.paired import paired
from metalab.errors import require, require_cadence, require_fields
from metalab.runs.curves import training_curves
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import record_claim, regime
from metalab.runs.stage import train_stage
from metalab.tasks.families import load_family
from metalab.tasks.online import stream_classes
from metalab.training import seed_keys
from metalab.vsml import init_train_state, make_step, meta_optimizer, vsml
from metalab.vsml.clone import open_forget
from metalab.vsml.deep_clone import (
    deep_clone_start,
    deep_scan,
    deep_teacher,
    teacher_bank,
    teacher_init,
    window_loss,
)
from metalab.vsml.evaluate import online_curves, over_streams, stream_keys

OFFLINE_FAMILIES = ("digits", "iris", "wine", "breast_cancer", "random", "sum", "mnist1d")
MARKS = (400, 1000, 2000)  # examples at which the trace is reported


@dataclass(frozen=True)
class CloneConfig:
    """Settings of ``metalab run vsml-backprop``."""

    train_on: str = "digits"
    """family whose training split the rule is cloned on"""
    families: tuple[str, ...] = ("digits", "mnist1d", "wine", "sum")
    """families to run the clone on (held-out split; the others are unseen)"""
    hidden: tuple[int, ...] = (16,)
    """hidden layer widths of the clone and its teacher (none: one layer)"""
    alpha: float = 0.5
    """the teacher's rate (per weight; it absorbs the 1/n_in of each layer's mean)"""
    steps: int = 2000
    """cloning steps (Adam)"""
    lr: float = 3e-2
    """Adam rate of the cloning fit (3e-3 left the input gates near their sigmoid(-5) start)"""
    clip: float = 25.0
    seeds: int = 3
    windows: int = 4
    """teacher-forced windows per cloning step"""
    window: int = 50
    """examples per window"""
    bank_streams: int = 64
    """teacher runs the windows start from"""
    bank_steps: int = 2400
    """examples per teacher run: the weights' range the fit covers"""
    every: int = 50
    """a window can start every this many examples of a teacher run"""
    spread: float = 0.3
    """a window's starting weights are the teacher's times exp(spread N(0, 1))"""
    scale: float = 10.0
    """the cell stores w / scale (SGD's weights grow to RMS about 9 in 1,000 examples)"""
    forget_bias: float = 5.0
    """added to the rule's forget-gate bias at initialisation (the cell keeps its weight)"""
    margin: float = 0.05
    """the claim: clone's online accuracy at least backprop's minus this"""
    n_in: int = 16
    n_classes: int = 5
    eval_steps: int = 2000
    """examples per evaluation stream"""
    eval_streams: int = 64
    log_every: int = 50
    checkpoint_every: int = 500
    seed: int = 0
    quick: bool = False
    """reduced budget (about 5-8 minutes on 2 busy CPU cores)"""

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
        require_fields(self, positive_int=("steps", "seeds", "windows", "window", "bank_streams",
                                           "bank_steps", "every", "n_in", "eval_steps",
                                           "eval_streams", "log_every"))
        require(all(h > 0 for h in self.hidden), "--hidden", "layer widths must be positive")
        require(self.bank_steps % self.every == 0, "--bank-steps",
                f"must be a multiple of --every ({self.every})")
        require_fields(self, at_least={"n_classes": 2}, positive=("alpha", "lr", "clip", "scale"),
                       non_negative=("spread", "margin"))
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> CloneConfig:
        """``quick``: fewer cloning steps and windows, 16 evaluation streams per seed."""
        if not self.quick:
            return self
        return replace(self, steps=min(self.steps, 300), windows=min(self.windows, 2),
                       eval_streams=min(self.eval_streams, 16))


def run(cfg: CloneConfig, rundir: RunDir) -> dict[str, float]:
    """Clone, then compare forward-only learning with backprop on every family."""
    family = load_family(cfg.train_on, "train")
    classes = stream_classes(family, cfg.n_classes)
    key = jax.random.PRNGKey(zlib.crc32(f"{cfg.seed}/deep-clone".encode()))
    bank = teacher_bank(family, key, cfg.bank_streams, cfg.bank_steps, cfg.every, cfg.window,
                        cfg.hidden, cfg.alpha, classes, cfg.n_in)

    def loss(rule, k):
        return jax.vmap(lambda kk: window_loss(rule, bank, kk, cfg.every, cfg.window, cfg.alpha,
                                               cfg.scale, cfg.spread))(
            jax.random.split(k, cfg.windows)).mean()

    optimizer = meta_optimizer("grad", cfg.lr, cfg.clip)
    init_keys, run_keys = seed_keys(zlib.crc32(f"{cfg.seed}/clone".encode()), cfg.seeds)
    plain = vsml(cfg.hidden, backward=True)
    learner = plain._replace(init=lambda k: open_forget(plain.init(k), cfg.forget_bias))
    init = init_train_state(learner, optimizer, init_keys)
    meta_step = make_step(loss, "grad", optimizer, run_keys)
    start = time.perf_counter()
    state = train_stage(rundir, "clone", init, meta_step, cfg.steps, chunk=cfg.log_every,
                        checkpoint_every=cfg.checkpoint_every)
    summary: dict[str, float] = {"clone/train_seconds": time.perf_counter() - start}

    student = deep_clone_start(vsml(cfg.hidden, backward=True), cfg.hidden, cfg.scale)
    teacher = deep_teacher(cfg.hidden, cfg.alpha)
    eval_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6)
    shape = (cfg.eval_streams, cfg.eval_steps, cfg.n_classes, cfg.n_in)
    curves: dict[str, dict[str, np.ndarray]] = {"clone": {}, "sgd": {}}
    tail = max(1, cfg.eval_steps // 10)
    start = time.perf_counter()
    for j, name in enumerate(cfg.families):
        fam = load_family(name, "test")
        keys = stream_keys(jax.random.fold_in(eval_key, j), cfg.seeds)
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
    trace = _trace(state.meta, cfg, classes, jax.random.fold_in(eval_key, 10**6))
    summary["eval_seconds"] = time.perf_counter() - start
    for field in ("readout", "update_w", "backward", "update_size", "drift_w", "scale_w",
                  "scale_teacher"):
        per_step = getattr(trace, field).mean(axis=(0, 1))  # [T, layers]
        for t in (m for m in MARKS if m <= cfg.eval_steps):
            for layer in range(per_step.shape[1]):
                summary[f"clone/trace/{field}/layer{layer + 1}/{t}"] = float(
                    per_step[t - 1, layer])
    _trace_figure(rundir, trace, cfg)

    training_curves(rundir, ylabel="teacher-forced regression loss")
    _curves_figure(rundir, curves, cfg, [summary[f"chance/{n}"] for n in cfg.families])
    claims = _claims(curves, cfg)
    rundir.write_summary("vsml-backprop", summary, claims=claims)
    sizes = "x".join(str(n) for n in (cfg.n_in, *cfg.hidden, cfg.n_classes))
    what = (
        f"A VS-ML sub-LSTM cloned from online backprop (rate {cfg.alpha}) on a {sizes} network "
        f"of layers y = mean_i w_ij tanh(u_i) + b_j whose sub-LSTMs also emit the backward "
        f"message w_ij e_j tanh'(u_i): {cfg.steps} Adam steps x {cfg.seeds} seeds on "
        f"{cfg.windows} teacher-forced {cfg.window}-example windows per step, each starting "
        f"at a snapshot of {cfg.bank_streams} teacher runs of {cfg.bank_steps} examples on "
        f"{cfg.train_on} (times exp({cfg.spread} N(0, 1))); then run forward-only, without the "
        f"teacher, on {cfg.eval_streams} held-out {cfg.eval_steps}-example streams per family "
        f"and seed, next to backprop itself from the same weights. `final_accuracy`: online "
        f"accuracy over the last {tail} examples; `clone/trace/<error>/<layer>/<t>`: RMS "
        f"errors of the free-running clone against backprop on its own weights at example t."
    )
    rundir.write_report("VS-ML cloning backprop (deep)", what, summary)
    return summary


def _claims(curves: dict[str, dict[str, np.ndarray]], cfg: CloneConfig) -> list[dict]:
    """``vsml-deep-clone/<family>``: online accuracy over the whole stream, clone minus
    backprop on the same streams from the same weights; bootstrap over streams within seeds."""
    claims = []
    for name in cfg.families:
        a, b = (curves[who][name].mean(axis=2) for who in ("clone", "sgd"))
        seen = "seen" if name == cfg.train_on else "unseen"
        claims.append(record_claim(
            f"vsml-deep-clone/{name}", paired(a, b, unit="tasks", direction="at-least",
                                              margin=cfg.margin),
            paper="Kirsch & Schmidhuber 2021 (VS-ML)",
            claim="a VS-ML rule can implement backprop: cloned, it learns forward-only as "
                  "well as backprop", metric=f"online accuracy over {cfg.eval_steps} examples "
            f"of {seen} family {name}, deep clone - backprop on the same network, streams and "
            f"start; at least -{cfg.margin}", regime=regime(cfg),
            figure="Fig 3 (MNIST 87/90%, Fashion 76/80% deep/shallow, secondary summary)",
            means=(float(a.mean()), float(b.mean()))))
    return claims


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
        seen = "seen" if name == cfg.train_on else "unseen"
        ax.set(title=f"{name} ({seen})", xlabel="example in stream", ylabel="online accuracy")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Forward-only deep clone vs backprop (moving average of {window})")
    fig.tight_layout()
    rundir.save_figure(fig, "clone_curves")


def _trace(metas, cfg: CloneConfig, classes: int, key: jax.Array):
    """``deep_scan`` of every seed's clone running freely next to backprop from the same
    weights on ``--eval-streams`` held-out streams of the cloning family: [seeds, streams, T,
    (layers)]."""
    sizes = (cfg.n_in, *cfg.hidden, classes)
    return over_streams(
        lambda meta, k, stream: deep_scan(meta, teacher_init(k, sizes), stream, cfg.alpha,
                                          cfg.scale, forced=False),
        metas, jax.random.split(key, cfg.seeds), load_family(cfg.train_on, "test"),
        cfg.eval_streams, cfg.eval_steps, classes, cfg.n_in)


def _trace_figure(rundir: RunDir, trace, cfg: CloneConfig) -> None:
    """Where the free-running clone departs from backprop, per example and layer (mean over
    seeds and streams)."""
    fig, axes = subplots(1, 3, figsize=(11, 3.2), squeeze=False)
    t = np.arange(trace.readout.shape[2])
    mean = lambda a: a.mean(axis=(0, 1))  # noqa: E731
    layers = trace.readout.shape[-1]
    ax = axes[0, 0]
    for k in range(layers):
        ax.plot(t, mean(trace.scale_w)[:, k], label=f"clone: stored w, layer {k + 1}")
        ax.plot(t, mean(trace.scale_teacher)[:, k], ":", label=f"backprop: w, layer {k + 1}")
    ax.set(title="stored weights (RMS)", xlabel="example in stream")
    ax = axes[0, 1]
    for k in range(layers):
        ax.plot(t, mean(trace.readout)[:, k], label=f"read-out, layer {k + 1}")
        ax.plot(t, mean(trace.update_w)[:, k], label=f"dw/alpha + tanh(u) e, layer {k + 1}")
        if k < layers - 1 or layers == 1:
            ax.plot(t, mean(trace.backward)[:, k], label=f"backward message, layer {k + 1}")
    ax.plot(t, mean(trace.update_size)[:, -1], "k:", label="tanh(u) e, top layer")
    ax.set(title="errors against backprop on its own w (RMS)", xlabel="example in stream",
           yscale="log")
    ax = axes[0, 2]
    window = min(50, len(t))
    kernel = np.ones(window) / window
    for name, a in (("clone", trace.correct), ("backprop", trace.correct_teacher)):
        ax.plot(t[window - 1:], np.convolve(mean(a), kernel, mode="valid"), label=name)
    ax.set(title="online accuracy (same start)", xlabel="example in stream")
    for ax in axes[0]:
        ax.legend(fontsize=6)
    fig.suptitle(f"Free-running clone next to backprop on {cfg.train_on}")
    fig.tight_layout()
    rundir.save_figure(fig, "clone_trace")


EXPERIMENT = Experiment(
    name="vsml-backprop",
    description="VS-ML rule cloned from online backprop (two layers, backward messages), run "
                "forward-only for 2,000 examples, compared with backprop",
    expected_time="25 min",  # 24 min on one core, the other busy (benchmarks/RESULTS.md)
    quick_time="3 min",  # 158 s on one core, cold cache, -O2 (benchmarks/RESULTS.md)
    config=CloneConfig,
    run=run,
    seeding="vmapped",
    smoke=("--families", "digits", "--hidden", "3", "--steps", "2", "--seeds", "1",
           "--windows", "1", "--window", "4", "--bank-streams", "2", "--bank-steps", "8",
           "--every", "4", "--n-in", "2", "--n-classes", "2", "--eval-steps", "4",
           "--eval-streams", "1", *SMOKE_CADENCE),
    summary_keys=("chance/digits", "clone/digits/final_accuracy",
                  "clone/digits/online_accuracy", "sgd/digits/online_accuracy",
                  "clone/final_accuracy", "sgd/final_accuracy", "clone/final_loss",
                  "clone/train_seconds"),
)
