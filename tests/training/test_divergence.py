"""A NaN or infinite loss stops training with `Diverged`; only finite weights are ever written."""

import json

import pytest
import torch

from dlbasic.callbacks import Callback
from dlbasic.cli import main
from dlbasic.config import TrainConfig
from dlbasic.errors import Diverged, UserError
from dlbasic.training import load_checkpoint, train

SMALL = ["--data", "digits", "--model", "mlp", "--threads", "1", "--no-progress"]


def strict_json(text):
    """`json.loads` refusing the NaN/Infinity tokens that are not JSON."""
    return json.loads(text, parse_constant=lambda token: pytest.fail(f"invalid JSON token {token}"))


def finite(state):
    return all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())


class Poison(Callback):
    """Sets the first weight to `value` at a hook once `when(trainer)` holds; snapshots the files it finds then."""

    def __init__(self, hook, when, value=float("nan")):
        self.hook, self.when, self.value, self.files = hook, when, value, {}

    def _maybe(self, trainer):
        if self.when(trainer) and not self.files:
            for name in ("checkpoint.pt", "best.pt"):
                path = trainer.run_dir / name if trainer.run_dir is not None else None
                self.files[name] = path.read_bytes() if path is not None and path.is_file() else None
            with torch.no_grad():
                next(trainer.model.parameters()).view(-1)[0] = self.value

    def on_batch_start(self, trainer):
        if self.hook == "batch_start":
            self._maybe(trainer)

    def on_epoch_end(self, trainer, epoch, logs):
        if self.hook == "epoch_end":
            self._maybe(trainer)


def test_nan_loss_stops_and_keeps_the_last_finite_checkpoint(tmp_path, small_trainer):
    probe = small_trainer(epochs=3, batch_size=64)
    spe = probe.steps_per_epoch
    poison = Poison("batch_start", lambda t: t.global_step == spe + 3)  # step spe + 4 computes a nan loss
    trainer = small_trainer(epochs=3, batch_size=64, run_dir=tmp_path, callbacks=[poison])
    with pytest.raises(Diverged) as info:
        trainer.fit()
    e = info.value
    assert isinstance(e, UserError) and (e.epoch, e.step) == (2, spe + 4) and e.loss != e.loss
    assert str(e).startswith(f"training diverged at epoch 2, step {spe + 4}: loss is nan (lower --lr")
    assert str(e).endswith(f"the last finite checkpoint is kept in {tmp_path / 'checkpoint.pt'}")
    assert e.best == str(tmp_path / "best.pt")
    assert (tmp_path / "checkpoint.pt").read_bytes() == poison.files["checkpoint.pt"]
    assert (tmp_path / "best.pt").read_bytes() == poison.files["best.pt"]
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["global_step"] == spe and finite(state["model"])
    assert finite(load_checkpoint(tmp_path / "best.pt")["model"])
    assert not list(tmp_path.glob(".*.tmp"))


def test_mid_epoch_checkpoints_are_kept_too(tmp_path, small_trainer):
    poison = Poison("batch_start", lambda t: t.global_step == 8)
    trainer = small_trainer(epochs=2, batch_size=64, run_dir=tmp_path, checkpoint_every=5, callbacks=[poison])
    with pytest.raises(Diverged, match="epoch 1, step 9: loss is nan"):
        trainer.fit()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["global_step"] == 5
    assert not (tmp_path / "best.pt").exists()


def test_non_finite_weights_with_a_finite_loss_are_never_written(tmp_path, small_trainer):
    poison = Poison("epoch_end", lambda t: t.epoch == 1, value=float("inf"))  # after the last step of epoch 2
    trainer = small_trainer(epochs=3, batch_size=64, run_dir=tmp_path, callbacks=[poison])
    with pytest.raises(Diverged, match=r"epoch 2, step \d+: weight '.*' is not finite \(last loss \d"):
        trainer.fit()
    assert (tmp_path / "checkpoint.pt").read_bytes() == poison.files["checkpoint.pt"]
    assert (tmp_path / "best.pt").read_bytes() == poison.files["best.pt"]
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1


class InfGrad(torch.autograd.Function):
    """Zero in the forward pass, infinite gradients in the backward pass (an fp16 overflow in miniature)."""

    @staticmethod
    def forward(ctx, x):
        return x.sum() * 0

    @staticmethod
    def backward(ctx, grad):
        return torch.full((32, 64), float("inf"))


def test_skipped_grad_scaler_steps_are_not_divergence(small_trainer):
    trainer = small_trainer(epochs=1, batch_size=64)
    weight = next(trainer.model.parameters())
    assert weight.shape == (32, 64)
    trainer.loss_terms.append(lambda model: InfGrad.apply(weight) if trainer.global_step < 3 else weight.sum() * 0)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    trainer.fit()  # the scaler skips three steps; the loss stays finite
    assert trainer.scaler.get_scale() == 128.0 and torch.isfinite(weight).all()
    unscaled = small_trainer(epochs=1, batch_size=64)
    w = next(unscaled.model.parameters())
    unscaled.loss_terms.append(lambda model: InfGrad.apply(w) if unscaled.global_step < 1 else w.sum() * 0)
    with pytest.raises(Diverged, match="step 2: loss is nan"):
        unscaled.fit()


def test_stability_studies_may_train_through_divergence(tmp_path, small_trainer):
    class KeepGoing(Callback):
        def on_fit_start(self, trainer):
            trainer.stop_on_divergence = False

    poison = Poison("batch_start", lambda t: t.global_step == 3)
    trainer = small_trainer(epochs=2, batch_size=64, callbacks=[KeepGoing(), poison])
    history = trainer.fit()
    assert len(history) == 2 and all(h["train_loss"] != h["train_loss"] for h in history)
    writing = small_trainer(
        epochs=1,
        batch_size=64,
        run_dir=tmp_path,
        stop_on_divergence=False,
        callbacks=[Poison("batch_start", lambda t: t.global_step == 3)],
    )
    with pytest.raises(Diverged, match="is not finite"):
        writing.fit()
    assert not (tmp_path / "checkpoint.pt").exists() and not (tmp_path / "best.pt").exists()


def test_a_diverged_run_writes_a_valid_summary(tmp_path):
    cfg = TrainConfig(
        data="digits", model="mlp", epochs=2, batch_size=64, lr=1e3, optimizer="sgd", threads=1, precision="fp32"
    )
    with pytest.raises(Diverged) as info:
        train(cfg, tmp_path / "run", progress=False)
    summary = strict_json((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["loss"] in ("nan", "inf", "-inf")
    assert summary["epoch"] == info.value.epoch and summary["step"] == info.value.step
    assert summary["checkpoint"] is None and summary["best"] is None
    assert "--precision" not in summary["message"]  # fp32 already


def test_cli_exits_3_with_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--optimizer", "sgd", "--lr", "1e3", "--epochs", "2", "--run-dir", str(run)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("dlbasic train: error: training diverged at epoch 1, step ")
    assert strict_json((run / "summary.json").read_text())["status"] == "diverged"


def test_detection_nan_loss_stops_without_a_checkpoint(tmp_path, monkeypatch):
    from dlbasic.detection import train as detection

    split = detection.load_split("scenes", train_limit=4, test_limit=2)
    build = detection.build_detector

    def poisoned(*args, **kwargs):
        model = build(*args, **kwargs)
        with torch.no_grad():
            next(model.parameters()).view(-1)[0] = float("nan")
        return model

    monkeypatch.setattr(detection, "build_detector", poisoned)
    cfg = detection.DetectionConfig(model="yolo_v1", epochs=1, batch_size=2)
    with pytest.raises(Diverged, match="training diverged at epoch 1, step 1: loss is nan"):
        detection.train_detector(cfg, split=split, run_dir=tmp_path)
    assert not (tmp_path / "checkpoint.pt").exists()
