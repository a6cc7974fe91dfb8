"""``metalab run vsml``: VS-ML rules meta-trained on one data family, evaluated as online
learners on every family (Kirsch & Schmidhuber, NeurIPS 2021, "Meta learning backpropagation
and improving it", section 4: Figures 6 and 8).

For each family in ``--train-on`` a VS-ML rule (one sub-LSTM shared by every weight) is
meta-trained, for ``--seeds`` seeds at once, to minimise the cumulative online cross-entropy
of streams of that family; then every rule learns fresh streams of every family in
``--families`` forward-only, giving the train-on x evaluate-on matrix of online accuracy. On
the first training family the same budget also trains a VS-ML rule with the other meta-
optimiser (ES vs gradients), a Meta-RNN and a Hebbian layer; online SGD and Adam (best rate of
a grid per family, an oracle choice) and the untrained rule complete the learning curves.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import jax
import numpy as np

from metalab.errors import flag, require, require_cadence
from metalab.experiments.vsml import plots
from metalab.experiments.vsml.claims import unseen_claims
from metalab.experiments.vsml.paper import PAPER
from metalab.learners.base import Meta
from metalab.learners.online import OnlineLearner
from metalab.runs.curves import training_curves
from metalab.runs.experiment import SMOKE_CADENCE, Experiment, preset
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import report_section
from metalab.runs.stage import train_stage
from metalab.stats import mean_ci95
from metalab.tasks.download import data_dir
from metalab.tasks.families import BUILTIN, Family, load_family
from metalab.tasks.online import stream_classes
from metalab.training import seed_keys
from metalab.vsml import (
    chunk_for,
    hebbian,
    init_train_state,
    make_step,
    meta_optimizer,
    meta_rnn,
    online_adam,
    online_sgd,
    stream_loss,
    vsml,
)
from metalab.vsml.evaluate import best_rate_curves, online_curves, stack, stream_keys
from metalab.vsml.train import MetaOptimizer

Baseline = Literal["sgd", "adam", "meta-rnn", "hebbian", "untrained"]
@dataclass(frozen=True)
class VSMLConfig:
    """Settings of ``metalab run vsml``."""

    train_on: tuple[str, ...] = ("digits", "mnist1d", "sum")
    """families to meta-train a rule on (rows of the generalisation matrix)"""
    families: tuple[str, ...] = ("digits", "iris", "wine", "breast_cancer", "mnist1d",
                                 "omniglot", "random", "sum")
    """families to evaluate online learning on (columns); `file` reads --data-file"""
    omniglot: str = ""
    """folder of the official Omniglot zips (family `omniglot`: background characters);
    default $METALAB_DATA/omniglot, else ~/.cache/metalab/data/omniglot"""
    omniglot_size: int = 8
    """Omniglot images are downsampled to this many pixels a side"""
    data_file: str | None = None
    """an .npz (x, y) or IDX images file, for family `file`"""
    meta_optimizer: MetaOptimizer = "grad"
    """how the rules are meta-trained: backprop through the streams (grad) or antithetic ES"""
    compare: bool = True
    """also meta-train a rule with the other meta-optimiser on the first family, same budget"""
    baselines: tuple[Baseline, ...] = ("sgd", "adam", "meta-rnn", "hebbian", "untrained")
    steps: int = 2000
    """meta-steps per rule"""
    seeds: int = 3
    """independent meta-trainings per rule (trained together, in one program)"""
    stream_steps: int = 100
    """examples per meta-training stream"""
    n_in: int = 16
    """inputs of the network (every stream is randomly projected to this size)"""
    n_classes: int = 5
    """classes per stream (fewer when a family has fewer)"""
    hidden: tuple[int, ...] = ()
    """hidden layer widths of the VS-ML network and the SGD / Adam baselines"""
    episodes: int = 8
    """streams per meta-gradient (grad)"""
    population: int = 16
    """antithetic pairs per ES step (each on one shared stream: about grad's cost per step)"""
    sigma: float = 0.05
    es_lr: float = 0.1
    """Adam rate for ES. The paper's 0.025 goes with 1,024 pairs; with 16 the estimate's cosine
    with the gradient is ~sqrt(16 / 2384) = 0.08 (measured), Adam normalises the noise away,
    and 0.025 stays on the initial plateau for 400 steps (held-out 0.21); 0.1 leaves it
    (0.65), 0.3 is unstable"""
    grad_lr: float = 0.03
    """Adam rate for the VS-ML rule's gradient meta-training (the paper's 1e-3 sits on the
    initial plateau far longer than this budget)"""
    baseline_lr: float = 0.003
    """Adam rate for the Meta-RNN and Hebbian baselines' gradient meta-training"""
    clip: float = 25.0
    rnn_hidden: int = 64
    sgd_rates: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
    adam_rates: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1)
    eval_steps: int = 500
    """examples per evaluation stream (longer than training: does learning continue?)"""
    eval_streams: int = 64
    """evaluation streams per family and seed"""
    log_every: int = 50
    checkpoint_every: int = 200
    seed: int = 0
    regime: Literal["ours", "paper"] = "ours"
    """`paper`: the paper's layer sizes, ES population and streams (``paper.PAPER``; a GPU
    job) for every option left at its default"""
    quick: bool = False
    """reduced budget (about 10 minutes on 2 busy CPU cores)"""

    def __post_init__(self) -> None:
        known = (*BUILTIN, "file")
        for name, option in ((n, "--train-on") for n in self.train_on):
            require(name in known, option, f"unknown family {name!r}; choose from {known}")
        for name in self.families:
            require(name in known, "--families", f"unknown family {name!r}; choose from {known}")
        require(len(self.train_on) > 0, "--train-on", "give at least one family")
        require(len(self.families) > 0, "--families", "give at least one family")
        used = set(self.train_on) | set(self.families)
        if "omniglot" in used:
            folder = data_dir(self.omniglot or None)
            require(folder.is_dir(), "--omniglot",
                    f"{folder} is not a folder; give the folder of the Omniglot zips, fetch "
                    "them with `metalab data fetch omniglot`, or drop omniglot from "
                    "--families and --train-on")
        if "file" in used:
            require(self.data_file is not None and Path(self.data_file).is_file(),
                    "--data-file", "family `file` needs an existing .npz or IDX file")
        if "mnist1d" in used:
            try:
                import mnist1d  # noqa: F401
            except ImportError:
                require(False, "--families", "mnist1d needs `pip install 'metalab[mnist1d]'`; "
                        "or drop mnist1d from --families and --train-on")
        for name in ("steps", "seeds", "stream_steps", "n_in", "episodes", "population",
                     "rnn_hidden", "eval_steps", "eval_streams", "log_every", "omniglot_size"):
            require(getattr(self, name) > 0, flag(name), "must be a positive integer")
        require(self.n_classes >= 2, "--n-classes", "must be at least 2")
        for name in ("sigma", "es_lr", "grad_lr", "baseline_lr", "clip"):
            require(getattr(self, name) > 0, flag(name), "must be positive")
        require(all(h > 0 for h in self.hidden), "--hidden", "layer widths must be positive")
        require(len(self.sgd_rates) > 0 and min(self.sgd_rates) > 0, "--sgd-rates",
                "give positive rates")
        require(len(self.adam_rates) > 0 and min(self.adam_rates) > 0, "--adam-rates",
                "give positive rates")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> VSMLConfig:
        """The configuration run; ``quick`` trains on digits and sum only, for fewer steps."""
        if self.regime == "paper" and preset(self, PAPER) != self:  # then quick, if set
            return preset(self, PAPER).resolved()
        if not self.quick:
            return self
        return replace(self, train_on=tuple(f for f in self.train_on if f in ("digits", "sum"))
                       or self.train_on[:1], steps=min(self.steps, 400),
                       eval_steps=min(self.eval_steps, 200),
                       eval_streams=min(self.eval_streams, 32),
                       sgd_rates=self.sgd_rates[1::2] or self.sgd_rates,
                       adam_rates=self.adam_rates[1::2] or self.adam_rates)


def learned(name: str, cfg: VSMLConfig) -> OnlineLearner:
    """The meta-trained learners by name."""
    if name == "meta-rnn":
        return meta_rnn(cfg.n_in, cfg.n_classes, cfg.rnn_hidden)
    if name == "hebbian":
        return hebbian(cfg.n_in, cfg.n_classes)
    return vsml(cfg.hidden)


def meta_train_rule(stage: str, learner: OnlineLearner, family: Family, method: str, lr: float,
          cfg: VSMLConfig, rundir: RunDir) -> tuple[Meta, float]:
    """Meta-train ``learner`` on ``family`` for every seed; returns stacked meta-parameters
    [seeds, ...] and seconds."""
    episodes = cfg.episodes if method == "grad" else 1
    loss = stream_loss(learner, family, cfg.stream_steps, cfg.n_classes, cfg.n_in, episodes,
                       remat=method == "grad")
    optimizer = meta_optimizer(method, lr, cfg.clip)
    init_keys, run_keys = seed_keys(zlib.crc32(f"{cfg.seed}/{stage}".encode()), cfg.seeds)
    sizes = (cfg.n_in, *cfg.hidden, cfg.n_classes)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    step = make_step(loss, method, optimizer, run_keys, cfg.population, cfg.sigma,
                     chunk_for(weights))
    start = time.perf_counter()
    state = train_stage(rundir, stage, init_train_state(learner, optimizer, init_keys),
                        step, cfg.steps, chunk=cfg.log_every,
                        checkpoint_every=cfg.checkpoint_every)
    return state.meta, time.perf_counter() - start


def run(cfg: VSMLConfig, rundir: RunDir) -> dict[str, float]:
    """Meta-train the rules and baselines, evaluate all on every family, write figures."""
    opts = {"omniglot": cfg.omniglot, "size": cfg.omniglot_size, "data_file": cfg.data_file}
    train_fams = {f: load_family(f, "train", **opts) for f in cfg.train_on}
    eval_fams = {f: load_family(f, "test", **opts) for f in cfg.families}
    first, other = cfg.train_on[0], "es" if cfg.meta_optimizer == "grad" else "grad"
    lr = {"grad": cfg.grad_lr, "es": cfg.es_lr}
    summary: dict[str, float] = {}

    rules: dict[str, Meta] = {}
    for f in cfg.train_on:
        rules[f], secs = meta_train_rule(f"vsml-{f}", vsml(cfg.hidden), train_fams[f],
                                         cfg.meta_optimizer, lr[cfg.meta_optimizer], cfg, rundir)
        summary[f"matrix/{f}/train_seconds"] = secs
    metas: dict[str, Meta] = {"vsml": rules[first]}
    summary["vsml/train_seconds"] = summary[f"matrix/{first}/train_seconds"]
    if cfg.compare:
        metas[f"vsml-{other}"], summary[f"vsml-{other}/train_seconds"] = meta_train_rule(
            f"vsml-{other}-{first}", vsml(cfg.hidden), train_fams[first], other, lr[other],
            cfg, rundir)
    for name in ("meta-rnn", "hebbian"):
        if name in cfg.baselines:
            rate = cfg.baseline_lr if cfg.meta_optimizer == "grad" else cfg.es_lr
            metas[name], summary[f"{name}/train_seconds"] = meta_train_rule(
                f"{name}-{first}", learned(name, cfg), train_fams[first], cfg.meta_optimizer,
                rate, cfg, rundir)
    if "untrained" in cfg.baselines:
        init_keys = jax.random.split(jax.random.PRNGKey(cfg.seed + 1), cfg.seeds)
        metas["untrained"] = jax.vmap(vsml(cfg.hidden).init)(init_keys)

    eval_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6)
    shape = (cfg.eval_streams, cfg.eval_steps, cfg.n_classes, cfg.n_in)
    same_rule = [n for n in metas if n != "vsml" and n.startswith(("vsml", "untrained"))]
    rows = [rules[f] for f in cfg.train_on] + [metas[n] for n in same_rule]
    curves: dict[str, dict[str, np.ndarray]] = {}
    matrix = np.zeros((len(cfg.train_on), len(cfg.families)))
    for j, fam in enumerate(cfg.families):
        key, family = jax.random.fold_in(eval_key, j), eval_fams[fam]
        summary[f"chance/{fam}"] = 1.0 / stream_classes(family, cfg.n_classes)
        every = online_curves(vsml(cfg.hidden), stack(*rows),
                              stream_keys(key, cfg.seeds, len(rows)), family, *shape)
        blocks = np.split(every, len(rows))
        matrix[:, j] = [b.mean() for b in blocks[: len(cfg.train_on)]]
        for f, value in zip(cfg.train_on, matrix[:, j], strict=True):
            summary[f"matrix/{f}/{fam}/online_accuracy"] = value
        curves.setdefault("vsml", {})[fam] = blocks[0]
        for name, block in zip(same_rule, blocks[len(cfg.train_on):], strict=True):
            curves.setdefault(name, {})[fam] = block
        for name in ("meta-rnn", "hebbian"):
            if name in metas:
                curves.setdefault(name, {})[fam] = online_curves(
                    learned(name, cfg), metas[name], stream_keys(key, cfg.seeds), family, *shape)
        for name, make, rates in (("sgd", online_sgd, cfg.sgd_rates),
                                  ("adam", online_adam, cfg.adam_rates)):
            if name in cfg.baselines:
                curves.setdefault(name, {})[fam], summary[f"{name}/{fam}/best_lr"] = (
                    best_rate_curves(lambda r, make=make: make(r, cfg.hidden), rates, cfg.seeds,
                                     key, family, *shape))
    for name, per_family in curves.items():
        for fam, c in per_family.items():
            mean, ci = mean_ci95(c.mean(axis=(1, 2)))  # over seeds
            summary[f"{name}/{fam}/online_accuracy"] = mean
            summary[f"{name}/{fam}/online_accuracy_ci95"] = ci
        unseen = [f for f in cfg.families if f != first]
        if unseen:
            summary[f"{name}/unseen_accuracy"] = float(np.mean(
                [summary[f"{name}/{f}/online_accuracy"] for f in unseen]))

    training_curves(rundir, ylabel="online cross-entropy (meta-training streams)")
    plots.generalisation_matrix(rundir, matrix, cfg.train_on, cfg.families,
                                [summary[f"chance/{f}"] for f in cfg.families])
    plots.learning_curves(rundir, curves, [summary[f"chance/{f}"] for f in cfg.families])
    plots.introspection(rundir, vsml(cfg.hidden), jax.tree.map(lambda a: a[0], rules[first]),
                        eval_fams[first], cfg, first)
    claims = unseen_claims(curves, cfg.families, first, cfg)
    rundir.write_summary("vsml", summary, claims=claims)
    what = (
        f"VS-ML (Kirsch & Schmidhuber 2021): one sub-LSTM (state 16, messages 8, 2 micro-ticks)"
        f" shared by every weight of a {'-'.join(map(str, (cfg.n_in, *cfg.hidden)))}-C network,"
        f" meta-trained by `{cfg.meta_optimizer}` for {cfg.steps} steps x {cfg.seeds} seeds on "
        f"{cfg.stream_steps}-example streams of each of {', '.join(cfg.train_on)} (fresh "
        f"projection to {cfg.n_in} inputs and fresh labels per stream, {cfg.n_classes} classes "
        f"or fewer). Online accuracy: the fraction of predictions right before the label is "
        f"revealed, averaged over {cfg.eval_streams} held-out {cfg.eval_steps}-example streams "
        f"per seed (test split of every family), mean and SEM over seeds. `vsml` is the rule "
        f"meta-trained on {first}; `vsml/unseen_accuracy` averages the families other than "
        f"{first}. SGD and Adam use the best rate of a grid on the evaluation streams "
        "(favouring them); Meta-RNN and Hebbian are meta-trained like `vsml`."
    )
    rundir.write_report("VS-ML: learned learning rules across data families", what, summary,
                        report_section(claims))
    return summary


EXPERIMENT = Experiment(
    name="vsml",
    description="VS-ML learned learning rules: meta-train on one family, learn others online",
    expected_time="60 min",  # 61 min (2026-12-01, seeds 3) at load 5-10 on 2 shared cores
    quick_time="10 min",  # 10.4 min at load 3-9; 37.8 min (7.8 min CPU) at load 20-29
    config=VSMLConfig,
    run=run,
    seeding="vmapped",
    smoke=("--train-on", "sum", "--families", "sum", "--no-compare", "--baselines", "sgd",
           "--sgd-rates", "0.1", "--steps", "2", "--seeds", "1", "--stream-steps", "4",
           "--episodes", "1", "--population", "2", "--eval-steps", "4", "--eval-streams", "1",
           "--n-in", "2", "--n-classes", "2", *SMOKE_CADENCE),
    summary_keys=("chance/sum", "vsml/train_seconds", "matrix/sum/sum/online_accuracy",
                  "vsml/sum/online_accuracy", "vsml/sum/online_accuracy_ci95", "sgd/sum/best_lr",
                  "sgd/sum/online_accuracy"),
)
