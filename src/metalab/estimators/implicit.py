"""Implicit meta-gradients: iMAML (Rajeswaran, Finn, Kakade and Levine, NeurIPS 2019).

The inner problem is proximal (see ``proximal.py``); at its minimiser the optimality condition
F(phi, meta) = grad_phi L_in(phi, meta) = 0 holds, so by the implicit function theorem

    d L_out(phi*(meta), meta) / d meta = d_meta L_out - (d_meta F)^T v,   A v = grad_phi L_out,

with A = d_phi F = Hess L_support + lam I. For a learned initialisation d_meta F = -lam I and
this is iMAML's (I + H / lam)^{-1} grad L_out. The linear system is solved matrix-free with
Hessian-vector products (reverse-over-reverse: the vjp of the gradient), the solver passed
in as ``solve(matvec, b)`` as in jaxopt's implicit differentiation: conjugate gradient (iMAML)
or a truncated Neumann series, which equals backprop through ``terms`` gradient steps taken at
the fixed point (recurrent backprop; Liao et al. 2018, Lorraine et al. 2020).

The result is exact only when phi is the minimiser; the inner solve uses ``inner_steps`` of the
learner's own inner optimiser (or stops earlier at ``tol``), so A must be positive definite
there (lam larger than the most negative Hessian eigenvalue) for CG to be meaningful. The
learner must have a fixed inner rule: meta-parameters that act only through the update
(Meta-SGD's rates) do not move phi* and would silently get a zero gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from metalab.errors import BadInput, require
from metalab.estimators.base import Estimate, Estimator, mean_estimates
from metalab.estimators.proximal import with_proximal
from metalab.estimators.task_map import check_strategy
from metalab.learners.base import FIXED_RULE, GRADIENT_INNER_LOOP, Fast, Learner, Meta
from metalab.learners.inner import solve as solve_inner
from metalab.tasks.base import Task

Solve = Callable[[Callable[[Fast], Fast], Fast], Fast]

PROXIMAL_REQUIREMENTS = frozenset({GRADIENT_INNER_LOOP, FIXED_RULE})
"""what the implicit and contrastive estimators require of a learner"""


def cg(maxiter: int = 20, tol: float = 1e-10) -> Solve:
    """Conjugate gradient (``jax.scipy.sparse.linalg.cg``) for symmetric positive definite A."""

    def solve(matvec: Callable[[Fast], Fast], b: Fast) -> Fast:
        return jax.scipy.sparse.linalg.cg(matvec, b, tol=tol, atol=0.0, maxiter=maxiter)[0]

    return solve


def neumann(terms: int = 50, alpha: float = 0.01) -> Solve:
    """A^{-1} b ~ alpha sum_{k < terms} (I - alpha A)^k b; converges when 0 < alpha < 2/|A|."""

    def solve(matvec: Callable[[Fast], Fast], b: Fast) -> Fast:
        def body(carry: tuple[Fast, Fast], _: None) -> tuple[tuple[Fast, Fast], None]:
            term, total = carry
            term = jax.tree.map(lambda t, a: t - alpha * a, term, matvec(term))
            return (term, jax.tree.map(jnp.add, total, term)), None

        (_, total), _ = jax.lax.scan(body, (b, b), None, length=terms - 1)
        return jax.tree.map(lambda t: alpha * t, total)

    return solve


def implicit_gradient(
    learner: Learner, solve: Solve, meta: Meta, phi: Fast, task: Task
) -> Estimate:
    """Query loss at ``phi`` and the implicit meta-gradient, taking ``phi`` as the minimiser
    of ``learner.inner_loss`` on the support set."""

    def optimality(m: Meta, p: Fast) -> Fast:
        return jax.grad(learner.inner_loss, argnums=1)(m, p, task.support_x, task.support_y)

    loss, (direct, g_phi) = jax.value_and_grad(learner.loss, argnums=(0, 1))(
        meta, phi, task.query_x, task.query_y
    )

    # A is a Hessian, so A v = A^T v: one linearisation by reverse mode serves every
    # product, and works through custom_vjp layers (the im2col conv), which forward mode does not
    hvp = jax.vjp(lambda p: optimality(meta, p), phi)[1]

    def matvec(v: Fast) -> Fast:
        return hvp(v)[0]

    v = solve(matvec, g_phi)
    (cross,) = jax.vjp(lambda m: optimality(m, phi), meta)[1](v)
    grad = jax.tree.map(jnp.subtract, direct, cross)
    residual = jax.tree.map(jnp.subtract, matvec(v), g_phi)
    rel = optax.tree.norm(residual) / (optax.tree.norm(g_phi) + 1e-30)
    return loss, grad, {"solve_residual": rel}


def implicit(
    lam: float = 1.0,
    solver: str = "cg",
    solver_steps: int = 20,
    alpha: float | None = None,
    tol: float = 0.0,
    task_map: str = "vmap",
) -> Estimator:
    """iMAML: inner proximal solve, then ``solver`` ("cg" or "neumann") on A v = grad L_out.

    lam: proximal strength (unused for learners with their own proximal term).
    solver_steps: CG iterations or Neumann terms.
    alpha: Neumann step (default: the learner's inner rate, ``Learner.inner_lr``).
    tol: the inner solver's stopping gradient norm (0: always ``inner_steps`` steps).
    """
    require(lam > 0, "--lam", "must be positive")
    require(solver in ("cg", "neumann"), "--solver", "choose from cg, neumann")
    require(solver_steps >= 1, "--solver-steps", "must be at least 1")
    require(alpha is None or alpha > 0, "--alpha", "must be positive")
    require(tol >= 0, "--tol", "must be non-negative")
    check_strategy(task_map)
    name = "implicit" if solver == "cg" else "implicit-neumann"

    def estimate(
        learner: Learner, meta: Meta, tasks: Task, key: jax.Array, inner_steps: int
    ) -> Estimate:
        del key
        solve = (cg(solver_steps) if solver == "cg"
                 else neumann(solver_steps, neumann_step(alpha, learner)))
        learner = with_proximal(learner, lam)

        def per_task(task: Task) -> Estimate:
            sol = solve_inner(learner, meta, task.support_x, task.support_y, inner_steps,
                              tol=tol)
            loss, grad, metrics = implicit_gradient(learner, solve, meta, sol.phi, task)
            return loss, grad, {**metrics, "inner_grad_norm": sol.grad_norm,
                                "inner_steps_taken": sol.steps.astype(jnp.float32)}

        return mean_estimates(per_task, tasks, task_map)

    return Estimator(name, estimate, PROXIMAL_REQUIREMENTS)


def neumann_step(alpha: float | None, learner: Learner) -> float:
    """``alpha`` if given, else the learner's fixed inner rate; ``BadInput`` if it has none."""
    if alpha is not None:
        return alpha
    if learner.inner_lr is None:
        raise BadInput("--alpha", f"learner {learner.name!r} has no fixed inner rate "
                                  "(Learner.inner_lr) to take the Neumann step from; pass alpha")
    return learner.inner_lr


def implicit_neumann(lam: float = 1.0, terms: int = 50, alpha: float | None = None,
                     tol: float = 0.0, task_map: str = "vmap") -> Estimator:
    """iMAML with a truncated Neumann series instead of CG (recurrent backprop); ``alpha``
    defaults to the learner's inner rate, where the series is backprop through inner steps."""
    return implicit(lam=lam, solver="neumann", solver_steps=terms, alpha=alpha, tol=tol,
                    task_map=task_map)


def t1_t2(lam: float = 1.0, alpha: float | None = None, tol: float = 0.0,
          task_map: str = "vmap") -> Estimator:
    """T1-T2 (Luketina, Berglund, Greff and Raiko, ICML 2016): the implicit gradient with the
    inverse Hessian replaced by ``alpha`` I (a one-term Neumann series), i.e. the hypergradient
    through the last inner step only, taken at the inner solution. ``alpha``: the inner rate
    (default: the learner's, ``Learner.inner_lr``)."""
    est = implicit(lam=lam, solver="neumann", solver_steps=1, alpha=alpha, tol=tol,
                   task_map=task_map)
    return est._replace(name="t1-t2")
