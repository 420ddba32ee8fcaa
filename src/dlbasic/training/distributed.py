"""Data-parallel training across processes (PyTorch DistributedDataParallel).

Launch with torchrun, which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT:

    torchrun --nproc_per_node=2 -m dlbasic.cli train --batch-size 32 ...                  # one machine
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 \\
             --nproc_per_node=1 -m dlbasic.cli train ...                                  # on each machine

Every process draws the same seeded, epoch-dependent permutation; each global batch of G = N x B
images (N processes of batch B) is dealt out in N contiguous shares (`trainer.shard`), so N processes
take the steps of one process with batch N x B: ceil(size / G) per epoch, for any data size. A last
global batch of G' < G images is shared out unevenly (sizes differ by at most one, empty when G' < N),
and no image is repeated or dropped.

DDP averages the N processes' gradients; for that to be the gradient of the mean over the global
batch, each process weights its task loss (a mean over its c_r counted terms: images, or pixels not
ignored) by c_r N / sum c (`Trainer._global_batch_loss`). Explicit penalty terms are the same in every
process and are not weighted. Logged losses and metrics are means over the global batch.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a distributed run."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this is the process of rank 0 (always, outside a distributed run): the one that prints and writes."""
    return world()[0] == 0


def setup(device: torch.device) -> bool:
    """Join the process group torchrun describes (gloo on CPU, nccl on CUDA); False when not launched so."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return True


def local_device(device: torch.device) -> torch.device:
    """On CUDA each process uses the GPU of its local rank."""
    if device.type == "cuda" and dist.is_available() and dist.is_initialized():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def barrier() -> None:
    """Wait until every process reaches this point; nothing in a single process."""
    if world()[1] > 1:
        dist.barrier()


def sum_over_processes(t: Tensor) -> Tensor:
    """Elementwise sum of `t` over processes, in float64 on `t`'s device (a copy); `t` in a single process.

    Under nccl, which reduces only CUDA tensors, a CPU tensor is reduced on this process's GPU and comes back.
    """
    if world()[1] == 1:
        return t
    device = t.device
    if dist.get_backend() == "nccl" and device.type != "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    out = t.detach().to(device, torch.float64, copy=True)
    dist.all_reduce(out)
    return out.to(t.device)


def all_sum(values: dict[str, Any]) -> dict[str, Any]:
    """Sum numbers (and tensors) over processes; identity in a single process."""
    if world()[1] == 1:
        return values
    out = {}
    for k, v in values.items():
        t = sum_over_processes(torch.as_tensor(v, dtype=torch.float64))
        out[k] = t.item() if t.numel() == 1 else t.cpu()
    return out


def gather(obj: Any) -> list[Any]:
    """Every process's `obj`, in rank order (a one-item list in a single process)."""
    size = world()[1]
    if size == 1:
        return [obj]
    out: list[Any] = [None] * size
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: Any) -> Any:
    """Rank 0's `obj` on every process."""
    if world()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup() -> None:
    """Leave the process group, if this process joined one (safe to call when none was set up)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
