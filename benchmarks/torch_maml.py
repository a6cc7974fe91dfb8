"""Baseline for ``metalab bench omniglot``: a plain PyTorch second-order MAML meta-step.

The same workload as the JAX benchmark: the 4-block conv net (64 filters, batch norm with batch
statistics, ReLU, 2x2 max-pool, linear head), 5-way 1-shot with 5 queries per class, meta-batch
32, 1 to 5 inner SGD steps (``--inner-steps``) with ``create_graph=True``, outer Adam. Tasks
are looped over in Python, as in the usual PyTorch MAML implementations.
PyTorch is not a metalab dependency:

    pip install torch        # then
    python benchmarks/torch_maml.py --meta-batch 32 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F


def init(n_way: int, width: int = 64) -> list[torch.Tensor]:
    """Weights [w, b, gamma, beta] x 4 blocks, then head w, b (He-scaled like metalab's)."""
    params, c_in = [], 1
    for _ in range(4):
        params += [torch.randn(width, c_in, 3, 3) * (2.0 / (9 * c_in)) ** 0.5,
                   torch.zeros(width), torch.ones(width), torch.zeros(width)]
        c_in = width
    params += [torch.randn(n_way, width) * width**-0.5, torch.zeros(n_way)]
    return [p.requires_grad_() for p in params]


def forward(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits of x [B, 1, 28, 28]."""
    for i in range(4):
        w, b, g, beta = params[4 * i : 4 * i + 4]
        x = F.conv2d(x, w, b, padding=1)
        x = F.batch_norm(x, None, None, g, beta, training=True)
        x = F.max_pool2d(F.relu(x), 2)
    return F.linear(x.flatten(1), params[-2], params[-1])


def meta_step(params, opt, tasks, inner_lr: float, inner_steps: int) -> float:
    """One second-order MAML meta-step over a list of (sx, sy, qx, qy) tasks."""
    opt.zero_grad()
    total = 0.0
    for sx, sy, qx, qy in tasks:
        fast = params
        for _ in range(inner_steps):
            grads = torch.autograd.grad(F.cross_entropy(forward(fast, sx), sy), fast,
                                        create_graph=True)
            fast = [p - inner_lr * g for p, g in zip(fast, grads, strict=True)]
        loss = F.cross_entropy(forward(fast, qx), qy) / len(tasks)
        loss.backward()
        total += loss.item()
    opt.step()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meta-batch", type=int, default=32)
    parser.add_argument("--n-way", type=int, default=5)
    parser.add_argument("--k-shot", type=int, default=1)
    parser.add_argument("--q-query", type=int, default=5)
    parser.add_argument("--inner-steps", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    n, k, q = args.n_way, args.k_shot, args.q_query
    tasks = [(torch.rand(n * k, 1, 28, 28), torch.arange(n).repeat_interleave(k),
              torch.rand(n * q, 1, 28, 28), torch.arange(n).repeat_interleave(q))
             for _ in range(args.meta_batch)]
    params = init(n)
    opt = torch.optim.Adam(params, lr=1e-3)
    start = time.perf_counter()
    meta_step(params, opt, tasks, 0.4, args.inner_steps)
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        meta_step(params, opt, tasks, 0.4, args.inner_steps)
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"workload": f"omniglot-conv64-{n}w{k}s{q}q", "framework": "pytorch",
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "meta_batch": args.meta_batch, "inner_steps": args.inner_steps,
                      "ms_per_meta_step": round(best * 1e3, 1),
                      "first_step_s": round(first, 2)}))


if __name__ == "__main__":
    main()
