"""effort-myopic: full-horizon control of learning against the myopic controllers people use.

The gain (on the singular-mode task of effort-gain) and the learning rate with weight decay (on
the overfitting task of effort-hyper, value from the test loss) are controlled four ways from
the same initial controls: the full-horizon optimum (Carrasco-Davis, Masis and Saxe 2023, arXiv
2310.19919), greedy hypergradient descent (Baydin et al. 2018) and receding horizons of H steps
(truncated value, Wu et al. 2018), all from ``metalab.effort``. Claim ``myopic-gap``: the full
horizon reaches a higher value, paired over initial controls.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import numpy as np
import optax

from metalab import effort as E
from metalab.analysis.paired import paired
from metalab.effort.options import ModeTaskOptions, RestartOptions, mode_problem
from metalab.errors import require
from metalab.experiments.effort import hyper
from metalab.experiments.effort.common import SMOKE_BUDGET
from metalab.runs.ascent import restart_keys, restart_stage, seeded_starts
from metalab.runs.experiment import Experiment
from metalab.runs.figures import subplots
from metalab.runs.rundir import RunDir
from metalab.runs.scoreboard import record_claim, regime, report_section

PAPER = "Carrasco-Davis, Masis, Saxe 2023 (learning effort); short-horizon bias: Wu et al. 2018"


@dataclass(frozen=True)
class MyopicConfig(ModeTaskOptions, RestartOptions):
    """Settings of ``metalab run effort-myopic`` (task options: the gain problem's; the
    lr_decay problem is effort-hyper's default task at this run's seed)."""

    problems: tuple[str, ...] = ("gain", "lr_decay")
    horizons: tuple[int, ...] = (1, 10, 100, 200)
    """receding horizons H in steps; one >= the run's steps is the full window (a check of the
    re-planning budget: it should match the full-horizon value)"""
    inner_steps: int = 100
    """Adam steps per re-plan of a receding controller (warm-started from the last plan)"""
    greedy_lr: float = 0.05
    """Adam rate of the greedy hypergradient (one step per learning step)"""
    horizon: float = 10.0
    dt: float = 0.05
    gain_max: float = 1.0
    opt_steps: int = 1000

    def __post_init__(self) -> None:
        self.check_task()
        require(set(self.problems) <= {"gain", "lr_decay"} and self.problems, "--problems",
                "choose from gain, lr_decay")
        require(all(h >= 1 for h in self.horizons), "--horizons", "must be positive steps")
        self.check_restarts(least=2)  # the gap is paired over the initial controls
        require(self.inner_steps >= 1 and self.greedy_lr > 0, "--inner-steps",
                "inner steps and --greedy-lr must be positive")

    def resolved(self) -> MyopicConfig:
        """The configuration actually run: ``quick`` shrinks every optimisation."""
        if not self.quick:
            return self
        return replace(self, restarts=min(self.restarts, 3), opt_steps=min(self.opt_steps, 300),
                       inner_steps=min(self.inner_steps, 40))


def _problem(name: str, cfg: MyopicConfig):
    """(tasks, w0, test, neutral control, projection, signals to plot) of a problem."""
    if name == "gain":
        tasks, w0 = mode_problem(cfg)
        bounds = E.Bounds(gain=(cfg.gain_min, cfg.gain_max))
        modes = len(cfg.strengths) - 1
        signals = {"gain mode 0": lambda c: E.mode_gain(c)[:, 0],
                   f"gain mode {modes}": lambda c: E.mode_gain(c)[:, modes]}
        return tasks, w0, None, E.neutral(cfg.steps, w0), bounds, signals
    h = hyper.HyperConfig(seed=cfg.seed)
    train, test, w0, _ = hyper.problem(h)
    bounds = E.Bounds(lr=(0.0, h.lr_max), decay=(0.0, h.decay_max))
    signals = {"lr": lambda c: c.lr, "decay": lambda c: c.decay}
    return train, w0, test, E.neutral(cfg.steps, w0, 1, ("lr", "decay")), bounds, signals


def run(cfg: MyopicConfig, rundir: RunDir) -> dict[str, float]:
    """Every controller on every problem from the same restarts; values, gaps, claims."""
    summary: dict[str, float] = {}
    claims, shapes = [], {}
    setting = cfg.setting()
    for name in cfg.problems:
        tasks, w0, test, control0, bounds, signals = _problem(name, cfg)

        def project(c, bounds=bounds):
            return E.project(c, bounds)

        def value(c, tasks=tasks, w0=w0, test=test):
            return E.evaluate(c, tasks, w0, setting, test)

        init = seeded_starts(control0, project, cfg, cfg.restarts, cfg.restart_scale)
        controls = {"full": restart_stage(rundir, f"{name}-full", value, init, project, cfg)[0]}
        controls["greedy"] = jax.jit(jax.vmap(lambda c, t=tasks, w=w0, x=test: E.greedy(
            c, t, w, setting, optax.adam(cfg.greedy_lr), project, x)))(init)
        for h in cfg.horizons:
            controls[f"h{h}"] = jax.jit(jax.vmap(lambda c, h=h, t=tasks, w=w0, x=test: E.receding(
                c, t, w, setting, h, optax.adam(cfg.opt_lr), project, cfg.inner_steps,
                max(1, h // 10), x)))(init)
        values = {k: np.asarray(jax.jit(jax.vmap(lambda c: value(c)[0]))(c))
                  for k, c in controls.items()}
        shapes[name] = {}
        for k, c in controls.items():
            summary[f"value/{name}/{k}"] = float(values[k].mean())
            best = restart_keys(summary, f"{name}/{k}/", values[k])
            one = jax.tree.map(lambda x, b=best: x[b], c)
            shapes[name][k] = {s: np.asarray(f(one)) for s, f in signals.items()}
            for s, curve in shapes[name][k].items():
                key, half = f"shape/{name}/{k}/{s.replace(' ', '_')}", len(curve) // 2
                summary[f"{key}/early"] = float(curve[:half].mean())
                summary[f"{key}/late"] = float(curve[half:].mean())
            if k == "full" or (k.startswith("h") and int(k[1:]) >= cfg.steps):
                continue
            stat = paired(values["full"], values[k], direction="greater")
            summary |= {f"gap/{name}/{k}": stat.difference, f"gap/{name}/{k}/low": stat.low,
                        f"gap/{name}/{k}/high": stat.high}
            claims.append(record_claim(
                f"myopic-gap/{name}/{k}", stat, paper=PAPER,
                claim="full-horizon control reaches a higher discounted value than myopic control",
                metric=f"value, full-horizon optimum minus {k} ({name}), paired over "
                       f"{cfg.restarts} initial controls",
                regime=regime(cfg), means=(float(values["full"].mean()), float(values[k].mean()))))
    _plot(rundir, shapes, cfg)
    rundir.write_summary("effort-myopic", summary, claims=claims)
    what = (
        f"Problems {list(cfg.problems)}: `gain`, per-weight gain in [{cfg.gain_min}, "
        f"{cfg.gain_max}] on modes {list(cfg.strengths)}; `lr_decay`, learning rate and weight "
        f"decay on effort-hyper's task (value from the test loss). {cfg.method} dynamics, dt "
        f"{cfg.dt}, horizon {cfg.horizon} ({cfg.steps} steps), gamma {cfg.gamma}, {cfg.cost} "
        f"cost, beta {cfg.beta}. Controllers, each from the same {cfg.restarts} initial controls"
        f" (neutral plus offsets of scale {cfg.restart_scale}): `full` ({cfg.opt_steps} Adam "
        f"steps, lr {cfg.opt_lr}, on the whole value), `greedy` (hypergradient, one Adam step of "
        f"lr {cfg.greedy_lr} per learning step on the next step's value), `h<H>` (receding "
        f"horizon: every max(1, H // 10) steps, {cfg.inner_steps} warm-started Adam steps on the "
        f"value of the next H steps). Every control is scored by the full value; "
        f"`<problem>/<c>/restarts/*`: best, worst and spread over initial controls; `gap/*`: "
        f"full minus myopic, paired over initial controls (95% t interval); `shape/*`: the best "
        f"restart's signal averaged over the first and second half of learning. A horizon of "
        f"{cfg.steps} steps or more is the full window, a check of the re-planning budget."
    )
    rundir.write_report("Learning effort: full-horizon against myopic control", what, summary,
                        sections=report_section(claims))
    return summary


def _plot(rundir: RunDir, shapes, cfg: MyopicConfig) -> None:
    """The best restart's control over time, per problem, signal and controller."""
    t = np.arange(cfg.steps) * cfg.dt
    panels = [(p, s) for p in shapes for s in next(iter(shapes[p].values()))]
    fig, axes = subplots(1, len(panels), figsize=(4.5 * len(panels), 3.8), squeeze=False)
    for ax, (p, s) in zip(axes[0], panels, strict=True):
        for k, curves in shapes[p].items():
            ax.plot(t, curves[s], label=k, lw=2.0 if k == "full" else 1.0)
        ax.set(xlabel="time (units of tau)", ylabel=s, title=f"{p}: {s}")
    axes[0, 0].legend(fontsize=8)
    rundir.save_figure(fig, "myopic_controls")


EXPERIMENT = Experiment(
    name="effort-myopic",
    description="full-horizon control of gain, learning rate and decay against greedy and "
                "truncated-horizon controllers, from several initial controls",
    expected_time="5 min",
    quick_time="1 min",  # 42 s on 2 idle cores, cold compile cache (109 programs, 24 s compiling)
    config=MyopicConfig,
    run=run,
    smoke=(*SMOKE_BUDGET, "--strengths", "2", "1", "--horizons", "1", "3", "--restarts", "2",
           "--inner-steps", "2"),
    summary_keys=("value/gain/full", "value/gain/greedy", "value/gain/h1", "gap/gain/h1",
                  "gain/full/restarts/spread", "shape/gain/full/gain_mode_0/early"),
)
