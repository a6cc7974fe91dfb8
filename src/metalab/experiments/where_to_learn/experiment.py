"""Learning where to learn (von Oswald, Zhao, Kobayashi, Schug, Caccia, Zucchet and Sacramento,
NeurIPS 2021): MAML, Meta-SGD, ANIL, BOIL, sparse-MAML and sparse-ReLU-MAML with the same budget
on sinusoid regression and Omniglot 5-way 1-shot and 5-shot.

Every method meta-trains the same network from the same initial weights with the same task
stream, once per training seed; sparse learners also learn which weights the inner loop may
change. Reported per method: the mean over seeds and its 95% CI of the held-out query MSE
after the inner steps (sinusoid) or the test accuracy on held-out alphabets (Omniglot), and,
for the sparse learners, the fraction of each layer's weights the inner loop updates (mean over
seeds), tracked over meta-training, with the final pattern of every layer (seed 0) as an image.
The seeds of a method train as one program (``runs.stage.train_seeds``).
``--regime paper`` runs the authors' regime: first-order meta-gradients, 35 inner steps at
lr 0.1, mask Adam 0.0075, meta-batch 2, the Kaiming mask initialisation, straight-through ReLU.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import jax

from metalab.analysis.sparsity import mask_figure, mean_fractions, track_sparsity
from metalab.errors import require, require_cadence, require_fields
from metalab.estimators import ESTIMATORS, supports
from metalab.evaluation import adaptation_curves, evaluate
from metalab.experiments.where_to_learn import plots
from metalab.experiments.where_to_learn.claims import over_maml_claims
from metalab.learners import LEARNERS, Learner
from metalab.learners.base import SPARSE_UPDATES
from metalab.learners.sparse import update_gate
from metalab.models import mlp
from metalab.models.convnet import convnet
from metalab.models.resnet12 import resnet12
from metalab.runs.experiment import SMOKE_CADENCE, Experiment
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import report_section
from metalab.runs.stage import train_seeds
from metalab.stats import mean_ci95
from metalab.tasks import Sinusoid
from metalab.tasks.episodes import Episodes
from metalab.tasks.fewshot import DEFAULT_DATA, check_classes, load_classes
from metalab.tasks.miniimagenet import load_miniimagenet
from metalab.training import unstack
from metalab.training.optimizers import per_entry_adam
from metalab.training.seeds import meta_training

Problem = Literal["sinusoid", "omniglot-1shot", "omniglot-5shot", "miniimagenet-1shot",
                  "miniimagenet-5shot"]


@dataclass(frozen=True)
class WhereToLearnConfig:
    """Settings of ``metalab run where-to-learn``."""

    problems: tuple[Problem, ...] = ("sinusoid", "omniglot-1shot", "omniglot-5shot")
    methods: tuple[str, ...] = ("maml", "metasgd", "anil", "boil", "sparse-maml",
                                "sparse-relu-maml")
    """registered learners to compare"""
    regime: Literal["ours", "paper"] = "ours"
    """`paper`: the authors' regime (first-order, 35 inner steps at 0.1, mask Adam 0.0075,
    meta-batch 2, Kaiming mask init, straight-through ReLU), overriding those settings"""
    seeds: int = 3
    """training seeds per method (seed, seed + 1, ...), trained as one vmapped program; rows
    give mean +- 95% CI over them"""
    estimator: Literal["backprop", "first-order"] = "backprop"
    outer_lr: float = 1e-3
    """outer Adam learning rate of the initialisation"""
    mask_lr: float = 5e-3
    """outer Adam learning rate of sparse-MAML's mask logits"""
    rate_lr: float = 5e-3
    """outer Adam learning rate of the per-weight rates of Meta-SGD and sparse-ReLU-MAML"""
    mask_shift: float = 0.0
    """initial mask logits are centred draws + shift (0: about half the weights start frozen)"""
    mask_init: Literal["uniform", "kaiming"] = "uniform"
    """mask logits U[-0.5, 0.5], or Kaiming-uniform for weight tensors (the authors' conv runs)"""
    relu_grad: Literal["straight-through", "true"] = "straight-through"
    """sparse-ReLU-MAML's rate gradient: through the ReLU as identity (authors'), or its own"""
    sin_steps: int = 5000
    """sinusoid: meta-steps per method"""
    sin_meta_batch: int = 25
    sin_k_shot: int = 10
    sin_inner_lr: float = 0.01
    sin_inner_steps: int = 1
    sin_eval_tasks: int = 500
    dataset: Literal["omniglot", "digits"] = "omniglot"
    """image data of the few-shot problems (`digits` needs no files, for tests)"""
    data: str = DEFAULT_DATA
    """folder with the Omniglot zips"""
    cache_dir: str = ""
    mini_data: str = ""
    """folder with miniImageNet (mini-imagenet-cache-*.pkl, or train/ val/ test/ class folders)
    for the miniimagenet problems; read before any training"""
    model: Literal["conv4", "resnet12"] = "conv4"
    """few-shot network: the 4-block conv net (`--width` filters) or ResNet-12 (64-128-256-512)"""
    fs_steps: int = 300
    """few-shot: meta-steps per method and setting"""
    fs_meta_batch: int = 8
    width: int = 32
    """filters per conv block"""
    fs_inner_lr: float = 0.4
    fs_inner_steps: int = 1
    eval_inner_steps: int = 3
    q_query: int = 5
    test_alphabets: int = 3
    eval_episodes: int = 300
    eval_query: int = 5
    log_every: int = 25
    checkpoint_every: int = 100
    seed: int = 0
    quick: bool = False
    """reduced budget for smoke tests"""

    def __post_init__(self) -> None:
        require(len(self.problems) > 0, "--problems", "give at least one problem")
        require(len(self.methods) > 0, "--methods", "give at least one learner")
        for m in self.methods:
            require(m in LEARNERS, "--methods",
                    f"unknown learner {m!r}; choose from {sorted(LEARNERS)}")
            learner = masked_learner(m, mlp((1, 2, 1)), 1.0, "mse", self)  # a body and a head
            require(supports(ESTIMATORS[self.estimator](), learner), "--methods",
                    f"estimator {self.estimator!r} cannot drive learner {m!r} (it needs "
                    f"{', '.join(sorted(ESTIMATORS[self.estimator]().requires))}); choose "
                    "gradient learners such as maml, metasgd, anil, sparse-maml")
        require_fields(
            self, positive_int=("sin_steps", "sin_meta_batch", "sin_k_shot", "fs_steps",
                                "fs_meta_batch", "width", "fs_inner_steps", "q_query",
                                "eval_query", "log_every", "seeds", "sin_inner_steps"),
            non_negative=("eval_inner_steps",), at_least={"sin_eval_tasks": 100,
                                                          "eval_episodes": 100},
            positive=("outer_lr", "mask_lr", "rate_lr", "sin_inner_lr", "fs_inner_lr"))
        require(self.mini_data != "" or not any(p.startswith("miniimagenet")
                                                for p in self.problems),
                "--mini-data", "the miniimagenet problems need the folder holding miniImageNet")
        require_cadence(self.log_every, self.checkpoint_every)

    def resolved(self) -> WhereToLearnConfig:
        """The configuration actually run: ``regime`` sets the authors' settings, ``quick``
        shrinks the budget (CPU minutes)."""
        cfg = self
        if cfg.regime == "paper":
            cfg = replace(cfg, estimator="first-order", fs_inner_steps=35, eval_inner_steps=35,
                          fs_inner_lr=0.1, mask_lr=0.0075, fs_meta_batch=2, mask_init="kaiming",
                          relu_grad="straight-through")
        if not cfg.quick:
            return cfg
        return replace(cfg, sin_steps=min(cfg.sin_steps, 500), sin_eval_tasks=100,
                       fs_steps=min(cfg.fs_steps, 100 if cfg.regime == "paper" else 20),
                       eval_episodes=100, width=16, log_every=10, checkpoint_every=100)



def masked_learner(method: str, model, inner_lr: float, loss: str, cfg) -> Learner:
    """``LEARNERS[method]`` with this experiment's mask initialisation for sparse-MAML and
    rate gradient for sparse-ReLU-MAML."""
    extra = {"sparse-maml": {"mask_shift": cfg.mask_shift, "mask_init": cfg.mask_init},
             "sparse-relu-maml": {"relu_grad": cfg.relu_grad}}.get(method, {})
    return LEARNERS[method](model, inner_lr, loss, **extra)


def meta_train(stage, learner, cfg, rundir, tasks, meta_batch, inner_steps, steps, task_map):
    """Meta-train ``learner`` for every seed as one program (``runs.stage.train_seeds``);
    returns ([meta per seed], seconds compiling and training)."""
    optimizer = per_entry_adam(cfg.outer_lr, {"mask": cfg.mask_lr, "lr": cfg.rate_lr})
    estimator = track_sparsity(ESTIMATORS[cfg.estimator](task_map=task_map), learner)
    state, _, cost = train_seeds(
        rundir, stage, *meta_training(learner, estimator, optimizer=optimizer, tasks=tasks,
                                      meta_batch=meta_batch, inner_steps=inner_steps),
        cfg.seeds, seed=cfg.seed, steps=steps, chunk=cfg.log_every,
        checkpoint_every=cfg.checkpoint_every, probe=False)
    return [unstack(state, i).meta for i in range(cfg.seeds)], cost.compile_s + cost.run_s


def sinusoid(cfg: WhereToLearnConfig, rundir: RunDir) -> dict[str, tuple]:
    """Per method: (query MSE after the inner steps: mean over seeds, 95% CI, [meta per seed],
    seconds, learner, [MSE per seed])."""
    tasks = Sinusoid(cfg.sin_k_shot, 100).sample(
        jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6), cfg.sin_eval_tasks)
    out = {}
    for method in cfg.methods:
        learner = masked_learner(method, mlp((1, 40, 40, 1)), cfg.sin_inner_lr, "mse", cfg)
        metas, seconds = meta_train(f"sinusoid.{method}", learner, cfg, rundir,
                                    Sinusoid(cfg.sin_k_shot, cfg.sin_k_shot),
                                    cfg.sin_meta_batch, cfg.sin_inner_steps, cfg.sin_steps,
                                    "vmap")
        per_seed = [float(adaptation_curves(learner, m, tasks, steps=cfg.sin_inner_steps,
                                            chunk=cfg.sin_eval_tasks)[:, -1].mean())
                    for m in metas]
        out[method] = (*mean_ci95(per_seed), metas, seconds, learner, per_seed)
    return out


def few_shot_model(cfg: WhereToLearnConfig, shape: tuple[int, int, int]):
    """The 5-way few-shot network of ``cfg.model`` for images of ``shape``."""
    if cfg.model == "resnet12":
        return resnet12(5, shape)
    return convnet(5, shape, width=cfg.width)


def few_shot(k_shot: int, cfg: WhereToLearnConfig, rundir: RunDir, mini=None,
             prefix: str = "omniglot"):
    """Per method: (test accuracy: mean over seeds, 95% CI, [meta per seed], seconds, learner,
    [accuracy per seed]) for 5-way ``k_shot`` on Omniglot (digits), or on miniImageNet's test
    classes if ``mini`` holds its splits."""
    if mini is not None:
        train, test = mini["train"], mini["test"]
    else:
        train, test = load_classes(cfg.dataset, cfg.data, cfg.cache_dir, cfg.test_alphabets,
                                   0)
    check_classes(train, "training", 5, k_shot + cfg.q_query)
    check_classes(test, "test", 5, k_shot + cfg.eval_query)
    shape = tuple(train.images.shape[2:])
    train_eps = Episodes.of(train, 5, k_shot, cfg.q_query)
    test_eps = Episodes.of(test, 5, k_shot, cfg.eval_query)
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 10**6)
    out = {}
    for method in cfg.methods:
        model = few_shot_model(cfg, shape)
        learner = masked_learner(method, model, cfg.fs_inner_lr, "cross_entropy", cfg)
        metas, seconds = meta_train(f"{prefix}-{k_shot}shot.{method}", learner, cfg, rundir,
                                    train_eps, cfg.fs_meta_batch, cfg.fs_inner_steps,
                                    cfg.fs_steps, "auto")
        # the seeds share one compiled program (the meta-parameters are its argument)
        per_seed = [float(evaluate(learner, m, test_eps.sample, steps=cfg.eval_inner_steps,
                                   key=key, n=cfg.eval_episodes, task_map="auto"
                                   ).per_task.mean()) for m in metas]
        out[method] = (*mean_ci95(per_seed), metas, seconds, learner, per_seed)
    return out


def run(cfg: WhereToLearnConfig, rundir: RunDir) -> dict[str, float]:
    """Train and evaluate every method on every problem; figures, summary and report."""
    mini = (load_miniimagenet(cfg.mini_data)
            if any(p.startswith("miniimagenet") for p in cfg.problems) else None)
    summary: dict[str, float] = {}
    results: dict[str, dict] = {}
    for problem in cfg.problems:
        name, _, setting = problem.partition("-")
        if problem == "sinusoid":
            res, metric = sinusoid(cfg, rundir), f"query_mse_step{cfg.sin_inner_steps}"
        else:
            res = few_shot(int(setting[0]), cfg, rundir, mini if name == "miniimagenet" else None,
                           name)
            metric = "test_accuracy"
        results[problem] = res
        for method, (value, err, metas, seconds, learner, _) in res.items():
            summary[f"{problem}/{method}/{metric}"] = value
            summary.setdefault(f"{method}/{metric}", value)
            summary[f"{problem}/{method}/{metric}_err"] = err
            summary[f"{problem}/{method}/train_seconds"] = seconds
            if SPARSE_UPDATES not in learner.properties:
                continue
            for layer, f in mean_fractions(learner, metas).items():
                summary[f"{problem}/{method}/update_fraction/{layer}"] = f
                summary.setdefault(f"{method}/update_fraction/{layer}", f)
            rundir.save_figure(mask_figure(update_gate(learner, metas[0]), f"{problem}, {method}: "
                                           "weights the inner loop updates (white), seed 0"),
                               f"mask_{problem}_{method}")
    plots.update_fraction_curves(rundir)
    plots.comparison(rundir, results)
    claims = over_maml_claims({p: {m: r[-1] for m, r in res.items()}
                               for p, res in results.items()}, cfg)
    rundir.write_summary("where-to-learn", summary, claims=claims)
    rundir.write_report("Learning where to learn", _describe(cfg), summary,
                        report_section(claims))
    return summary


def _describe(cfg: WhereToLearnConfig) -> str:
    return (
        f"Regime `{cfg.regime}`, {cfg.seeds} training seeds from {cfg.seed}; every value is the "
        "mean over seeds and `_err` its 95% CI half-width (Student t). "
        f"Methods {', '.join(cfg.methods)} with estimator `{cfg.estimator}`, outer Adam "
        f"{cfg.outer_lr}, mask Adam {cfg.mask_lr}, rate Adam {cfg.rate_lr}, mask init "
        f"`{cfg.mask_init}` shift {cfg.mask_shift}, ReLU gradient `{cfg.relu_grad}`. Sinusoid: "
        f"1-40-40-1 ReLU MLP, {cfg.sin_steps} meta-steps of {cfg.sin_meta_batch} tasks, "
        f"K = {cfg.sin_k_shot}, {cfg.sin_inner_steps} inner step(s) at lr {cfg.sin_inner_lr}; "
        f"query MSE after them on {cfg.sin_eval_tasks} held-out tasks. Few-shot "
        f"(5-way; Omniglot problems on {cfg.dataset}, miniImageNet on its test classes): "
        f"{'ResNet-12' if cfg.model == 'resnet12' else f'conv net width {cfg.width}'}, "
        f"{cfg.fs_steps} meta-steps of "
        f"{cfg.fs_meta_batch} episodes, {cfg.fs_inner_steps} inner step(s) at lr "
        f"{cfg.fs_inner_lr} ({cfg.eval_inner_steps} at test); accuracy on {cfg.eval_episodes} "
        f"episodes ({cfg.test_alphabets} held-out Omniglot alphabets). "
        "`update_fraction/<layer>`: fraction of that tensor's weights the inner loop changes. "
        "Keys without a problem prefix repeat the first listed problem that has them."
    )


EXPERIMENT = Experiment(
    name="where-to-learn",
    description="MAML, Meta-SGD, ANIL, BOIL, sparse-MAML, sparse-ReLU-MAML: sinusoid, Omniglot",
    expected_time="3 h",
    quick_time="4 min",  # 248.5 s on an idle 2-core CPU, cold compilation cache (RESULTS.md)
    config=WhereToLearnConfig,
    run=run,
    seeding="vmapped",
    smoke=("--problems", "sinusoid", "--methods", "sparse-relu-maml", "--sin-steps", "2",
           "--sin-meta-batch", "2", "--sin-eval-tasks", "100", "--rate-lr", "1e-4", "--seeds",
           "1", *SMOKE_CADENCE),
    summary_keys=("sinusoid/sparse-relu-maml/query_mse_step1",),
)
