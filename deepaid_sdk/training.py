"""The one seeded minibatch training loop of the demos, benchmarks and plugins, with a progress bar.

Each caller supplies the loss of a batch of row indices; the loop owns the optimiser (Adam), the
shuffling (``torch.randperm`` from the caller's generator, so results stay what they were), an
optional cosine schedule, and the bar (``deepaid_sdk.progress``, silent when nobody watches).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import Tensor

from deepaid_sdk.checks import check_finite_number, check_positive_int
from deepaid_sdk.progress import progress


def train_minibatches(
    params: Iterable[Tensor],
    batch_loss: Callable[[Tensor], Tensor],
    n: int,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    device: Any = "cpu",
    weight_decay: float = 0.0,
    cosine: bool = False,
    desc: str = "training",
) -> None:
    """Adam over ``epochs`` passes of ``n`` rows in shuffled batches: ``batch_loss(idx).backward()`` per batch.

    ``idx`` is a 1-d int64 tensor of row indices on ``device``; ``cosine`` anneals the learning
    rate over the epochs. One bar step per epoch.
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    lr = check_finite_number(lr, "lr", above=0.0)
    opt = torch.optim.Adam(list(params), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs) if cosine else None
    for _ in progress(range(epochs), desc=desc, unit="epoch"):
        for idx in torch.randperm(n, generator=generator).split(batch_size):
            opt.zero_grad()
            batch_loss(idx.to(device)).backward()
            opt.step()
        if sched is not None:
            sched.step()
