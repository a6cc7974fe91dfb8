"""Outer optimisers with a learning rate per meta-parameter entry.

Meta-parameters are a dict (``{"init": theta, "mask": m}``, ``{"init": theta, "lr": a}``...);
some entries need their own outer learning rate, e.g. sparse-MAML's mask logits (von Oswald
et al. 2021 train them with a separate Adam). ``per_entry_adam`` builds one Adam per top-level
key with ``optax.multi_transform``; keys without an override use the default rate, and overrides for
keys the meta-parameters do not have are ignored, so one call serves every learner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import optax


def per_entry_adam(
    default_lr: float,
    entry_lrs: Mapping[str, float] | None = None,
    *,
    build: Callable[[float], optax.GradientTransformation] = optax.adam,
) -> optax.GradientTransformation:
    """``build(lr)`` per top-level entry of the meta dict: ``entry_lrs[key]`` or ``default_lr``."""
    overrides = dict(entry_lrs or {})
    transforms = {"default": build(default_lr)}
    transforms.update({f"entry:{k}": build(lr) for k, lr in overrides.items()})

    def labels(meta: dict) -> dict:
        return {
            k: jax.tree.map(lambda _, k=k: f"entry:{k}" if k in overrides else "default", v)
            for k, v in meta.items()
        }

    return optax.multi_transform(transforms, labels)
