"""Continual learning with meta-learned gradient sparsity (Zhao et al. 2021, sec. 5): does
sparse-MAML's mask reduce interference between tasks learned one after another?

Each method meta-trains an initialisation (and, for sparse learners, a mask or rates) for a
stream of T sinusoids (``SineStream``, the incremental sine waves of Javed and White 2019):
the inner loop learns function 0, then 1, ... T-1, never revisiting; the outer loss is the
query MSE on all T functions at the end. On held-out streams we record R[t, j], the MSE on
function j after learning functions 0..t, and report

    retained MSE   mean_j R[T-1, j]               (all functions, end of stream)
    learned MSE    mean_j R[j, j]                 (each function just after learning it)
    forgetting     mean_{j<T-1} R[T-1, j] - R[j, j]  (how much later learning undid)

``untrained`` is the same inner loop from the untrained initialisation, for scale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import jax
import numpy as np

from metalab.errors import flag, require, require_cadence
from metalab.estimators.stream import retention_matrix, stream_backprop
from metalab.experiments.where_to_learn.sparsity import fraction_curves, mask_images, track_sparsity
from metalab.learners import LEARNERS, Learner
from metalab.learners.base import SPARSE_UPDATES
from metalab.learners.sparse import update_fractions, update_gate
from metalab.models import mlp
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage
from metalab.tasks.sine_stream import SineStream
from metalab.training import init_state, make_meta_step
from metalab.training.optimizers import per_entry_adam


@dataclass(frozen=True)
class SparseContinualConfig:
    """Settings of ``metalab run continual``."""

    methods: tuple[str, ...] = ("maml", "sparse-maml")
    """registered learners to meta-train for the stream (see `metalab.learners.LEARNERS`)"""
    estimator: str = "backprop"
    """`backprop` (through the whole stream) or `first-order`"""
    n_functions: int = 10
    """sinusoids per stream, learned one after another"""
    k_shot: int = 10
    """support (and query) points per function"""
    inner_steps: int = 5
    """inner updates on each function before moving to the next"""
    inner_lr: float = 0.02
    outer_lr: float = 1e-3
    mask_lr: float = 3e-3
    """outer learning rate of sparse-MAML's mask logits"""
    steps: int = 3000
    """meta-steps per method"""
    meta_batch: int = 8
    """streams per meta-step"""
    hidden: tuple[int, ...] = (40, 40)
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
        for name in ("n_functions", "k_shot", "inner_steps", "steps", "meta_batch",
                     "eval_streams", "log_every"):
            require(getattr(self, name) > 0, flag(name),
                    "must be a positive integer")
        require(self.n_functions >= 2, "--n-functions", "a stream needs at least 2 functions")
        for name in ("inner_lr", "outer_lr", "mask_lr"):
            require(getattr(self, name) > 0, flag(name), "must be positive")
        require(all(h > 0 for h in self.hidden), "--hidden", "layer widths must be positive")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> SparseContinualConfig:
        """The configuration actually run: ``quick`` shrinks the budget."""
        if not self.quick:
            return self
        return replace(self, steps=min(self.steps, 300), eval_streams=min(self.eval_streams, 50),
                       log_every=50, checkpoint_every=300)


def _learner(method: str, cfg: SparseContinualConfig, stream: SineStream) -> Learner:
    return LEARNERS[method](mlp((stream.input_dim, *cfg.hidden, 1)), cfg.inner_lr)


def train(method: str, cfg: SparseContinualConfig, rundir: RunDir, stream: SineStream):
    """Meta-train one method for the stream; returns (untrained meta, trained meta, seconds)."""
    learner = _learner(method, cfg, stream)
    optimizer = per_entry_adam(cfg.outer_lr, {"mask": cfg.mask_lr})
    k_init, k_run = jax.random.split(jax.random.PRNGKey(cfg.seed))
    estimator = track_sparsity(stream_backprop(cfg.estimator == "first-order"), learner)
    step = make_meta_step(learner, estimator, optimizer, stream, cfg.meta_batch,
                          cfg.inner_steps, k_run)
    start_state = init_state(learner, optimizer, k_init)
    start = time.perf_counter()
    state = train_stage(rundir, method, start_state, step, cfg.steps, chunk=cfg.log_every,
                        checkpoint_every=cfg.checkpoint_every)
    return start_state.meta, state.meta, time.perf_counter() - start


def evaluate(learner: Learner, meta, streams, steps: int) -> np.ndarray:
    """Mean retention matrix R[t, j] over held-out streams."""
    per = jax.jit(jax.vmap(lambda s: retention_matrix(learner, meta, s, steps)))(streams)
    return np.asarray(per).mean(0)


def scores(r: np.ndarray) -> dict[str, float]:
    """Retained MSE, learned MSE and forgetting of one retention matrix (see module doc)."""
    diag = np.diag(r)
    return {
        "retained_mse": float(r[-1].mean()),
        "learned_mse": float(diag.mean()),
        "forgetting": float((r[-1, :-1] - diag[:-1]).mean()),
    }


def run(cfg: SparseContinualConfig, rundir: RunDir) -> dict[str, float]:
    """Train every method, measure retention on shared held-out streams, write the report."""
    stream = SineStream(cfg.n_functions, cfg.k_shot, cfg.k_shot)
    held_out = stream.sample(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6),
                             cfg.eval_streams)
    summary: dict[str, float] = {}
    matrices: dict[str, np.ndarray] = {}
    for method in cfg.methods:
        learner = _learner(method, cfg, stream)
        start_meta, meta, seconds = train(method, cfg, rundir, stream)
        if "untrained" not in matrices:
            matrices["untrained"] = evaluate(learner, start_meta, held_out, cfg.inner_steps)
        matrices[method] = evaluate(learner, meta, held_out, cfg.inner_steps)
        summary[f"{method}/train_seconds"] = seconds
        if SPARSE_UPDATES in learner.properties:
            gate = update_gate(learner, meta)
            for layer, f in update_fractions(gate).items():
                summary[f"{method}/update_fraction/{layer}"] = float(f)
            mask_images(rundir, gate, f"{method}: weights the inner loop updates",
                        f"mask_{method}")
    for method, r in matrices.items():
        for k, v in scores(r).items():
            summary[f"{method}/{k}"] = v
    _plot_retention(rundir, matrices)
    fraction_curves(rundir)
    rundir.write_summary("continual", summary)
    rundir.write_report("Continual learning: does gradient sparsity reduce interference?",
                        _describe(cfg), summary, [_verdict(matrices)])
    return summary


def _describe(cfg: SparseContinualConfig) -> str:
    return (
        f"Streams of {cfg.n_functions} sinusoids (input: x and the function's one-hot index), "
        f"{cfg.k_shot} support points each, learned in order with {cfg.inner_steps} inner "
        f"steps at lr {cfg.inner_lr}. Methods {', '.join(cfg.methods)} meta-trained for "
        f"{cfg.steps} steps (meta-batch {cfg.meta_batch}, Adam {cfg.outer_lr}, mask lr "
        f"{cfg.mask_lr}, estimator `{cfg.estimator}` through the whole stream) to minimise the "
        f"query MSE on all functions at the end; evaluated on {cfg.eval_streams} held-out "
        "streams. Retained MSE: mean over all functions at the end; learned MSE: each function "
        "right after learning it; forgetting: mean increase from the latter to the former."
    )


def _verdict(matrices: dict[str, np.ndarray]) -> str:
    """One paragraph that states what the numbers say about the interference claim."""
    if not {"maml", "sparse-maml"} <= set(matrices):
        return "## Verdict\n\nRun with both `maml` and `sparse-maml` to test the claim."
    a, b = scores(matrices["maml"]), scores(matrices["sparse-maml"])
    less = b["forgetting"] < a["forgetting"]
    better = b["retained_mse"] < a["retained_mse"]
    return (
        "## Verdict\n\n"
        f"Forgetting: MAML {a['forgetting']:.3g}, sparse-MAML {b['forgetting']:.3g} "
        f"({'less' if less else 'not less'} interference with sparse gradients). Retained MSE: "
        f"MAML {a['retained_mse']:.3g}, sparse-MAML {b['retained_mse']:.3g}. In this run the "
        f"claim that sparse gradients reduce interference is "
        f"{'supported' if less and better else 'not supported'} (one seed; differences "
        "smaller than the spread across seeds are not evidence)."
    )


def _plot_retention(rundir: RunDir, matrices: dict[str, np.ndarray]) -> None:
    t = np.arange(1, len(next(iter(matrices.values()))) + 1)
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4))
    for method, r in matrices.items():
        seen = np.array([r[i, : i + 1].mean() for i in range(len(r))])
        ax1.plot(t, seen, marker="o", label=method)
        ax2.plot(t, r[-1], marker="o", label=method)
    ax1.set(xlabel="functions learned so far", ylabel="mean query MSE on functions seen",
            yscale="log", title="Retention along the stream")
    ax2.set(xlabel="function index j (learned in this order)",
            ylabel="query MSE at the end of the stream", yscale="log",
            title="Forgetting of early functions")
    ax1.legend()
    fig.tight_layout()
    rundir.save_figure(fig, "retention")
    fig, axes = subplots(1, len(matrices), figsize=(3.6 * len(matrices), 3.4), squeeze=False)
    vmax = max(float(np.log10(r.max())) for r in matrices.values())
    vmin = min(float(np.log10(r.min())) for r in matrices.values())
    for ax, (method, r) in zip(axes[0], matrices.items(), strict=True):
        im = ax.imshow(np.log10(r), vmin=vmin, vmax=vmax, cmap="viridis")
        ax.set(xlabel="function j", title=method)
    axes[0, 0].set_ylabel("after learning function t")
    fig.colorbar(im, ax=axes[0].tolist(), label="log10 query MSE R[t, j]")
    rundir.save_figure(fig, "retention_matrices")


EXPERIMENT = Experiment(
    name="continual",
    description="MAML vs sparse-MAML on a stream of sinusoids: retention and forgetting",
    expected_time="12 min",
    config=SparseContinualConfig,
    run=run,
)
