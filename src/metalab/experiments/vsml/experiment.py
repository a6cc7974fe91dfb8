"""``metalab run vsml``: VS-ML rules meta-trained on one data family, evaluated as online
learners on every family (Kirsch & Schmidhuber, NeurIPS 2021, "Meta learning backpropagation
and improving it", section 4: Figures 6 and 8).

For each family in ``--train-on`` a VS-ML rule (one sub-LSTM shared by every weight) is
meta-trained, for ``--seeds`` seeds at once, to minimise the cumulative online cross-entropy
of streams of that family; then every rule learns fresh streams of every family in
``--families`` forward-only, giving the train-on x evaluate-on matrix of online accuracy.
The families other than the first training family are split into meta-validation
(``--validation``) and test families; the claims use the test families only. On the first
training family the same budget also trains a VS-ML rule with the other meta-optimiser (ES vs
gradients), a Meta-RNN, a Hebbian layer and Meta-SGD; online SGD and Adam on the rule's
network and on a dense net of the rule's capacity take the rate of a grid chosen per family
on validation streams; a label-frequency predictor is the floor.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import jax
import numpy as np

from metalab.errors import require, require_cadence, require_fields
from metalab.experiments.vsml import plots
from metalab.experiments.vsml.claims import LOO, unseen_claims
from metalab.experiments.vsml.paper import PAPER
from metalab.learners.base import Meta
from metalab.learners.online import OnlineLearner
from metalab.runs.curves import training_curves
from metalab.runs.experiment import SMOKE_CADENCE, Experiment, preset
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import report_section
from metalab.runs.stage import train_stage
from metalab.tasks.download import data_dir
from metalab.tasks.families import BUILTIN, Family, load_family
from metalab.tasks.online import stream_classes
from metalab.training import seed_keys
from metalab.vsml import (
    accuracy_summary,
    chunk_for,
    hebbian,
    init_train_state,
    make_step,
    meta_optimizer,
    meta_rnn,
    mixture_loss,
    online_adam,
    online_sgd,
    stream_loss,
    vsml,
)
from metalab.vsml.baselines import label_frequency, matched_hidden, meta_sgd
from metalab.vsml.evaluate import online_curves, rate_curves, stack, stream_keys, tune_rate
from metalab.vsml.train import MetaOptimizer

Baseline = Literal["sgd", "adam", "sgd-mlp", "adam-mlp", "meta-sgd", "meta-rnn", "hebbian",
                   "label-frequency", "untrained"]
HAND_MADE = {"sgd": online_sgd, "adam": online_adam, "sgd-mlp": online_sgd,
             "adam-mlp": online_adam}


@dataclass(frozen=True)
class VSMLConfig:
    """Settings of ``metalab run vsml``."""

    train_on: tuple[str, ...] = ("digits", "sum")
    """families to meta-train a rule on (rows of the generalisation matrix); the first is the
    meta-training family of the rule, the baselines and the claims"""
    families: tuple[str, ...] = ("digits", "iris", "wine", "breast_cancer", "mnist1d",
                                 "omniglot", "random", "sum")
    """families to evaluate online learning on (columns); `file` reads --data-file"""
    validation: tuple[str, ...] | None = None
    """meta-validation families among --families (reported as `<name>/validation_accuracy`,
    the key to choose meta-training settings on); the others, bar the first --train-on
    family, are the test families of the claims. Default: those of wine and mnist1d that are
    in --families"""
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
    baselines: tuple[Baseline, ...] = ("sgd", "adam", "sgd-mlp", "adam-mlp", "meta-sgd",
                                       "meta-rnn", "hebbian", "label-frequency", "untrained")
    """sgd / adam: online on the rule's network; sgd-mlp / adam-mlp: on a dense net with a
    tanh hidden layer of the rule's capacity (--mlp-hidden); meta-sgd: that net's start and
    per-weight rates meta-learned like the rule; label-frequency: the floor"""
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
    and 0.025 stays on the initial plateau for 400 steps (0.21 on held-out streams of the
    meta-training family, digits); 0.1 leaves it (0.65), 0.3 is unstable"""
    grad_lr: float = 0.03
    """Adam rate for the VS-ML rule's gradient meta-training (the paper's 1e-3 sits on the
    initial plateau far longer than this budget)"""
    baseline_lr: float = 0.003
    """Adam rate for the Meta-RNN, Hebbian and Meta-SGD baselines' gradient meta-training"""
    clip: float = 25.0
    rnn_hidden: int = 64
    sgd_rates: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
    adam_rates: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1)
    rate_widen: int = 2
    """while a baseline's best rate is at an edge of its grid, try one more beyond it, at
    most this many times (`<name>/<family>/lr_at_edge` says whether it still is)"""
    validation_streams: int = 16
    """validation streams per family and seed (train split, never reported) to choose each
    hand-made baseline's rate on"""
    mlp_hidden: int = 0
    """hidden width of sgd-mlp, adam-mlp and meta-sgd; 0: as many parameters as the rule's
    network has fast state numbers (h and c of every sub-LSTM; 116 for 16 -> 5)"""
    eval_steps: int = 500
    """examples per evaluation stream (longer than training: does learning continue?)"""
    eval_streams: int = 64
    """evaluation streams per family and seed"""
    leave_one_out: bool = False
    """also meta-train, for each of --families, a rule on all the others (train splits) and
    test it on the one left out (claim vsml-leave-one-out)"""
    loo_steps: int = 500
    """meta-steps of each leave-one-out rule (one per family: 8 rules at the defaults)"""
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
        require_fields(self, positive_int=("steps", "seeds", "stream_steps", "n_in", "episodes",
                                           "population", "rnn_hidden", "eval_steps",
                                           "eval_streams", "log_every", "omniglot_size",
                                           "validation_streams", "loo_steps"),
                       at_least={"n_classes": 2},
                       positive=("sigma", "es_lr", "grad_lr", "baseline_lr", "clip"))
        require(all(h > 0 for h in self.hidden), "--hidden", "layer widths must be positive")
        require_fields(self, non_negative=("rate_widen", "mlp_hidden"))
        for name in self.validation or ():
            require(name in self.families and name != self.train_on[0], "--validation",
                    f"{name!r} must be one of --families other than the first --train-on "
                    "family; name validation families from --families, or none (`--validation`"
                    " alone)")
        require(len(self.sgd_rates) > 0 and min(self.sgd_rates) > 0, "--sgd-rates",
                "give positive rates")
        require(len(self.adam_rates) > 0 and min(self.adam_rates) > 0, "--adam-rates",
                "give positive rates")
        require_cadence(self.log_every, self.checkpoint_every)

    @property
    def validation_families(self) -> tuple[str, ...]:
        """--validation, or by default wine and mnist1d where they are in --families."""
        if self.validation is not None:
            return self.validation
        return tuple(f for f in ("wine", "mnist1d") if f in self.families
                     and f != self.train_on[0])

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
                       validation_streams=min(self.validation_streams, 8),
                       sgd_rates=self.sgd_rates[1::2] or self.sgd_rates,
                       adam_rates=self.adam_rates[1::2] or self.adam_rates)


def rule_weights(cfg: VSMLConfig) -> int:
    """Sub-LSTMs of the rule's network at --n-in and --n-classes."""
    sizes = (cfg.n_in, *cfg.hidden, cfg.n_classes)
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def mlp_width(cfg: VSMLConfig) -> int:
    """Hidden width of the capacity-matched dense net (``baselines.matched_hidden``)."""
    return cfg.mlp_hidden or matched_hidden(cfg.n_in, cfg.n_classes, rule_weights(cfg))


def learned(name: str, cfg: VSMLConfig) -> OnlineLearner:
    """The meta-trained learners by name."""
    if name == "meta-sgd":
        return meta_sgd(cfg.n_in, cfg.n_classes, (mlp_width(cfg),))
    if name == "meta-rnn":
        return meta_rnn(cfg.n_in, cfg.n_classes, cfg.rnn_hidden)
    if name == "hebbian":
        return hebbian(cfg.n_in, cfg.n_classes)
    return vsml(cfg.hidden)


def meta_train_rule(stage: str, learner: OnlineLearner, family: Family | list[Family],
                    method: str, lr: float, cfg: VSMLConfig, rundir: RunDir,
                    steps: int | None = None) -> tuple[Meta, float]:
    """Meta-train ``learner`` on ``family`` (or on a list of families, --episodes shared out
    among them) for every seed and ``steps`` (default --steps); returns stacked
    meta-parameters [seeds, ...] and seconds."""
    families = family if isinstance(family, list) else [family]
    episodes = max(1, cfg.episodes // len(families)) if method == "grad" else 1
    loss = mixture_loss([stream_loss(learner, f, cfg.stream_steps, cfg.n_classes, cfg.n_in,
                                     episodes, remat=method == "grad") for f in families])
    optimizer = meta_optimizer(method, lr, cfg.clip)
    init_keys, run_keys = seed_keys(zlib.crc32(f"{cfg.seed}/{stage}".encode()), cfg.seeds)
    step = make_step(loss, method, optimizer, run_keys, cfg.population, cfg.sigma,
                     chunk_for(rule_weights(cfg)))
    start = time.perf_counter()
    state = train_stage(rundir, stage, init_train_state(learner, optimizer, init_keys),
                        step, steps or cfg.steps, chunk=cfg.log_every,
                        checkpoint_every=cfg.checkpoint_every)
    return state.meta, time.perf_counter() - start


def evaluate_family(cfg: VSMLConfig, rows: list[Meta], metas: dict[str, Meta], family: Family,
                    validation: Family, key: jax.Array, val_key: jax.Array,
                    summary: dict[str, float]) -> dict[str, np.ndarray]:
    """Correct predictions [seeds, streams, steps] of every learner on ``family``'s held-out
    streams (the VS-ML rules in ``rows`` stacked, one program); each hand-made baseline's
    rate is chosen on ``validation``'s streams from ``val_key`` and written to ``summary``."""
    shape = (cfg.eval_streams, cfg.eval_steps, cfg.n_classes, cfg.n_in)
    every = online_curves(vsml(cfg.hidden), stack(*rows),
                          stream_keys(key, cfg.seeds, len(rows)), family, *shape)
    out = dict(zip([*(f"matrix/{f}" for f in cfg.train_on),
                    *(n for n in metas if n.startswith(("vsml-", "untrained")))],
                   np.split(every, len(rows)), strict=True))
    for name in ("meta-sgd", "meta-rnn", "hebbian"):
        if name in metas:
            out[name] = online_curves(learned(name, cfg), metas[name],
                                      stream_keys(key, cfg.seeds), family, *shape)
    if "label-frequency" in cfg.baselines:
        out["label-frequency"] = online_curves(label_frequency(), {},
                                               stream_keys(key, cfg.seeds), family, *shape)
    for name, make in HAND_MADE.items():
        if name in cfg.baselines:
            hidden = (mlp_width(cfg),) if name.endswith("-mlp") else cfg.hidden
            rates = cfg.sgd_rates if name.startswith("sgd") else cfg.adam_rates
            grid = (cfg.seeds, val_key, validation, cfg.validation_streams, *shape[1:])
            rate, _, edge = tune_rate(lambda r, make=make, h=hidden: make(r, h), rates, *grid,
                                      widen=cfg.rate_widen)
            summary[f"{name}/{family.name}/best_lr"] = rate
            summary[f"{name}/{family.name}/lr_at_edge"] = float(edge)
            out[name] = rate_curves(lambda r, make=make, h=hidden: make(r, h), rate, cfg.seeds,
                                    key, family, *shape)
    return out


def leave_one_out(cfg: VSMLConfig, split: dict[str, dict[str, Family]], eval_key: jax.Array,
                  curves: dict[str, dict[str, np.ndarray]], summary: dict[str, float],
                  rundir: RunDir) -> list[dict]:
    """For each family, a rule meta-trained on the train splits of all the others, on the
    held-out streams every other learner saw; claims against the hand-made baselines."""
    for j, fam in enumerate(cfg.families):
        others = [split["train"][f] for f in cfg.families if f != fam]
        meta, summary[f"loo/{fam}/train_seconds"] = meta_train_rule(
            f"loo-{fam}", vsml(cfg.hidden), others, cfg.meta_optimizer,
            cfg.grad_lr if cfg.meta_optimizer == "grad" else cfg.es_lr, cfg, rundir,
            cfg.loo_steps)
        curves.setdefault(LOO, {})[fam] = online_curves(
            vsml(cfg.hidden), meta, stream_keys(jax.random.fold_in(eval_key, j), cfg.seeds),
            split["test"][fam], cfg.eval_streams, cfg.eval_steps, cfg.n_classes, cfg.n_in)
        summary[f"loo/{fam}/online_accuracy"] = float(curves[LOO][fam].mean())
    return unseen_claims(curves, cfg.families, "all other families",
                         tuple(b for b in HAND_MADE if b in cfg.baselines), cfg, rule=LOO)


def run(cfg: VSMLConfig, rundir: RunDir) -> dict[str, float]:
    """Meta-train the rules and baselines, evaluate all on every family, write figures."""
    opts = {"omniglot": cfg.omniglot, "size": cfg.omniglot_size, "data_file": cfg.data_file}
    train_fams = {f: load_family(f, "train", **opts) for f in cfg.train_on}
    split = {s: {f: load_family(f, s, **opts) for f in cfg.families} for s in ("train", "test")}
    first, other = cfg.train_on[0], "es" if cfg.meta_optimizer == "grad" else "grad"
    validation = cfg.validation_families
    test = tuple(f for f in cfg.families if f != first and f not in validation)
    lr = {"grad": cfg.grad_lr, "es": cfg.es_lr}
    summary: dict[str, float] = {"mlp/hidden": float(mlp_width(cfg))}

    rules: dict[str, Meta] = {}
    for f in cfg.train_on:
        rules[f], secs = meta_train_rule(f"vsml-{f}", vsml(cfg.hidden), train_fams[f],
                                         cfg.meta_optimizer, lr[cfg.meta_optimizer], cfg, rundir)
        summary[f"matrix/{f}/train_seconds"] = secs
    metas: dict[str, Meta] = {}
    summary["vsml/train_seconds"] = summary[f"matrix/{first}/train_seconds"]
    if cfg.compare:
        metas[f"vsml-{other}"], summary[f"vsml-{other}/train_seconds"] = meta_train_rule(
            f"vsml-{other}-{first}", vsml(cfg.hidden), train_fams[first], other, lr[other],
            cfg, rundir)
    for name in ("meta-sgd", "meta-rnn", "hebbian"):
        if name in cfg.baselines:
            rate = cfg.baseline_lr if cfg.meta_optimizer == "grad" else cfg.es_lr
            metas[name], summary[f"{name}/train_seconds"] = meta_train_rule(
                f"{name}-{first}", learned(name, cfg), train_fams[first], cfg.meta_optimizer,
                rate, cfg, rundir)
    if "untrained" in cfg.baselines:
        init_keys = jax.random.split(jax.random.PRNGKey(cfg.seed + 1), cfg.seeds)
        metas["untrained"] = jax.vmap(vsml(cfg.hidden).init)(init_keys)

    eval_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6)
    val_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 2 * 10**6)
    rows = [rules[f] for f in cfg.train_on] + [
        m for n, m in metas.items() if n.startswith(("vsml-", "untrained"))]
    curves: dict[str, dict[str, np.ndarray]] = {}
    for j, fam in enumerate(cfg.families):
        summary[f"chance/{fam}"] = 1.0 / stream_classes(split["test"][fam], cfg.n_classes)
        per_learner = evaluate_family(cfg, rows, metas, split["test"][fam],
                                      split["train"][fam], jax.random.fold_in(eval_key, j),
                                      jax.random.fold_in(val_key, j), summary)
        for name, c in per_learner.items():
            curves.setdefault(name, {})[fam] = c
    curves["vsml"] = curves[f"matrix/{first}"]
    matrix = np.array([[curves[f"matrix/{f}"][fam].mean() for fam in cfg.families]
                       for f in cfg.train_on])
    for f, row in zip(cfg.train_on, matrix, strict=True):
        for fam, value in zip(cfg.families, row, strict=True):
            summary[f"matrix/{f}/{fam}/online_accuracy"] = float(value)
    curves = {n: c for n, c in curves.items() if not n.startswith("matrix/")}
    summary |= accuracy_summary(curves, test, validation)
    for fam in cfg.families:
        if "label-frequency" in curves:
            summary[f"floor/{fam}"] = summary[f"label-frequency/{fam}/online_accuracy"]

    training_curves(rundir, ylabel="online cross-entropy (meta-training streams)")
    floors = [summary.get(f"floor/{f}", summary[f"chance/{f}"]) for f in cfg.families]
    plots.generalisation_matrix(rundir, matrix, cfg.train_on, cfg.families, floors)
    plots.learning_curves(rundir, curves, [summary[f"chance/{f}"] for f in cfg.families])
    plots.introspection(rundir, vsml(cfg.hidden), jax.tree.map(lambda a: a[0], rules[first]),
                        split["test"][first], cfg, first)
    baselines = tuple(b for b in cfg.baselines if b != "untrained")
    claims = unseen_claims(curves, test, first, baselines, cfg)
    if cfg.leave_one_out:
        claims += leave_one_out(cfg, split, eval_key, curves, summary, rundir)
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
        f"meta-trained on {first}. Families: meta-training {first}; meta-validation "
        f"{', '.join(validation) or 'none'} (`<name>/validation_accuracy`: the key to "
        f"choose meta-training settings on; --es-lr and --grad-lr were chosen on held-out "
        f"{first} streams, never on a test family); test {', '.join(test) or 'none'} "
        f"(`<name>/unseen_accuracy` and the claims). SGD and Adam, on the rule's network and "
        f"on a dense net with {mlp_width(cfg)} tanh hidden units (`-mlp`, about the rule's "
        f"fast state), take per family the rate of their grid best on {cfg.validation_streams}"
        f" validation streams per seed drawn from the family's train split (never the "
        f"reported streams; `<name>/<family>/best_lr`, grid widened up to {cfg.rate_widen} "
        f"times at an edge, `lr_at_edge`); Meta-SGD (that dense net's start and per-weight "
        f"rates), Meta-RNN and Hebbian are meta-trained on {first} like `vsml`. "
        f"`floor/<family>`: the label-frequency predictor (most frequent label so far)."
    )
    rundir.write_report("VS-ML: learned learning rules across data families", what, summary,
                        report_section(claims))
    return summary


EXPERIMENT = Experiment(
    name="vsml",
    description="VS-ML learned learning rules: meta-train on one family, learn others online, "
                "against validation-tuned, capacity-matched and meta-learned baselines",
    expected_time="60 min",  # measured: 58 min on one core (benchmarks/RESULTS.md)
    quick_time="6 min",  # 338 s on one core, cold cache (benchmarks/RESULTS.md)
    config=VSMLConfig,
    run=run,
    seeding="vmapped",
    smoke=("--train-on", "sum", "--families", "sum", "iris", "random", "--validation", "iris",
           "--no-compare", "--baselines", "sgd", "sgd-mlp", "meta-sgd", "label-frequency",
           "--sgd-rates", "0.1", "--rate-widen", "1", "--mlp-hidden", "3", "--steps", "2",
           "--seeds", "1", "--stream-steps", "4", "--episodes", "1", "--population", "2",
           "--eval-steps", "4", "--eval-streams", "1", "--validation-streams", "1",
           "--n-in", "2", "--n-classes", "2", *SMOKE_CADENCE),
    summary_keys=("chance/sum", "floor/random", "mlp/hidden", "vsml/train_seconds",
                  "matrix/sum/sum/online_accuracy", "vsml/sum/online_accuracy",
                  "vsml/sum/online_accuracy_ci95", "vsml/unseen_accuracy",
                  "vsml/validation_accuracy", "sgd/sum/best_lr", "sgd/sum/lr_at_edge",
                  "sgd-mlp/random/best_lr", "meta-sgd/random/online_accuracy",
                  "sgd/sum/online_accuracy"),
)
