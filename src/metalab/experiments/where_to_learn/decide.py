"""Sparse-MAML against MAML, decided (von Oswald, Zhao et al., NeurIPS 2021, "Learning where
to learn"): Omniglot 5-way 1-shot and 5-shot in the authors' regime (first-order meta-gradients,
35 inner steps, Kaiming mask logits, straight-through ReLU), with a validation split.

Per setting, MAML meta-trains (all seeds as one program) until the mean over seeds of its
accuracy on validation characters has not improved for ``patience`` validations (or
``max_steps``); every other method then trains for the same number of meta-steps. Every
method keeps each seed's best validation checkpoint (``runs.validation``), and those are
scored on the same test episodes. Claims (``docs/claims.md``), paired over seeds:
``sparse-maml-over-maml/omniglot-<k>shot/<method>`` (test accuracy, method - MAML) and, for
learners with per-weight rates, ``sparsity-with-learned-rates/omniglot-<k>shot/<method>``
(fraction of rates at or below zero above ``sparse_threshold``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax
import numpy as np

from metalab.analysis.paired import paired
from metalab.analysis.sparsity import switched_off
from metalab.errors import require, require_cadence, require_fields
from metalab.estimators import ESTIMATORS
from metalab.evaluation import seed_scores
from metalab.experiments.where_to_learn.claims import PAPER, over_maml_claims
from metalab.learners import LEARNERS
from metalab.models.convnet import convnet
from metalab.runs.experiment import Experiment, preset
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import record_claim, regime, report_section
from metalab.runs.validation import Best, train_seeds_best, validation_curves
from metalab.stats import mean_ci95
from metalab.tasks.episodes import Episodes
from metalab.tasks.fewshot import DEFAULT_DATA, check_classes, load_split
from metalab.training.optimizers import per_entry_adam
from metalab.training.seeds import meta_training

RATES = ("sparse-relu-maml", "metasgd")
"""learners whose meta-parameters hold per-weight rates ``lr`` (switched off at <= 0)"""


PAPER_REGIME = {"width": 64, "max_steps": 40_000, "val_every": 500, "patience": 10,
         "val_episodes": 500, "test_episodes": 500, "log_every": 100, "checkpoint_every": 500}
"""the authors' conv-net scale (Johswald/learning_where_to_learn: 64 filters, 400 epochs of
100 steps), set by ``--regime paper`` where an option is left at its default"""

@dataclass(frozen=True)
class SparseMamlConfig:
    """Settings of ``metalab run sparse-maml``."""

    shots: tuple[int, ...] = (1, 5)
    """5-way K-shot settings"""
    methods: tuple[str, ...] = ("maml", "sparse-maml", "sparse-relu-maml")
    """maml first (its validation decides the budget), then the learners compared with it
    (add `metasgd` for unconstrained learned rates: a quarter more time)"""
    regime: Literal["decide", "paper"] = "decide"
    """`paper`: 64 filters, up to 40,000 meta-steps validated every 500 on 500 episodes
    (the authors' conv-net runs; a GPU's work)"""
    seeds: int = 5
    """training seeds (seed, seed + 1, ...), vmapped; claims are paired over them"""
    width: int = 16
    """filters per conv block"""
    max_steps: int = 300
    """meta-steps at most (MAML stops earlier when its validation accuracy stalls)"""
    val_every: int = 50
    """meta-steps between validations"""
    patience: int = 3
    """validations without improvement of MAML's mean validation accuracy before it stops"""
    val_characters: int = 20
    """training characters held out for validation (rotations with them)"""
    val_episodes: int = 50
    test_episodes: int = 250
    meta_batch: int = 2
    inner_steps: int = 35
    """inner SGD steps, in training, validation and test"""
    inner_lr: float = 0.1
    outer_lr: float = 1e-3
    mask_lr: float = 0.0075
    """outer Adam learning rate of the mask logits"""
    rate_lr: float = 0.0075
    """outer Adam learning rate of the per-weight rates (sparse-ReLU-MAML, Meta-SGD)"""
    q_query: int = 15
    """query images per class, in training and evaluation"""
    sparse_threshold: float = 0.05
    """`sparsity-with-learned-rates` is supported when the fraction of rates at or below zero
    lies above this"""
    test_alphabets: int = 3
    dataset: Literal["omniglot", "digits"] = "omniglot"
    """image data (`digits` needs no files, for tests)"""
    data: str = DEFAULT_DATA
    """folder with the Omniglot zips"""
    cache_dir: str = ""
    log_every: int = 50
    checkpoint_every: int = 100
    seed: int = 0
    quick: bool = False
    """reduced budget (CPU minutes)"""

    def __post_init__(self) -> None:
        require(len(self.shots) > 0 and all(k > 0 for k in self.shots), "--shots",
                "give positive shot counts, e.g. 1 5")
        require(len(self.methods) > 1 and self.methods[0] == "maml", "--methods",
                "start with maml (its validation sets the budget), then the learners to "
                "compare with it")
        for m in self.methods:
            require(m in LEARNERS, "--methods", f"unknown learner {m!r}")
        require_fields(self, positive_int=("seeds", "width", "max_steps", "val_every",
                                           "patience", "val_characters", "meta_batch",
                                           "inner_steps", "q_query", "log_every"),
                       at_least={"val_episodes": 50, "test_episodes": 100},
                       positive=("inner_lr", "outer_lr", "mask_lr", "rate_lr"))
        require(0 < self.sparse_threshold < 1, "--sparse-threshold", "must be in (0, 1)")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> SparseMamlConfig:
        """The configuration actually run: ``paper`` sets the authors' scale in the options
        left at their defaults (``PAPER_REGIME``), ``quick`` shrinks the budget."""
        cfg = preset(self, PAPER_REGIME) if self.regime == "paper" else self
        if cfg.quick:
            cfg = replace(cfg, width=8, max_steps=min(cfg.max_steps, 40), val_every=20,
                          log_every=20, checkpoint_every=20, val_episodes=50,
                          test_episodes=100, inner_steps=min(cfg.inner_steps, 10))
        return cfg


def learner_of(method: str, cfg: SparseMamlConfig, shape: tuple[int, ...]):
    """``method`` on the conv net, with the authors' mask initialisation and ReLU gradient."""
    extra = {"sparse-maml": {"mask_init": "kaiming"},
             "sparse-relu-maml": {"relu_grad": "straight-through"}}.get(method, {})
    return LEARNERS[method](convnet(5, shape, width=cfg.width), cfg.inner_lr, "cross_entropy",
                            **extra)


def setting(k: int, cfg: SparseMamlConfig, rundir: RunDir, split) -> dict[str, tuple]:
    """Per method of 5-way ``k``-shot: (its ``Best``, test accuracy per seed [S])."""
    check_classes(split.train, "training", 5, k + cfg.q_query)
    for which, classes in (("validation", split.val), ("test", split.test)):
        check_classes(classes, which, 5, k + cfg.q_query)
    shape = tuple(split.train.images.shape[2:])
    train, val, test = (Episodes.of(c, 5, k, cfg.q_query)
                        for c in (split.train, split.val, split.test))
    val_key, test_key = (jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6 + i)
                         for i in (0, 1))
    optimizer = per_entry_adam(cfg.outer_lr, {"mask": cfg.mask_lr, "lr": cfg.rate_lr})
    estimator = ESTIMATORS["first-order"](task_map="auto")
    out: dict[str, tuple] = {}
    budget = cfg.max_steps
    for method in cfg.methods:
        learner = learner_of(method, cfg, shape)

        def scores(metas, sample, key, n, learner=learner):
            return seed_scores(learner, metas, sample, steps=cfg.inner_steps, key=key, n=n,
                               task_map="auto")

        best = train_seeds_best(
            rundir, f"omniglot-{k}shot.{method}",
            *meta_training(learner, estimator, optimizer=optimizer, tasks=train,
                           meta_batch=cfg.meta_batch, inner_steps=cfg.inner_steps),
            cfg.seeds, seed=cfg.seed, steps=budget, chunk=cfg.log_every,
            checkpoint_every=cfg.checkpoint_every, every=cfg.val_every,
            patience=cfg.patience if method == "maml" else None,
            validate=lambda m, s=scores: s(m, val.sample, val_key, cfg.val_episodes).mean(1))
        if method == "maml":
            budget = best.stopped
        test_acc = scores(best.metas, test.sample, test_key, cfg.test_episodes).mean(axis=1)
        out[method] = (best, test_acc)
    return out


def sparsity_claims(problem: str, method: str, best: Best, cfg: SparseMamlConfig,
                    summary: dict) -> list[dict]:
    """Per-layer fractions of switched-off rates (mean, CI over seeds) into ``summary``, and
    the claim that the rates sparsify (all rates pooled, above ``sparse_threshold``)."""
    per_seed = [switched_off(jax.tree.map(lambda x, i=i: x[i], best.metas["lr"]))
                for i in range(cfg.seeds)]
    for layer in per_seed[0]:
        mean, err = mean_ci95([f[layer] for f in per_seed])
        summary[f"{problem}/{method}/switched_off/{layer}"] = mean
        summary[f"{problem}/{method}/switched_off/{layer}_err"] = err
    total = [f["all"] for f in per_seed]
    return [record_claim(
        f"sparsity-with-learned-rates/{problem}/{method}",
        paired(total, [cfg.sparse_threshold] * cfg.seeds, direction="greater"), paper=PAPER,
        claim="meta-learned per-weight rates of a conv net sparsify (switch weights off)",
        metric=f"fraction of {method}'s rates <= 0 at its best validation checkpoint "
               f"({problem}), minus {cfg.sparse_threshold}",
        regime=regime(cfg), means=(float(np.mean(total)), cfg.sparse_threshold))]


def run(cfg: SparseMamlConfig, rundir: RunDir) -> dict[str, float]:
    """Train and validate every method per setting, test the best checkpoints, decide."""
    split = load_split(cfg.dataset, "small", cfg.data, cfg.cache_dir, cfg.test_alphabets,
                       0, cfg.val_characters)  # split seed 0, as in where-to-learn
    summary: dict[str, float] = {}
    results: dict[str, dict[str, tuple]] = {}
    claims: list[dict] = []
    for k in cfg.shots:
        problem = f"omniglot-{k}shot"
        results[problem] = res = setting(k, cfg, rundir, split)
        for method, (best, test_acc) in res.items():
            key = f"{problem}/{method}"
            summary[f"{key}/test_accuracy"], summary[f"{key}/test_accuracy_err"] = \
                mean_ci95(test_acc)
            summary[f"{key}/test_accuracy_per_seed"] = test_acc.tolist()
            summary[f"{key}/best_val_accuracy"] = float(best.scores.mean())
            summary[f"{key}/best_step_per_seed"] = best.steps.tolist()
            summary[f"{key}/meta_steps"] = best.stopped
            summary[f"{key}/train_seconds"] = best.cost.compile_s + best.cost.run_s
            if method in RATES:
                claims += sparsity_claims(problem, method, best, cfg, summary)
        summary[f"{problem}/maml_stopped_early"] = float(res["maml"][0].early)
    claims = over_maml_claims({p: {m: r[1].tolist() for m, r in res.items()}
                               for p, res in results.items()}, cfg) + claims
    rundir.save_figure(validation_curves({p: {m: r[0].history for m, r in res.items()}
                                          for p, res in results.items()}), "validation")
    rundir.write_summary("sparse-maml", summary, claims=claims, split=split.description)
    budget = ["## Budget", "\n".join(
        f"* {p}: MAML " + (f"stopped at meta-step {r['maml'][0].stopped}, its validation "
                           "accuracy no longer improving" if r["maml"][0].early else
                           f"improved within the last {cfg.patience} validations at the cap of "
                           f"{cfg.max_steps} meta-steps: the verdicts hold at this budget only")
        for p, r in results.items())]
    rundir.write_report("Sparse-MAML against MAML, decided", _describe(cfg, split), summary,
                        budget + report_section(claims))
    return summary


def _describe(cfg: SparseMamlConfig, split) -> str:
    return (
        f"Regime `{cfg.regime}`; {split.description}. 5-way {', '.join(map(str, cfg.shots))}-"
        f"shot, conv net with {cfg.width} filters, first-order meta-gradients, "
        f"{cfg.inner_steps} inner steps at lr {cfg.inner_lr} (training, validation and test), "
        f"meta-batch {cfg.meta_batch}, outer Adam {cfg.outer_lr} (masks {cfg.mask_lr}, rates "
        f"{cfg.rate_lr}), Kaiming mask logits, straight-through ReLU, {cfg.q_query} query "
        f"images per class. {cfg.seeds} seeds from {cfg.seed}. MAML trains until its mean "
        f"validation accuracy ({cfg.val_episodes} episodes every {cfg.val_every} meta-steps) "
        f"has not improved for {cfg.patience} validations, at most {cfg.max_steps} "
        "meta-steps (`maml_stopped_early` is 0 where it hit the cap); the other methods train "
        "as many meta-steps. Every seed keeps its best validation checkpoint; `test_accuracy` "
        f"is its accuracy on the same {cfg.test_episodes} test episodes for every method, mean and "
        "`_err` the 95% CI half-width over seeds. `switched_off/<layer>`: fraction of rates "
        "<= 0 (`all`: every rate), mean and CI over seeds."
    )


EXPERIMENT = Experiment(
    name="sparse-maml",
    description="sparse-MAML and sparse-ReLU-MAML vs MAML on Omniglot 1/5-shot, "
                "validated and early-stopped: paired verdicts",
    expected_time="75 min",
    quick_time="4 min",  # 226 s on 2 idle cores, cold compile cache (135 programs, 72 s compiling)
    config=SparseMamlConfig,
    run=run,
    seeding="vmapped",
    smoke=("--dataset", "digits", "--shots", "1", "--methods", "maml", "sparse-relu-maml",
           "--seeds", "2", "--width", "4", "--inner-steps", "2", "--max-steps", "2",
           "--val-every", "2", "--val-characters", "2", "--q-query", "2", "--val-episodes",
           "50", "--test-episodes", "100", "--log-every", "1", "--checkpoint-every", "2"),
    summary_keys=("omniglot-1shot/sparse-relu-maml/test_accuracy",
                  "omniglot-1shot/sparse-relu-maml/switched_off/all"),
)
