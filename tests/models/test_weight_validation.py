"""Weight files and checkpoints are checked before a model is built from them: crafted metadata, NaN or infinite
weights and pickles that would run code end in one `UserError` line naming the file and the field."""

from __future__ import annotations

import json
import os
import pickle
import time

import pytest
import torch

from dlbasic.cli import main
from dlbasic.errors import UserError
from dlbasic.models import create_model

META = {"kind": "classification", "model": "tiny_cnn", "num_classes": 10, "in_channels": 1, "input_size": 28}


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    model = create_model("tiny_cnn", num_classes=10, in_channels=1, input_size=28)
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def safetensors_file(path, state, meta) -> str:
    from safetensors.torch import save_file

    save_file(state, str(path), metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    return str(path)


def one_line(e: pytest.ExceptionInfo, *words: str) -> None:
    text = str(e.value)
    assert "\n" not in text and all(w in text for w in words), text


CRAFTED = [
    ("num_classes", "abc"),
    ("num_classes", [1, 2]),
    ("num_classes", 2.5),
    ("num_classes", True),
    ("num_classes", 10**12),
    ("in_channels", 1.5),
    ("input_size", "big"),
    ("input_size", 1e8),
    ("input_size", 10**8),
    ("model_options", [1, 2]),
    ("model_options", "dropout=0.5"),
    ("model_options", {"num_classes": 3}),
    ("model_options", {"width": 3}),
    ("model", 7),
    ("kind", {"a": 1}),
]


@pytest.mark.parametrize("field, value", CRAFTED, ids=[f"{f}={v!r}" for f, v in CRAFTED])
def test_crafted_metadata_is_one_line_naming_the_file_and_field(tmp_path, state, field, value):
    path = safetensors_file(tmp_path / "F.safetensors", state, {**META, field: value})
    start = time.perf_counter()
    with pytest.raises(UserError) as caught:
        create_model("tiny_cnn", weights=path)
    assert time.perf_counter() - start < 5
    one_line(caught, path, f"metadata {field}")


def test_metadata_nested_without_end_is_one_line(tmp_path, state):
    path = safetensors_file(tmp_path / "F.safetensors", state, {**META, "config": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(UserError) as caught:
        create_model("tiny_cnn", weights=path)
    one_line(caught, path, "'config'", "nested more than")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_that_are_not_finite_are_refused(tmp_path, state, bad, suffix):
    key = next(k for k, v in state.items() if v.is_floating_point())
    broken = {**state, key: state[key].clone()}
    broken[key].view(-1)[3] = bad
    path = tmp_path / f"F{suffix}"
    if suffix == ".pt":
        torch.save({"model": broken, "meta": META}, path)
    else:
        safetensors_file(path, broken, META)
    with pytest.raises(UserError) as caught:
        create_model("tiny_cnn", weights=str(path))
    one_line(caught, str(path), f"weight {key!r} holds NaN or infinite values")
    if suffix == ".pt":
        from dlbasic.training.restore import load_checkpoint

        with pytest.raises(UserError, match="holds NaN or infinite values"):
            load_checkpoint(path)


def test_sound_metadata_still_builds_the_model(tmp_path, state):
    path = safetensors_file(tmp_path / "F.safetensors", state, {**META, "model_options": {}, "input_size": None})
    model = create_model("tiny_cnn", weights=path, input_size=28)
    assert torch.equal(model.state_dict()[next(iter(state))], next(iter(state.values())))


@pytest.mark.parametrize(
    "sizes, words",
    [
        ({"num_classes": "abc"}, "num_classes must be an integer from 1 to 100000, got 'abc'"),
        ({"in_channels": 0}, "in_channels must be positive, got 0"),
        ({"input_size": 10**8}, "input_size must be at most 4096, got 100000000"),
        ({"input_size": 2.5}, "input_size must be an integer"),
    ],
)
def test_create_model_refuses_sizes_out_of_bounds(sizes, words):
    with pytest.raises(UserError) as caught:
        create_model("simple_cnn", **sizes)
    one_line(caught, words)


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch ran",))


def test_export_of_a_pickle_that_would_run_code_is_the_refusal_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"model": RunsCode()}))
    assert main(["export", "--checkpoint", "evil.pt", "--format", "onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and err.startswith("dlbasic export: error: ") and "evil.pt" in err, err
    assert not (tmp_path / "ran").exists() and not (tmp_path / "evil.onnx").exists()


def test_eval_takes_threads(tmp_path, capsys, monkeypatch):
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    assert main(["eval", "--checkpoint", str(tmp_path / "none.pt"), "--threads", "1"]) == 2
    assert "no such checkpoint" in capsys.readouterr().err and threads == [1]
    assert main(["eval", "--checkpoint", str(tmp_path / "none.pt"), "--threads", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "--threads must be at least 1" in err
