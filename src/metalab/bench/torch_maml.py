"""The baseline of ``metalab bench omniglot``: a plain PyTorch second-order MAML meta-step.

The same workload as the JAX rows: the 4-block conv net (batch norm with batch statistics,
ReLU, 2x2 max-pool, linear head), N-way K-shot episodes of random 28x28 images, inner SGD
steps with ``create_graph=True``, outer Adam. Tasks are looped over in Python and each task's
query loss is backpropagated at once, as in the usual PyTorch MAML implementations. It runs on
the GPU when the JAX rows do and torch sees one (``device``). PyTorch is not a metalab
dependency: this module is imported only when ``torch`` is installed.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F


def device(jax_platform: str) -> str:
    """``cuda`` when the JAX rows run on a GPU and torch sees one, else ``cpu``: the baseline
    runs where the rows it is compared with run."""
    return "cuda" if jax_platform == "gpu" and torch.cuda.is_available() else "cpu"


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
                   width: int, repeats: int, on: str = "cpu") -> tuple[float, float]:
    """(first call seconds, best of ``repeats`` later calls) of the PyTorch meta-step on
    device ``on`` (``cpu`` or ``cuda``; the GPU is synchronised before each clock read)."""
    torch.manual_seed(0)
    n, k, q = n_way, k_shot, q_query
    tasks = [(torch.rand(n * k, 1, 28, 28), torch.arange(n).repeat_interleave(k),
              torch.rand(n * q, 1, 28, 28), torch.arange(n).repeat_interleave(q))
             for _ in range(meta_batch)]
    tasks = [tuple(t.to(on) for t in task) for task in tasks]
    params = [p.detach().to(on).requires_grad_() for p in _init(n, width)]
    opt = torch.optim.Adam(params, lr=1e-3)

    def timed() -> float:
        start = time.perf_counter()
        _meta_step(params, opt, tasks, 0.4, inner_steps)
        if on == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    first = timed()
    return first, min((timed() for _ in range(repeats)), default=float("inf"))


def version(on: str = "cpu") -> str:
    """``torch.__version__`` and the device: its intra-op thread count, or the GPU's name."""
    where = (torch.cuda.get_device_name() if on == "cuda"
             else f"{torch.get_num_threads()} threads")
    return f"torch {torch.__version__}, {where}"
