"""Where and how a run computes: the device, the precision and the memory format, resolved from "auto".

`auto` device: cuda, then mps, then cpu. `auto` precision: bf16 autocast where the hardware computes in
bf16 natively (CUDA with bf16 support; CPUs with AVX512-BF16 or AMX, through oneDNN), else fp32.
Channels-last (NHWC) is chosen for convolutional models trained in bf16 on a CPU, oneDNN's fast layout.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import torch
from torch import nn

from dlbasic.errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; other names are checked for availability."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}", "choices: auto, cpu, cuda, cuda:N, mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available", "use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps was asked for but MPS is not available", "use --device cpu")
    return device


@functools.cache
def _cpu_has_bf16() -> bool:
    """True on CPUs with bf16 arithmetic in hardware (AVX512-BF16 or AMX), where oneDNN runs bf16 fast."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return torch.backends.mkldnn.is_available() and re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


def native_bf16(device: torch.device) -> bool:
    """True where bf16 matrix multiplies and convolutions run in hardware on `device`."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _cpu_has_bf16()


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' is bf16 autocast where the hardware computes in bf16 natively, else fp32."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision; None for fp32 (no autocast)."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def resolve_channels_last(channels_last: bool | None, device: torch.device, model: nn.Module) -> bool:
    """None (auto) is NHWC for convolutional models on a CPU, in any precision: oneDNN's fast layout there
    (`benchmarks/precision.py --threads 2`, fp32: 1.18x resnet18, 1.43x mnist_fast, simple_cnn within the
    machine's spread). On a GPU it stays contiguous unless asked for (`--channels-last`)."""
    if channels_last is not None:
        return channels_last
    return device.type == "cpu" and any(isinstance(m, nn.Conv2d) for m in model.modules())
