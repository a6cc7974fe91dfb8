"""Errors the CLI maps to exit codes: bad input is 2, divergence and other failures are 1;
and the checks a configuration runs before compute."""

from __future__ import annotations

from typing import Any


class BadInput(ValueError):
    """Invalid configuration or data, raised before any compute starts (exit code 2).

    The message names the option and says what is allowed.
    """

    def __init__(self, option: str, message: str):
        self.option = option
        super().__init__(f"{option}: {message}")


class Diverged(RuntimeError):
    """Training went bad (a NaN or inf, or a loss above the bound) at ``step``; nothing from
    that chunk was saved, so the last checkpoint is a good state (exit code 1)."""

    def __init__(self, step: int, what: str = "non-finite loss"):
        self.step = step
        self.what = what
        super().__init__(
            f"{what} at meta-step {step}; the last good checkpoint was kept. Lower the "
            "learning rates or inner steps and start a new run (--resume would diverge at "
            "the same step)."
        )


def flag(field: str) -> str:
    """The command-line option of a config field, e.g. ``--meta-batch`` for ``meta_batch``."""
    return "--" + field.replace("_", "-")


def require(condition: bool, option: str, message: str) -> None:
    """Raise ``BadInput(option, message)`` unless ``condition`` holds."""
    if not condition:
        raise BadInput(option, message)


def require_cadence(log_every: int, checkpoint_every: int) -> None:
    """``BadInput`` unless checkpoints fall on metrics lines: resume replays whole chunks of
    ``--log-every`` meta-steps, so ``--checkpoint-every`` must be a positive multiple of it."""
    require(log_every > 0, "--log-every", "must be a positive integer")
    require(checkpoint_every > 0 and checkpoint_every % log_every == 0, "--checkpoint-every",
            f"must be a positive multiple of --log-every ({log_every})")


def require_fields(config: Any, *, positive_int: tuple[str, ...] = (),
                   positive: tuple[str, ...] = (), non_negative: tuple[str, ...] = (),
                   at_least: dict[str, float] | None = None) -> None:
    """``BadInput`` for the first field of ``config`` named here (a None value passes) that is
    not a positive integer, not positive, negative, or below its bound in ``at_least``, checked
    in that order: the range checks most configurations start with, in one call."""
    rules = ([(n, lambda v: v > 0, "must be a positive integer") for n in positive_int]
             + [(n, lambda v: v > 0, "must be positive") for n in positive]
             + [(n, lambda v: v >= 0, "must be non-negative") for n in non_negative]
             + [(n, lambda v, low=low: v >= low, f"must be at least {low}")
                for n, low in (at_least or {}).items()])
    for name, ok, message in rules:
        value = getattr(config, name)
        require(value is None or ok(value), flag(name), message)
