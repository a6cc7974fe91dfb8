"""N-way K-shot image classification (Omniglot or scikit-learn digits) with any learner.

Meta-trains one learner on episodes from the training characters of ``--split`` (the small
background sets, the standard background/evaluation split or the Vinyals split; see
``tasks/omniglot_splits.py``), then reports the mean query accuracy and its 95% confidence
interval over ``eval_episodes`` episodes from the test characters, and from the validation
characters where the split has them (Finn et al. 2017; Snell et al. 2017), with training
curves and sample episodes. Every report and summary names the split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Literal

import jax
import optax

from metalab.errors import require, require_cadence, require_fields
from metalab.estimators import ESTIMATORS, Estimator, require_support, supporting
from metalab.estimators.task_map import STRATEGIES
from metalab.evaluation import evaluate
from metalab.learners.base import Learner, Meta
from metalab.learners.fewshot import conv_learner
from metalab.models.convnet import CONVS
from metalab.runs.curves import training_curves
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.progress import progress_bar
from metalab.runs.rundir import RunDir
from metalab.runs.stage import train_stage
from metalab.tasks.episodes import Episodes, ImageClasses
from metalab.tasks.fewshot import DEFAULT_DATA, check_classes, load_split
from metalab.tasks.omniglot_splits import SPLITS, Split
from metalab.training import init_state, make_meta_step
from metalab.training.optimizers import per_entry_adam


@dataclass(frozen=True)
class OmniglotConfig:
    """Settings of ``metalab run omniglot`` (``--dataset digits`` needs no files)."""

    dataset: Literal["omniglot", "digits"] = "omniglot"
    data: str = DEFAULT_DATA
    """folder holding the Omniglot zips (images_background*.zip, images_evaluation*.zip);
    default $METALAB_DATA/omniglot, else ~/.cache/metalab/data/omniglot"""
    split: Literal["small", "standard", "vinyals"] = "small"
    """small: the small background sets, --test-alphabets held out (offline default);
    standard: background alphabets train, evaluation alphabets test (Lake et al. 2015);
    vinyals: 1100 train / 100 validation / 423 test characters, permuted with --split-seed
    (Vinyals et al. 2016). standard and vinyals need images_background.zip and
    images_evaluation.zip (`metalab data fetch omniglot`)"""
    cache_dir: str = ""
    """where decoded images are cached (default $METALAB_CACHE or ~/.cache/metalab)"""
    learner: str = "maml"
    """a name from metalab.learners.LEARNERS (maml, metasgd, anil, protonet, ...)"""
    estimator: str = "auto"
    """meta-gradient estimator; auto = the first registered one that drives the learner
    (backprop; prototypical for protonet)"""
    n_way: int = 5
    k_shot: int = 1
    q_query: int = 5
    """query images per class in training episodes"""
    inner_steps: int = 1
    """inner gradient steps in meta-training"""
    eval_inner_steps: int = 3
    """inner gradient steps at test time"""
    inner_lr: float = 0.4
    outer_lr: float = 1e-3
    mask_lr: float = 1e-3
    """outer learning rate of sparse-MAML's mask logits (von Oswald et al. 2021)"""
    meta_batch: int = 32
    steps: int = 1000
    """meta-steps"""
    width: int = 64
    """filters per conv block"""
    conv: str = "auto"
    """convolution implementation: auto, xla or im2col (models/convnet.py)"""
    task_map: str = "auto"
    """how tasks of a batch are mapped: auto, vmap, map or unroll (estimators/task_map.py)"""
    test_alphabets: int = 3
    """alphabets held out for testing with --split small (digits: digits held out)"""
    split_seed: int = 0
    """seed of the held-out alphabets (small) or of the character permutation (vinyals)"""
    eval_episodes: int = 1000
    eval_query: int = 15
    """query images per class in test episodes"""
    log_every: int = 20
    checkpoint_every: int = 100
    seed: int = 0
    quick: bool = False
    """reduced budget for smoke tests (about 2 minutes on 2 CPU cores)"""

    def __post_init__(self) -> None:
        if self.estimator != "auto":
            require_support(self.estimator, learner_of(self))
        require_fields(self, positive_int=("n_way", "k_shot", "q_query", "meta_batch", "steps",
                                           "width", "eval_query", "log_every"),
                       at_least={"n_way": 2, "inner_steps": 1})
        require_fields(self, non_negative=("eval_inner_steps",), at_least={"eval_episodes": 100})
        require_fields(self, positive=("inner_lr", "outer_lr", "mask_lr"))
        require(self.conv in CONVS, "--conv", f"choose from {CONVS}")
        require(self.task_map in STRATEGIES, "--task-map", f"choose from {STRATEGIES}")
        require_cadence(self.log_every, self.checkpoint_every)
        require(self.split in SPLITS, "--split", f"choose from {SPLITS}")
        require(self.dataset == "omniglot" or self.split == "small", "--split",
                f"digits have no {self.split} split (an Omniglot protocol); use --split small")

    def resolved(self) -> OmniglotConfig:
        """The configuration actually run: ``quick`` shrinks the budget."""
        if not self.quick:
            return self
        return replace(self, steps=min(self.steps, 40), meta_batch=min(self.meta_batch, 8),
                       eval_episodes=100, log_every=10, checkpoint_every=20)



def eval_step_counts(cfg: OmniglotConfig) -> list[int]:
    """Inner step counts evaluated: ``--eval-inner-steps`` (the headline ``test/accuracy``)
    and the trained ``--inner-steps``, since a learned initialisation (or learned rates) tuned
    for one step can overshoot with more (measured: ANIL 5-way 5-shot 91.1% at 1 step, 82.9%
    at 3). A closed-form learner has no inner steps: evaluated once."""
    if learner_of(cfg).adapt is not None:
        return [cfg.eval_inner_steps]
    return sorted({cfg.inner_steps, cfg.eval_inner_steps})


def image_shape(cfg: OmniglotConfig) -> tuple[int, int, int]:
    """Input shape of the conv net."""
    return (8, 8, 1) if cfg.dataset == "digits" else (28, 28, 1)


def learner_of(cfg: OmniglotConfig):
    """The configured learner over the conv net."""
    return conv_learner(cfg.learner, cfg.n_way, image_shape(cfg), cfg.width, cfg.inner_lr,
                        cfg.conv)


def estimator_of(cfg: OmniglotConfig, learner: Learner) -> Estimator:
    """``--estimator`` (``auto``: the first registered estimator that drives ``learner``)
    with tasks mapped by ``--task-map``."""
    name = supporting(learner)[0] if cfg.estimator == "auto" else cfg.estimator
    return ESTIMATORS[name](task_map=cfg.task_map)


def optimizer_of(cfg: OmniglotConfig) -> optax.GradientTransformation:
    """Outer optimiser: Adam (Finn et al. 2017), with its own rate for sparse-MAML's masks."""
    return per_entry_adam(cfg.outer_lr, {"mask": cfg.mask_lr})


def initial_state(cfg: OmniglotConfig):
    """The TrainState meta-training starts from (also the template to restore checkpoints)."""
    k_init, _ = jax.random.split(jax.random.PRNGKey(cfg.seed))
    return init_state(learner_of(cfg), optimizer_of(cfg), k_init)


def data_of(cfg: OmniglotConfig) -> Split:
    """The classes of the configured split, ``BadInput`` if they cannot make the configured
    episodes (also the experiment's ``check``, run before the run folder is created)."""
    split = load_split(cfg.dataset, cfg.split, cfg.data, cfg.cache_dir, cfg.test_alphabets,
                       cfg.split_seed)
    check_classes(split.train, "training", cfg.n_way, cfg.k_shot + cfg.q_query)
    for which, classes in (("validation", split.val), ("test", split.test)):
        if classes is not None:
            check_classes(classes, which, cfg.n_way, cfg.k_shot + cfg.eval_query)
    return split


def load_data(cfg: OmniglotConfig) -> tuple[ImageClasses, ImageClasses]:
    """(train, test) classes of ``data_of`` (the validation classes left out)."""
    split = data_of(cfg)
    return split.train, split.test


def evaluate_all(cfg: OmniglotConfig, learner: Learner, meta: Meta, split: Split,
                 key: jax.Array) -> dict[str, float]:
    """Test (then validation, if the split has it) accuracy and 95% CI after each inner
    step count, on ``eval_episodes`` episodes drawn with ``key``."""
    summary = {}
    for side, classes in (("test", split.test), ("val", split.val)):
        if classes is None:
            continue
        episodes = Episodes.of(classes, cfg.n_way, cfg.k_shot, cfg.eval_query)
        for steps in eval_step_counts(cfg):
            with progress_bar(f"{side} episodes", cfg.eval_episodes) as advance:
                mean, ci, _ = evaluate(learner, meta, episodes.sample, steps=steps, key=key,
                                       n=cfg.eval_episodes, task_map=cfg.task_map,
                                       advance=advance)
            if steps == cfg.eval_inner_steps:
                summary.update({f"{side}/accuracy": mean, f"{side}/ci95": ci})
            if learner.adapt is None:
                summary.update({f"{side}/accuracy_{steps}_steps": mean,
                                f"{side}/ci95_{steps}_steps": ci})
    return summary


def run(cfg: OmniglotConfig, rundir: RunDir) -> dict[str, float]:
    """Check data, meta-train, evaluate on the test (and validation) characters, write
    figures and report."""
    split = data_of(cfg)
    learner = learner_of(cfg)
    estimator = estimator_of(cfg, learner)
    train_eps = Episodes.of(split.train, cfg.n_way, cfg.k_shot, cfg.q_query)
    _, k_run = jax.random.split(jax.random.PRNGKey(cfg.seed))
    step = make_meta_step(learner, estimator, optimizer=optimizer_of(cfg), tasks=train_eps,
                          meta_batch=cfg.meta_batch, inner_steps=cfg.inner_steps,
                          key=k_run)
    start = time.perf_counter()
    state = train_stage(rundir, cfg.learner, initial_state(cfg), step, cfg.steps,
                        chunk=cfg.log_every, checkpoint_every=cfg.checkpoint_every)
    seconds = time.perf_counter() - start
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6)
    summary = evaluate_all(cfg, learner, state.meta, split, key)
    summary.update({"train/seconds": seconds, "train/final_loss": rundir.metrics()[-1]["loss"],
                    "data/train_classes": len(split.train.names),
                    "data/test_classes": len(split.test.names)})
    if split.val is not None:
        summary["data/val_classes"] = len(split.val.names)

    from metalab.experiments.fewshot import plots

    training_curves(rundir, "query cross-entropy after adaptation (train batch)")
    test_eps = Episodes.of(split.test, cfg.n_way, cfg.k_shot, cfg.eval_query)
    plots.sample_episodes(rundir, learner, state.meta, test_eps.sample(key, 3),
                          cfg.eval_inner_steps)
    rundir.write_summary("omniglot", summary, split=split.name)
    val = " and on the validation characters (`val/...`)" if split.val is not None else ""
    n_val = f", {len(split.val.names)} validation" if split.val is not None else ""
    what = (
        f"{cfg.n_way}-way {cfg.k_shot}-shot classification on {cfg.dataset}, "
        f"{split.description} ({len(split.train.names)} training{n_val} and "
        f"{len(split.test.names)} test classes). Learner "
        f"`{cfg.learner}` with estimator `{estimator.name}`: {cfg.steps} meta-steps of "
        f"{cfg.meta_batch} episodes ({cfg.q_query} queries per class), {cfg.inner_steps} inner "
        f"step(s) at lr {cfg.inner_lr} ({cfg.eval_inner_steps} at test), outer Adam "
        f"{cfg.outer_lr}, conv net width {cfg.width}; {seconds:.0f} s of training. Test: "
        f"accuracy on {cfg.eval_episodes} episodes with {cfg.eval_query} queries per class"
        f"{val}, mean and 95% confidence interval, after {cfg.eval_inner_steps} inner step(s) "
        f"(`test/accuracy`) and after each count in {eval_step_counts(cfg)}."
    )
    rundir.write_report(f"Few-shot classification (split {split.name})", what, summary)
    return summary


EXPERIMENT = Experiment(
    name="omniglot",
    description="N-way K-shot Omniglot (or --dataset digits) with MAML, ANIL, ProtoNets, ...",
    expected_time="10 min",
    quick_time="1 min",  # 50 s on 2 idle cores, cold compile cache (102 programs, 26 s compiling)
    config=OmniglotConfig,
    run=run,
    check=data_of,
    learners=lambda cfg: {cfg.learner: learner_of(cfg)},  # its one stage (load_run)
    # 100 episodes x 5 classes x 2 query images: 1000 test predictions
    smoke=("--dataset", "digits", "--learner", "maml", "--eval-inner-steps", "2", "--steps", "2",
           "--meta-batch", "2", "--width", "8", "--eval-episodes", "100", "--eval-query", "2",
           *SMOKE_CADENCE),
    summary_keys=("test/accuracy", "test/ci95", "test/accuracy_1_steps", "test/accuracy_2_steps",
                  "test/ci95_1_steps"),
)
