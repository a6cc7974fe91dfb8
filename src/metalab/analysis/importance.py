"""Per-synapse importance, judged two ways: against a mask known by construction (the rank
agreement ``auc``) and by consolidation between two tasks (``two_task_losses``).

Consolidation anchors the fast weights at task A's solution phi_A while adapting to task B,
with the inner objective L_B(phi) + sum_i s_i / 2 (phi_i - phi_A,i)^2: elastic weight
consolidation when s is c times A's diagonal Fisher information (Kirkpatrick et al. 2017), a
complex synapse's consolidation when s is its meta-learned strengths lambda (Zucchet et al.
2022), one strength for all when s is uniform. Each shape is scaled to mean 1 and multiplied
by a common scale c, chosen on validation pairs (``choose_scale``), so the shapes are compared
at their best stable strength.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy import stats

from metalab.analysis.fisher import fisher
from metalab.errors import BadInput
from metalab.evaluation import adapt
from metalab.learners.base import Fast, Learner, Meta
from metalab.tasks.base import Task

SHAPES = ("learned", "uniform", "ewc")
"""strength shapes of ``two_task_losses``: lambda, one value, A's Fisher (each mean 1)"""


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for boolean ``labels``: the probability that a
    labelled item outscores an unlabelled one, ties counting half (Mann-Whitney U / (n1 n0),
    from average ranks). 1 ranks the mask first, 0.5 is chance."""
    s, lab = np.ravel(np.asarray(scores, np.float64)), np.ravel(np.asarray(labels, bool))
    n1 = int(lab.sum())
    n0 = lab.size - n1
    if s.shape != lab.shape or n1 == 0 or n0 == 0:
        raise BadInput("labels", f"need scores and labels of one shape, both classes present; "
                       f"got {s.size} scores, {n1} labelled and {n0} unlabelled")
    ranks = stats.rankdata(s)
    return float((ranks[lab].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def consolidated(learner: Learner, anchor: Fast, strengths: jax.Array, task: Task,
                 steps: int) -> Fast:
    """Fast weights after ``steps`` inner steps on ``task`` from ``anchor``, pulled to it with
    per-parameter ``strengths`` (flat, in ``ravel_pytree`` order): a complex synapse's inner
    loop with omega = anchor and lambda = strengths (``learner``: ``complex-synapse``)."""
    unravel = ravel_pytree(anchor)[1]
    return adapt(learner, {"omega": anchor, "rho": unravel(jnp.log(strengths))}, task, steps)


def two_task_losses(learner: Learner, meta: Meta, a: Task, b: Task, scales: jax.Array,
                    steps: int) -> dict[str, jax.Array]:
    """Adapt to A from ``meta``, then to B anchored at phi_A. ``grid`` [shapes, scales, 3]:
    for each of ``SHAPES`` (scaled to mean 1) times each of ``scales``, A's query loss before
    B, after B, and B's query loss; ``as_learned`` [3]: the same with lambda unscaled."""
    phi_a = adapt(learner, meta, a, steps)
    lam = ravel_pytree(jax.tree.map(jnp.exp, meta["rho"]))[0]
    f_a = fisher(learner, meta, phi_a, a.query_x)
    before = learner.loss(meta, phi_a, a.query_x, a.query_y)

    def losses(strength: jax.Array) -> jax.Array:
        phi_b = consolidated(learner, phi_a, strength, b, steps)
        return jnp.stack([before, learner.loss(meta, phi_b, a.query_x, a.query_y),
                          learner.loss(meta, phi_b, b.query_x, b.query_y)])

    shapes = jnp.stack([lam / lam.mean(), jnp.ones_like(lam), f_a / f_a.mean()])
    grid = jax.vmap(lambda s: jax.vmap(lambda c: losses(c * s))(scales))(shapes)
    return {"grid": grid, "as_learned": losses(lam)}


def both_tasks(losses: np.ndarray) -> np.ndarray:
    """The mean of A's and B's query losses after B (the last axis of ``two_task_losses``)."""
    return 0.5 * (losses[..., 1] + losses[..., 2])


def choose_scale(grid: np.ndarray) -> np.ndarray:
    """Per shape, the index of the scale with the lowest mean ``both_tasks`` loss over the
    validation pairs of ``grid`` [pairs, shapes, scales, 3]; a scale at which any pair's loss
    is not finite (adaptation to B diverged) is never chosen unless all are."""
    score = both_tasks(np.asarray(grid, np.float64))
    stable = np.isfinite(score).all(axis=0)
    mean = np.where(stable, np.where(np.isfinite(score), score, 0).mean(axis=0), np.inf)
    return np.argmin(mean, axis=-1)
