"""`--precision auto` and automatic channels-last: what they resolve to, and what a run records."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlbasic.config import TrainConfig
from dlbasic.training import device as device_module
from dlbasic.training.device import resolve_channels_last, resolve_precision
from dlbasic.training.run import train

CPU = torch.device("cpu")
CONV = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten())
MLP = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))


@pytest.mark.parametrize("has_bf16, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_follows_the_hardware(monkeypatch, has_bf16: bool, expected: str) -> None:
    monkeypatch.setattr(device_module, "_cpu_has_bf16", lambda: has_bf16)
    assert resolve_precision("auto", CPU) == expected
    for explicit in ("fp32", "bf16", "fp16"):
        assert resolve_precision(explicit, CPU) == explicit


def test_auto_channels_last_only_for_conv_nets_on_cpu() -> None:
    assert resolve_channels_last(None, CPU, CONV) is True
    assert resolve_channels_last(None, CPU, MLP) is False
    assert resolve_channels_last(None, torch.device("meta"), CONV) is False
    assert resolve_channels_last(False, CPU, CONV) is False
    assert resolve_channels_last(True, CPU, MLP) is True


@pytest.mark.parametrize("has_bf16", [True, False])
def test_a_run_records_what_auto_resolved_to(monkeypatch, has_bf16: bool) -> None:
    monkeypatch.setattr(device_module, "_cpu_has_bf16", lambda: has_bf16)
    cfg = TrainConfig(data="digits", model="simple_cnn", epochs=1, train_subset=128, device="cpu")
    summary = train(cfg, None, progress=False)
    assert summary["precision"] == ("bf16" if has_bf16 else "fp32")
    assert summary["channels_last"] is True  # a conv net on a CPU, in either precision


def test_nhwc_fp32_trains_like_contiguous_fp32() -> None:
    """The default memory format changes only the order of sums: the same SGD run in either layout ends
    with the same weights up to float rounding (without dropout, whose masks are drawn in memory order, and
    with SGD: Adam would amplify rounding in near-zero gradients)."""
    runs = {}
    for cl in (False, None):
        cfg = TrainConfig(
            data="digits", model="simple_cnn", optimizer="sgd", lr=0.05, epochs=1, train_subset=128, seed=3
        )
        cfg.model_options = {"dropout": 0.0}
        cfg.device = "cpu"
        cfg.precision, cfg.channels_last = "fp32", cl
        runs[cl] = train(cfg, None, progress=False)
    assert runs[False]["channels_last"] is False and runs[None]["channels_last"] is True
    a, b = (runs[cl]["model"].state_dict() for cl in (False, None))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)
