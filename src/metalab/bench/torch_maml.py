"""The baseline of ``metalab bench omniglot``: a plain PyTorch second-order MAML meta-step.

The same workload as the JAX rows: the 4-block conv net (batch norm with batch statistics,
ReLU, 2x2 max-pool, linear head), N-way K-shot episodes of random 28x28 images, inner SGD
steps with ``create_graph=True``, outer Adam. Tasks are looped over in Python and each task's
query loss is backpropagated at once, as in the usual PyTorch MAML implementations. PyTorch is
not a metalab dependency: this module is imported only when ``torch`` is installed.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F


def _init(n_way: int, width: int) -> list[torch.Tensor]:
    """Weights [w, b, gamma, beta] x 4 blocks, then head w, b (He-scaled like metalab's)."""
    params, c_in = [], 1
    for _ in range(4):
        params += [torch.randn(width, c_in, 3, 3) * (2.0 / (9 * c_in)) ** 0.5,
                   torch.zeros(width), torch.ones(width), torch.zeros(width)]
        c_in = width
    params += [torch.randn(n_way, width) * width**-0.5, torch.zeros(n_way)]
    return [p.requires_grad_() for p in params]


def _forward(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits of x [B, 1, 28, 28]."""
    for i in range(4):
        w, b, g, beta = params[4 * i : 4 * i + 4]
        x = F.conv2d(x, w, b, padding=1)
        x = F.batch_norm(x, None, None, g, beta, training=True)
        x = F.max_pool2d(F.relu(x), 2)
    return F.linear(x.flatten(1), params[-2], params[-1])


def _meta_step(params, opt, tasks, inner_lr: float, inner_steps: int) -> None:
    """One second-order MAML meta-step over a list of (sx, sy, qx, qy) tasks."""
    opt.zero_grad()
    for sx, sy, qx, qy in tasks:
        fast = params
        for _ in range(inner_steps):
            grads = torch.autograd.grad(F.cross_entropy(_forward(fast, sx), sy), fast,
                                        create_graph=True)
            fast = [p - inner_lr * g for p, g in zip(fast, grads, strict=True)]
        (F.cross_entropy(_forward(fast, qx), qy) / len(tasks)).backward()
    opt.step()


def time_meta_step(n_way: int, k_shot: int, q_query: int, meta_batch: int, inner_steps: int,
                   width: int, repeats: int) -> tuple[float, float]:
    """(first call seconds, best of ``repeats`` later calls) of the PyTorch meta-step."""
    torch.manual_seed(0)
    n, k, q = n_way, k_shot, q_query
    tasks = [(torch.rand(n * k, 1, 28, 28), torch.arange(n).repeat_interleave(k),
              torch.rand(n * q, 1, 28, 28), torch.arange(n).repeat_interleave(q))
             for _ in range(meta_batch)]
    params = _init(n, width)
    opt = torch.optim.Adam(params, lr=1e-3)
    start = time.perf_counter()
    _meta_step(params, opt, tasks, 0.4, inner_steps)
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        _meta_step(params, opt, tasks, 0.4, inner_steps)
        best = min(best, time.perf_counter() - t0)
    return first, best


def version() -> str:
    """``torch.__version__`` and its intra-op thread count."""
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads"
