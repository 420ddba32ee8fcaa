"""Weight noise with a sigma beyond float32, accuracy of an empty set, a run folder given as a checkpoint."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dlbasic.checkpoint import read_tensors
from dlbasic.cli import main
from dlbasic.errors import UserError
from dlbasic.regularization.noise import InputNoise, WeightNoise
from dlbasic.training import atomic_save, load_checkpoint
from dlbasic.training.tasks import ClassificationTask

# ---- weight noise -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_weight_noise_beyond_the_dtypes_range_is_infinite_not_an_error(dtype):
    sigma = 1e39 if dtype == torch.float32 else 1e5  # larger than the dtype's largest value
    model = nn.Linear(4, 3).to(dtype)
    clean = [p.detach().clone() for p in model.parameters()]
    cb = WeightNoise(sigma, seed=0)
    cb.on_batch_start(SimpleNamespace(model=model))  # was: "value cannot be converted ... without overflow"
    noisy = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert bool(torch.isinf(noisy).any()) and not bool(torch.isnan(noisy).any())
    cb.on_after_backward(SimpleNamespace(model=model))
    assert all(torch.equal(p.detach(), c) for p, c in zip(model.parameters(), clean, strict=True))


def test_weight_noise_is_unchanged_for_an_ordinary_sigma():
    """sigma * N(0, 1) drawn from the callback's generator, as before."""
    model = nn.Linear(4, 3)
    clean = [p.detach().clone() for p in model.parameters()]
    WeightNoise(0.1, seed=5).on_batch_start(SimpleNamespace(model=model))
    g = torch.Generator().manual_seed(5)
    for p, c in zip(model.parameters(), clean, strict=True):
        torch.testing.assert_close(p.detach(), c + 0.1 * torch.randn(c.shape, generator=g))


@pytest.mark.parametrize("sigma", [math.inf, -math.inf, math.nan, -0.5])
@pytest.mark.parametrize("cls", [WeightNoise, InputNoise])
def test_noise_sigma_must_be_finite_and_non_negative(cls, sigma):
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0") as e:
        cls(sigma)
    assert isinstance(e.value, UserError) and "\n" not in str(e.value)  # the CLI prints it in one line


def test_weight_noise_refuses_a_sigma_that_is_not_a_number():
    with pytest.raises(ValueError, match="must be a number"):
        WeightNoise("a lot")


# ---- empty sets ---------------------------------------------------------------------------------


def test_classification_summary_of_no_batches_is_nan_not_a_key_error():
    out = ClassificationTask.summarize({"loss": 0.0}, 1)
    assert set(out) == {"accuracy"} and math.isnan(out["accuracy"])
    assert math.isnan(ClassificationTask.summarize({"loss": 0.0, "count": 0}, 0)["accuracy"])
    assert ClassificationTask.summarize({"loss": 1.0, "correct": 3.0}, 4) == {"accuracy": 0.75}


def test_trainer_evaluates_an_empty_set_to_nan_accuracy(small_trainer):
    trainer = small_trainer(epochs=1, batch_size=64)
    empty = trainer.val_data.subset(torch.arange(0))
    assert len(empty) == 0
    result = trainer.evaluate(empty)
    assert math.isnan(result["accuracy"])


# ---- a folder where a checkpoint file is expected -------------------------------------------------


@pytest.mark.parametrize("name", ["best.pt", "checkpoint.pt"])
def test_a_run_folder_given_as_checkpoint_names_the_file_inside(tmp_path, name):
    run = tmp_path / "run"
    atomic_save({"model": {"w": torch.zeros(2)}}, run / name)
    with pytest.raises(UserError) as e:
        read_tensors(run)
    assert str(e.value) == f"{run} is a folder, not a checkpoint file (pass {run / name})"
    with pytest.raises(UserError, match="is a folder"):
        load_checkpoint(run)


def test_best_pt_is_the_file_named_when_a_run_folder_holds_both(tmp_path):
    for name in ("checkpoint.pt", "best.pt"):
        atomic_save({"model": {}}, tmp_path / name)
    with pytest.raises(UserError, match=f"pass {tmp_path / 'best.pt'}"):
        read_tensors(tmp_path)


def test_a_folder_without_a_checkpoint_says_to_pass_the_file(tmp_path):
    with pytest.raises(UserError) as e:
        read_tensors(tmp_path)
    assert str(e.value).startswith(f"{tmp_path} is a folder, not a checkpoint file (pass the checkpoint file itself")


def test_eval_of_a_run_folder_is_one_line_naming_best_pt(tmp_path, capsys):
    atomic_save({"model": {}}, tmp_path / "best.pt")
    rc = main(["eval", "--checkpoint", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert f"is a folder, not a checkpoint file (pass {tmp_path / 'best.pt'})" in err


def test_config_yaml_follows_the_changes_a_resume_was_allowed(tmp_path, capsys):
    import yaml

    run = tmp_path / "run"
    small = ["--data", "digits", "--model", "mlp", "--threads", "1", "--no-progress", "--run-dir", str(run)]
    assert main(["train", *small, "--epochs", "1"]) == 0
    resume = ["train", "--run-dir", str(run), "--resume", "--no-progress"]
    assert main([*resume, "--epochs", "2", "--allow-changes", "epochs"]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 2
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 2
    capsys.readouterr()
    assert main([*resume, "--epochs", "3", "--lr", "0.5"]) == 2  # the refusal names the run's epochs as they are
    err = capsys.readouterr().err
    assert "epochs 2 -> 3" in err and "lr" in err, err
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 2  # a refused resume writes nothing
