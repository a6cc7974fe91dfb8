"""Few-shot image classifiers: any registered learner over the 4-block conv net."""

from __future__ import annotations

from metalab.learners import LEARNERS
from metalab.learners.base import Learner
from metalab.models.convnet import convnet


def conv_learner(name: str, n_way: int, image_shape: tuple[int, int, int], width: int,
                 inner_lr: float, conv: str) -> Learner:
    """``LEARNERS[name]`` over the 4-block conv net (``width`` filters per block, ``conv``
    as in ``models/convnet.py``) with an ``n_way`` head and the cross-entropy loss."""
    model = convnet(n_way, image_shape, width=width, conv=conv)
    return LEARNERS[name](model, inner_lr, "cross_entropy")
