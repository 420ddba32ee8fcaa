import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from dlbasic.cli import main
from dlbasic.config import TrainConfig, from_dict, load_config, save_config
from dlbasic.data import load
from dlbasic.errors import UserError
from dlbasic.models import create_model
from dlbasic.training import Trainer, create_scheduler, load_checkpoint, model_from_checkpoint, train

SMALL = ["--data", "digits", "--model", "mlp", "--threads", "1", "--no-progress"]


def test_trainer_learns_digits(small_trainer):
    trainer = small_trainer(epochs=4, batch_size=32)
    history = trainer.fit()
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.9


def test_full_batch_is_one_step_per_epoch(small_trainer):
    trainer = small_trainer(epochs=2, batch_size=10**6)
    trainer.fit()
    assert trainer.steps_per_epoch == 1 and trainer.global_step == 2


def test_in_process_resume_mid_epoch_is_exact(tmp_path, small_trainer):
    reference = small_trainer(epochs=3, batch_size=50)
    reference.fit()

    first = small_trainer(epochs=3, batch_size=50, run_dir=tmp_path, checkpoint_every=7)

    class StopAt:  # interrupt after step 30, in the middle of epoch 2
        def __getattr__(self, name):
            return lambda *a, **k: None

        def on_batch_end(self, trainer, logs):
            if trainer.global_step == 30:
                trainer._interrupted = True

    first.callbacks.append(StopAt())
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["global_step"] == 30 and 0 < state["batch_in_epoch"] < first.steps_per_epoch
    second = small_trainer(epochs=3, batch_size=50)
    second.load_state_dict(state)
    second.fit()
    for a, b in zip(reference.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [h["train_loss"] for h in reference.history] == [h["train_loss"] for h in second.history]


def test_compiled_gradient_mismatch_is_refused(small_trainer):
    trainer = small_trainer(epochs=1, batch_size=32)
    trainer.forward = lambda x: 2 * trainer.model(x)  # stands in for a miscompiled model
    trainer.compile_checked = False
    with pytest.raises(UserError, match="different gradients"):
        trainer.fit()


def test_schedulers_follow_their_formulas():
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(p, lr=1.0)
    sched = create_scheduler("step", opt, epochs=4, steps_per_epoch=3, step_epochs=1, gamma=0.5)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [1.0] * 3 + [0.5] * 3 + [0.25] * 3 + [0.125] * 3
    opt = torch.optim.SGD(p, lr=1.0)
    sched = create_scheduler("cosine", opt, epochs=1, steps_per_epoch=4, warmup_steps=2)
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx(
        [
            0.5,
            1.0 * (0.5 * (1 + torch.cos(torch.tensor(torch.pi / 4)).item())),
            0.5,
            0.5 * (1 + torch.cos(torch.tensor(3 * torch.pi / 4)).item()),
        ]
    )
    with pytest.raises(UserError, match="did you mean 'cosine'"):
        create_scheduler("cosin", opt, epochs=1, steps_per_epoch=1)


def test_run_folder_contents_and_checkpoint_reload(tmp_path):
    cfg = TrainConfig(data="digits", model="mlp", epochs=2, batch_size=64, lr=0.05, optimizer="momentum", threads=1)
    summary = train(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.jsonl", "checkpoint.pt", "best.pt", "curves.png", "summary.json"):
        assert (run / name).is_file(), name
    saved = json.loads((run / "summary.json").read_text())
    for key in ("test_accuracy", "val_accuracy", "train_accuracy", "epochs", "seconds", "images_per_second"):
        assert key in saved
    assert saved["status"] == "finished"
    assert saved["epochs"] == 2 and len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert load_config(run / "config.yaml") == cfg
    model, meta = model_from_checkpoint(run / "best.pt")
    test = load("digits", "test")
    with torch.no_grad():
        acc = (model(test.normalize(test.images)).argmax(1) == test.labels).float().mean().item()
    assert meta["classes"] == [str(i) for i in range(10)]
    assert acc == pytest.approx(summary["test_accuracy"], abs=0.05)
    with pytest.raises(UserError, match="already exists"):
        train(cfg, run)


def test_config_yaml_round_trip_and_errors(tmp_path):
    cfg = from_dict({"lr": 0.01, "batch_size": "full", "model_options": {"hidden": [16, 8]}})
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"learning_rate": 0.1}))
    with pytest.raises(UserError, match="unknown config key 'learning_rate'"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(UserError, match="epochs must be at least 1"):
        from_dict({"epochs": 0})


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    assert main(["train", *SMALL, "--optimizer", "adma", "--run-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "did you mean 'adam'" in err
    assert main(["train", *SMALL, "--epochs", "0", "--run-dir", str(tmp_path / "y")]) == 2
    assert main(["train", "--data", "idx:/nonexistent", "--run-dir", str(tmp_path / "z")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_cli_train_eval_predict(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--epochs", "2", "--run-dir", str(run)]) == 0
    assert main(["eval", "--checkpoint", str(run / "best.pt"), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert '"accuracy"' in out and (run / "confusion-val.png").is_file()
    from PIL import Image

    digit = load("digits", "test")
    Image.fromarray((digit.images[0, 0].numpy() * 255).astype("uint8")).save(tmp_path / "d.png")
    assert main(["predict", "--checkpoint", str(run / "best.pt"), str(tmp_path / "d.png"), "--top", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(tmp_path / "d.png")) and line.count(",") == 1


def _cli(*args):
    return [sys.executable, "-m", "dlbasic.cli", "train", *SMALL, *args]


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    common = ["--epochs", "40", "--batch-size", "16", "--checkpoint-every", "5", "--optimizer", "adam"]
    subprocess.run(_cli(*common, "--run-dir", str(tmp_path / "full")), check=True, capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*common, "--run-dir", str(run)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    ckpt = run / "checkpoint.pt"
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and ckpt.stat().st_size > 0:
            time.sleep(0.3)  # let it get further into the run
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    state = load_checkpoint(ckpt)
    assert state["epoch"] < 40
    subprocess.run(_cli("--run-dir", str(run), "--resume"), check=True, capture_output=True)

    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(run / "checkpoint.pt")
    assert a["global_step"] == b["global_step"]
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert (
        json.loads((tmp_path / "full" / "summary.json").read_text())["test_accuracy"]
        == json.loads((run / "summary.json").read_text())["test_accuracy"]
    )


def _idx(path, array) -> None:
    """An uncompressed IDX file of unsigned bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype("uint8").tobytes())


def test_killed_and_resumed_on_real_digits_is_bit_identical(shared_data, tmp_path, kill_resume):
    """1,000 real MNIST digits, augmented, mixed and with dropout (every random draw of a run): SIGKILL during
    an atomic write, continued by a plain --resume where torch's default thread count differs, ends as the
    uninterrupted run (config.yaml records the count the run used)."""
    from dlbasic.data.idx import read_idx

    root = tmp_path / "mnist"
    root.mkdir()
    for split, n in (("train", 800), ("t10k", 200)):
        for kind in ("images", "labels"):
            suffix = "idx3-ubyte" if kind == "images" else "idx1-ubyte"
            _idx(root / f"{split}-{kind}-{suffix}", read_idx(shared_data / "mnist" / f"{split}-{kind}-{suffix}.gz")[:n])
    options = ["--data", f"idx:{root}", "--model", "simple_cnn", "--epochs", "2", "--batch-size", "32"]
    options += ["--augment", "flip,crop", "--mixup", "0.2", "--dropout", "0.1", "--checkpoint-every", "4"]
    kill_resume(["train"], options, [("write", 2)], env={"OMP_NUM_THREADS": "1"}, resume_env={"OMP_NUM_THREADS": "2"})


def test_early_stopped_run_killed_after_its_last_checkpoint_stays_stopped(tmp_path):
    """A kill after the last checkpoint (while the test set is scored) leaves a run that early stopping ended:
    resuming it scores the same weights instead of training on. Its config.yaml records the thread count used."""
    cfg = TrainConfig(data="digits", model="mlp", epochs=12, batch_size=64, lr=0.3, optimizer="sgd", early_stopping=1)
    full = train(cfg, tmp_path / "full", progress=False)
    assert full["epochs"] < cfg.epochs
    saved = load_config(tmp_path / "full" / "config.yaml")
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "full", killed)
    for name in ("summary.json", "curves.png"):  # written after the last checkpoint
        (killed / name).unlink()
    resumed = train(saved, killed, resume=True, progress=False)
    assert resumed["epochs"] == full["epochs"] and resumed["test_accuracy"] == full["test_accuracy"]
    assert (killed / "metrics.jsonl").read_text() == (tmp_path / "full" / "metrics.jsonl").read_text()
    assert saved.threads == torch.get_num_threads() and cfg.threads is None


def test_bf16_autocast_and_channels_last_train():
    train_data = load("digits", "train")
    torch.manual_seed(0)
    model = create_model("simple_cnn", 10, 1, 8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    trainer = Trainer(
        model,
        opt,
        train_data,
        None,
        epochs=3,
        batch_size=64,
        precision="bf16",
        channels_last=True,
        grad_clip=1.0,
        progress=False,
    )
    history = trainer.fit()
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history)
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert model.features[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_on_epoch_start_is_called_once_per_epoch_also_across_a_resume(tmp_path, small_trainer):
    from dlbasic.callbacks import Callback

    class Record(Callback):
        def __init__(self):
            self.starts = []

        def on_epoch_start(self, trainer, epoch):
            self.starts.append(epoch)

    first = Record()
    trainer = small_trainer(epochs=3, batch_size=50, run_dir=tmp_path, checkpoint_every=40, callbacks=[first])

    class StopMidEpoch(Callback):
        def on_batch_end(self, trainer, logs):
            if trainer.global_step == 40:  # inside epoch 2 (29 steps an epoch)
                trainer.save_checkpoint()
                raise KeyboardInterrupt

    trainer.callbacks.append(StopMidEpoch())
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert first.starts == [0, 1]
    second = Record()
    resumed = small_trainer(epochs=3, batch_size=50, callbacks=[second])
    resumed.load_state_dict(load_checkpoint(tmp_path / "checkpoint.pt"))
    resumed.fit()
    assert second.starts == [2]  # epoch 1 had started before the interruption


def test_compile_is_kept_under_data_parallel(monkeypatch, small_trainer):
    """Under torchrun the compiled module is the DDP one (torch's recommended order), checked against eager DDP."""
    import torch.nn.parallel

    from dlbasic.training import distributed

    class FakeDDP(torch.nn.Module):
        def __init__(self, module, device_ids=None):
            super().__init__()
            self.module = module

        def forward(self, x):
            return self.module(x)

    compiled = []
    monkeypatch.setattr(distributed, "world", lambda: (0, 2))
    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", FakeDDP)
    monkeypatch.setattr(Trainer, "_compiled", staticmethod(lambda m: compiled.append(m) or (lambda x: m(x))))
    trainer = small_trainer(epochs=1, batch_size=32, compile=True)
    assert len(compiled) == 1 and isinstance(compiled[0], FakeDDP) and trainer.eager is compiled[0]
    assert not trainer.compile_checked
