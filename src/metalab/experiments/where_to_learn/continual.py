"""Continual learning with meta-learned gradient sparsity (von Oswald et al. 2021, sec. 5): does
sparse-MAML's mask reduce interference between tasks learned one after another?

Each method meta-trains an initialisation (and, for sparse learners, a mask or rates) for a
stream of T tasks: the inner loop learns task 0, then 1, ... T-1, never revisiting; the outer
loss is the query loss on all T tasks at the end. Two streams:

* ``sine``: T sinusoids (the incremental sine waves of Javed and White 2019). By default the
  input is x alone; ``--index-input`` adds the function's one-hot index, which a mask can
  exploit trivially (each function gets its own first-layer weights), so it is off.
* ``omniglot``: class-incremental Omniglot, one new class per task with one shared T-way head
  (``streams.ClassStream``); classes of held-out alphabets at test.

On held-out streams we record R[t, j], the score on task j after learning tasks 0..t (query
MSE for sine, accuracy among the classes seen so far for Omniglot), and report per method,
as mean and 95% CI over training seeds:

    retained     mean_j R[T-1, j]       (all tasks seen, end of stream)
    learned      mean_j R[j, j]         (each task just after learning it)
    forgetting   mean_{j<T-1} of how much worse R[T-1, j] is than R[j, j]

``untrained`` is the same inner loop from the untrained initialisation, for scale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import numpy as np

from metalab.analysis.retention import mean_retention, seen_curve, stream_scores
from metalab.analysis.sparsity import mask_figure, mean_fractions, track_sparsity
from metalab.errors import require, require_cadence, require_fields
from metalab.estimators.stream import stream_backprop
from metalab.experiments.where_to_learn.claims import interference_claims
from metalab.experiments.where_to_learn.plots import update_fraction_curves
from metalab.learners import LEARNERS, Learner
from metalab.learners.base import SPARSE_UPDATES
from metalab.learners.sparse import update_gate
from metalab.models import mlp
from metalab.models.convnet import convnet
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import report_section
from metalab.runs.stage import train_seeds
from metalab.stats import mean_ci95
from metalab.tasks.episodes import Episodes
from metalab.tasks.fewshot import DEFAULT_DATA, check_classes, load_classes
from metalab.tasks.sine_stream import SineStream
from metalab.tasks.streams import ClassStream, SineWithoutIndex
from metalab.training import seed_keys, unstack
from metalab.training.optimizers import per_entry_adam
from metalab.training.seeds import meta_training


@dataclass(frozen=True)
class SparseContinualConfig:
    """Settings of ``metalab run continual``."""

    methods: tuple[str, ...] = ("maml", "sparse-maml", "sparse-relu-maml")
    """registered learners to meta-train for the stream (see `metalab.learners.LEARNERS`)"""
    stream: Literal["sine", "omniglot"] = "sine"
    """`sine`: sinusoid regression stream; `omniglot`: class-incremental Omniglot"""
    index_input: bool = False
    """sine: feed the function's one-hot index as an input (a leak a mask can exploit)"""
    seeds: int = 3
    """training seeds per method, trained as one vmapped program; scores are mean +- 95% CI
    over them"""
    estimator: str = "backprop"
    """`backprop` (through the whole stream) or `first-order`"""
    n_functions: int = 10
    """tasks per stream, learned one after another (sinusoids, or Omniglot classes)"""
    k_shot: int = 10
    """support (and query) points or images per task"""
    inner_steps: int = 5
    """inner updates on each task before moving to the next"""
    inner_lr: float = 0.02
    outer_lr: float = 1e-3
    mask_lr: float = 3e-3
    """outer learning rate of sparse-MAML's mask logits"""
    steps: int = 10000
    """meta-steps per method (on the sine stream every method's training loss is flat by
    5000: benchmarks/RESULTS.md)"""
    meta_batch: int = 8
    """streams per meta-step"""
    hidden: tuple[int, ...] = (40, 40)
    """sine: hidden widths of the MLP"""
    width: int = 16
    """omniglot: filters per block of the 4-block conv net"""
    data: str = DEFAULT_DATA
    """omniglot: folder with the Omniglot zips"""
    cache_dir: str = ""
    test_alphabets: int = 3
    """omniglot: alphabets held out for the evaluation streams"""
    eval_streams: int = 200
    log_every: int = 100
    checkpoint_every: int = 500
    seed: int = 0
    quick: bool = False
    """reduced budget for smoke tests (about 1 minute on 2 CPU cores)"""

    def __post_init__(self) -> None:
        require(len(self.methods) > 0, "--methods", "give at least one learner")
        for m in self.methods:
            require(m in LEARNERS, "--methods", f"unknown learner {m!r}; choose from "
                    f"{sorted(LEARNERS)}")
        require(self.estimator in ("backprop", "first-order"), "--estimator",
                "choose `backprop` or `first-order`")
        require_fields(self, positive_int=("n_functions", "k_shot", "inner_steps", "steps",
                                           "meta_batch", "eval_streams", "log_every", "seeds",
                                           "width"))
        require(self.n_functions >= 2, "--n-functions", "a stream needs at least 2 functions")
        require_fields(self, positive=("inner_lr", "outer_lr", "mask_lr"))
        require(all(h > 0 for h in self.hidden), "--hidden", "layer widths must be positive")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> SparseContinualConfig:
        """The configuration actually run: ``quick`` shrinks the budget."""
        if not self.quick:
            return self
        return replace(self, steps=min(self.steps, 300), eval_streams=min(self.eval_streams, 50),
                       log_every=50, checkpoint_every=300)


def streams(cfg: SparseContinualConfig):
    """(training stream distribution, held-out streams, model): sine or Omniglot classes."""
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6)
    if cfg.stream == "sine":
        sine = SineStream(cfg.n_functions, cfg.k_shot, cfg.k_shot)
        dist = sine if cfg.index_input else SineWithoutIndex(sine)
        return dist, dist.sample(key, cfg.eval_streams), mlp((dist.input_dim, *cfg.hidden, 1))
    train, test = load_classes("omniglot", cfg.data, cfg.cache_dir, cfg.test_alphabets, 0)
    check_classes(train, "training", cfg.n_functions, 2 * cfg.k_shot)
    check_classes(test, "test", cfg.n_functions, 2 * cfg.k_shot)

    def of(classes):
        return ClassStream(Episodes.of(classes, cfg.n_functions, cfg.k_shot, cfg.k_shot))

    model = convnet(cfg.n_functions, (28, 28, 1), width=cfg.width)
    return of(train), of(test).sample(key, cfg.eval_streams), model


def train(learner: Learner, stage: str, cfg: SparseContinualConfig, rundir: RunDir, dist):
    """Meta-train one method for the stream, every seed as one program; returns ([untrained
    meta per seed], [trained meta per seed], seconds compiling and training)."""
    optimizer = per_entry_adam(cfg.outer_lr, {"mask": cfg.mask_lr})
    task_map = "auto" if cfg.stream == "omniglot" else "vmap"  # the conv net: map on CPU
    estimator = track_sparsity(stream_backprop(cfg.estimator == "first-order", task_map),
                               learner)
    init, make_step = meta_training(learner, estimator, optimizer=optimizer, tasks=dist,
                                    meta_batch=cfg.meta_batch, inner_steps=cfg.inner_steps)
    state, _, cost = train_seeds(rundir, stage, init, make_step, cfg.seeds, seed=cfg.seed,
                                 steps=cfg.steps, chunk=cfg.log_every,
                                 checkpoint_every=cfg.checkpoint_every, probe=False)
    starts = [init(key).meta for key in seed_keys(cfg.seed, cfg.seeds)[0]]
    trained = [unstack(state, i).meta for i in range(cfg.seeds)]
    return starts, trained, cost.compile_s + cost.run_s


def run(cfg: SparseContinualConfig, rundir: RunDir) -> dict[str, float]:
    """Train every method per seed, measure retention on shared held-out streams, report."""
    dist, held_out, model = streams(cfg)
    accuracy = cfg.stream == "omniglot"
    loss = "cross_entropy" if accuracy else "mse"
    summary: dict[str, float] = {}
    matrices: dict[str, list[np.ndarray]] = {}
    for method in cfg.methods:
        learner = LEARNERS[method](model, cfg.inner_lr, loss)
        evaluate = mean_retention(learner, held_out, cfg.inner_steps, accuracy)
        starts, metas, seconds = train(learner, method, cfg, rundir, dist)
        if "untrained" not in matrices:
            matrices["untrained"] = [evaluate(m) for m in starts]
        matrices[method] = [evaluate(m) for m in metas]
        summary[f"{method}/train_seconds"] = seconds
        if SPARSE_UPDATES in learner.properties:
            for layer, f in mean_fractions(learner, metas).items():
                summary[f"{method}/update_fraction/{layer}"] = f
            rundir.save_figure(mask_figure(update_gate(learner, metas[0]), f"{method}: weights "
                                           "the inner loop updates (seed 0)"), f"mask_{method}")
    paired_scores: dict[str, dict[str, list[float]]] = {}  # same seeds and streams
    for method, rs in matrices.items():
        per_seed = [stream_scores(r, accuracy, "accuracy" if accuracy else "mse") for r in rs]
        for k in per_seed[0]:
            summary[f"{method}/{k}"], summary[f"{method}/{k}_ci95"] = mean_ci95(
                [p[k] for p in per_seed])
            paired_scores.setdefault(k, {})[method] = [p[k] for p in per_seed]
    kept = ("forgetting", "retained_accuracy" if accuracy else "retained_mse")
    claims = interference_claims({k: paired_scores[k] for k in kept}, cfg.stream, cfg)
    mean_matrices = {m: np.mean(rs, axis=0) for m, rs in matrices.items()}
    _plot_retention(rundir, mean_matrices, accuracy)
    update_fraction_curves(rundir)
    rundir.write_summary("continual", summary, claims=claims)
    rundir.write_report("Continual learning: does gradient sparsity reduce interference?",
                        _describe(cfg), summary,
                        [_verdict(summary, accuracy, claims), *report_section(claims)])
    return summary


def _describe(cfg: SparseContinualConfig) -> str:
    what = (f"class-incremental Omniglot ({cfg.n_functions} new classes, one per task, one "
            f"shared head; conv net width {cfg.width}; test streams from {cfg.test_alphabets} "
            "held-out alphabets; accuracy among the classes seen so far)"
            if cfg.stream == "omniglot" else
            f"{cfg.n_functions} sinusoids (input: x"
            f"{' and the function one-hot index' if cfg.index_input else ' only'})")
    return (
        f"Streams of {what}, {cfg.seeds} training seeds from {cfg.seed} (mean and `_ci95`: 95% "
        f"CI half-width over seeds); "
        f"{cfg.k_shot} support points each, learned in order with {cfg.inner_steps} inner "
        f"steps at lr {cfg.inner_lr}. Methods {', '.join(cfg.methods)} meta-trained for "
        f"{cfg.steps} steps (meta-batch {cfg.meta_batch}, Adam {cfg.outer_lr}, mask lr "
        f"{cfg.mask_lr}, estimator `{cfg.estimator}` through the whole stream) to minimise the "
        f"query MSE on all functions at the end; evaluated on {cfg.eval_streams} held-out "
        "streams. Retained: mean over all tasks at the end; learned: each task right after "
        "learning it; forgetting: how much worse the former is than the latter."
    )


def _verdict(summary: dict[str, float], accuracy: bool, claims: list[dict]) -> str:
    """One paragraph that states what the numbers say about the interference claim, decided
    by the paired differences of sparse-MAML against MAML (``claims``)."""
    if not {"maml/forgetting", "sparse-maml/forgetting"} <= set(summary):
        return "## Verdict\n\nRun with both `maml` and `sparse-maml` to test the claim."
    kept = "retained_accuracy" if accuracy else "retained_mse"

    def show(m: str, k: str) -> str:
        return f"{summary[f'{m}/{k}']:.3g} +- {summary[f'{m}/{k}_ci95']:.2g}"

    a, b = "maml", "sparse-maml"
    verdicts = {c["verdict"] for c in claims if c["id"].split("/")[2] == b}
    verdict = ("supported" if verdicts == {"supported"} else
               "not supported" if "not supported" in verdicts else "inconclusive")
    return (
        "## Verdict\n\n"
        f"Forgetting: MAML {show(a, 'forgetting')}, sparse-MAML {show(b, 'forgetting')}; "
        f"{kept.replace('_', ' ')}: MAML {show(a, kept)}, sparse-MAML {show(b, kept)} (95% CI "
        "over seeds). The claim that sparse gradients reduce interference is "
        f"{verdict} here (supported: the paired differences sparse-MAML - MAML show less "
        "forgetting and a better end-of-stream score, each interval clear of 0; see the claims "
        "below)."
    )


def _plot_retention(rundir: RunDir, matrices: dict[str, np.ndarray], accuracy: bool) -> None:
    t = np.arange(1, len(next(iter(matrices.values()))) + 1)
    what, scale = ("accuracy", "linear") if accuracy else ("query MSE", "log")
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4))
    for method, r in matrices.items():
        ax1.plot(t, seen_curve(r), marker="o", label=method)
        ax2.plot(t, r[-1], marker="o", label=method)
    ax1.set(xlabel="tasks learned so far", ylabel=f"mean {what} on tasks seen",
            yscale=scale, title="Retention along the stream")
    ax2.set(xlabel="task index j (learned in this order)",
            ylabel=f"{what} at the end of the stream", yscale=scale,
            title="Forgetting of early tasks")
    ax1.legend()
    fig.tight_layout()
    rundir.save_figure(fig, "retention")
    fig, axes = subplots(1, len(matrices), figsize=(3.6 * len(matrices), 3.4), squeeze=False)
    shown = {m: (r if accuracy else np.log10(r)) for m, r in matrices.items()}
    vmax = max(float(r.max()) for r in shown.values())
    vmin = min(float(r.min()) for r in shown.values())
    for ax, (method, r) in zip(axes[0], shown.items(), strict=True):
        im = ax.imshow(r, vmin=vmin, vmax=vmax, cmap="viridis")
        ax.set(xlabel="task j", title=method)
    axes[0, 0].set_ylabel("after learning task t")
    fig.colorbar(im, ax=axes[0].tolist(),
                 label="accuracy A[t, j]" if accuracy else "log10 query MSE R[t, j]")
    rundir.save_figure(fig, "retention_matrices")


EXPERIMENT = Experiment(
    name="continual",
    description="MAML vs sparse-MAML on sine and Omniglot class streams: retention, forgetting",
    expected_time="10 min",  # 10.3 min on one core, sine stream (benchmarks/RESULTS.md)
    quick_time="1 min",  # 57 s on one core, cold cache, -O2 (benchmarks/RESULTS.md)
    config=SparseContinualConfig,
    run=run,
    seeding="vmapped",
    smoke=("--methods", "sparse-maml", "--n-functions", "2", "--k-shot", "2", "--inner-steps",
           "1", "--steps", "2", "--meta-batch", "1", "--hidden", "4", "--eval-streams", "2",
           "--seeds", "1", *SMOKE_CADENCE),
    summary_keys=("untrained/forgetting", "sparse-maml/forgetting"),
)
