"""A readable training loop with callbacks, exact resume and atomic checkpoints.

One epoch: a permutation drawn from (seed, epoch) -> batches -> batch transforms (augmentation,
Mixup/CutMix) -> normalization -> forward/loss -> backward -> optimizer and scheduler step.
Everything random comes from seeded generators whose states are checkpointed, so a run
interrupted at any step and resumed ends bit-identical to an uninterrupted one (on CPU).
A non-finite loss stops the run with `Diverged`; weights are checked before anything is written,
so checkpoint.pt and best.pt only ever hold finite weights.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dlbasic.callbacks import Callback
from dlbasic.checkpoint import atomic_save
from dlbasic.data.dataset import ImageDataset
from dlbasic.errors import Diverged, UserError, check, number
from dlbasic.training import distributed
from dlbasic.training.device import autocast_dtype, resolve_channels_last, resolve_precision
from dlbasic.training.generators import generator_states, set_generator_states
from dlbasic.training.progress import Progress
from dlbasic.training.tasks import ClassificationTask

BatchTransform = Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]


def steps_per_epoch(train_size: int, batch_size: int, world_size: int = 1) -> int:
    """Optimizer steps in one epoch: each step takes one global batch of `world_size` x `batch_size` images."""
    return -(-train_size // max(1, min(batch_size * world_size, train_size)))


def shard(order: Tensor, step: int, global_batch: int, rank: int = 0, world_size: int = 1) -> Tensor:
    """This process's share of global batch `step`, `order[step * G : (step + 1) * G]` with G = `global_batch`.

    The G' <= G images are dealt out in N = `world_size` contiguous runs whose sizes differ by at most one
    (the first G' mod N processes take ceil(G' / N)); every image goes to exactly one process, none is
    repeated, so when G' < N the last N - G' processes get an empty share.
    """
    batch = order[step * global_batch : (step + 1) * global_batch]
    return batch.tensor_split(world_size)[rank] if world_size > 1 else batch


def _plain(metrics: dict[str, Tensor]) -> dict[str, Any]:
    """Scalars become floats; larger sums (a segmentation confusion matrix) stay tensors."""
    return {k: v.item() if v.numel() == 1 else v.detach().cpu() for k, v in metrics.items()}


class Trainer:
    """Trains `model` on in-memory image tensors.

    Args:
        model, optimizer: what to train and how.
        train_data, val_data: `ImageDataset`s (images in [0, 1]; normalized with the train statistics).
        task: a `dlbasic.training.tasks.Task` (default: classification): `training_step(forward, x, y)` ->
            (loss, outputs), `metrics(outputs, targets)` -> sums over the batch (scalars or tensors),
            `summarize(sums, count)` -> means, `monitor`/`mode` pick best.pt, and `evaluate(trainer, data)` (by
            default `Trainer.mean_over_batches`). Targets are the datasets' labels: class ids, masks Tensor[N, H, W]
            for segmentation, or per-image dicts of boxes and labels for detection.
        scheduler: a torch LR scheduler stepped after every optimizer step.
        epochs, batch_size: length of the run; `batch_size` >= len(train_data) is batch gradient descent.
        seed: seeds the shuffling and the batch transforms.
        precision: "fp32", "bf16" (autocast), "fp16" (CUDA autocast with a GradScaler) or "auto"
            (bf16 where the hardware computes in bf16 natively, else fp32; see `resolve_precision`).
        channels_last: NHWC memory format; None picks it for conv nets on a CPU.
        grad_clip: clip the global gradient norm to this value.
        transforms: batch transforms `t(x, y, generator) -> (x, y)` applied to training batches.
        loss_terms: functions `f(model) -> Tensor` added to the loss (explicit penalties).
        callbacks: `Callback`s (early stopping, weight noise, ...).
        run_dir: where `checkpoint.pt` and `best.pt` go; None keeps everything in memory.
        checkpoint_every: also checkpoint every N steps within an epoch (0: only at epoch ends).
        meta: saved in every checkpoint (model name and options, classes, config) for eval/predict.
        normalize: standardize inputs with the training data's `mean` and `std` (per channel); False passes them
            as they are (detectors take images in [0, 1]).
        stop_on_divergence: raise `Diverged` at the first non-finite loss (False trains on, for studies that
            measure stability; a callback may set `trainer.stop_on_divergence` in `on_fit_start`). Non-finite
            weights are never written either way.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        train_data: ImageDataset,
        val_data: ImageDataset | None = None,
        *,
        task: Any = None,
        scheduler: Any = None,
        epochs: int = 1,
        batch_size: int = 64,
        seed: int = 0,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        channels_last: bool | None = False,
        compile: bool = False,
        grad_clip: float | None = None,
        transforms: Sequence[BatchTransform] = (),
        loss_terms: Sequence[Callable[[nn.Module], Tensor]] = (),
        callbacks: Sequence[Callback] = (),
        run_dir: str | Path | None = None,
        checkpoint_every: int = 0,
        eval_batch_size: int = 1000,
        meta: dict[str, Any] | None = None,
        progress: bool | None = None,
        stop_on_divergence: bool = True,
        normalize: bool = True,
    ):
        self.device = torch.device(device)
        self.model = model.to(self.device)
        precision = resolve_precision(precision, self.device)
        channels_last = resolve_channels_last(channels_last, self.device, model)
        self.channels_last = channels_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.rank, self.world_size = distributed.world()
        self.eager = self._data_parallel(self.model) if self.world_size > 1 else self.model
        # compiling the DDP module, as torch recommends, keeps DDP's bucketed gradient all-reduce
        self.forward = self._compiled(self.eager) if compile else self.eager
        self.compile_checked = not compile
        self.optimizer, self.scheduler = optimizer, scheduler
        self.task = task or ClassificationTask()
        self.train_data, self.val_data = train_data, val_data
        self.mean = train_data.mean.to(self.device).view(1, -1, 1, 1) if normalize else None
        self.std = train_data.std.to(self.device).view(1, -1, 1, 1) if normalize else None
        self.epochs, self.seed = epochs, seed
        self.batch_size = min(batch_size, len(train_data))  # per process
        self.global_batch = min(self.batch_size * self.world_size, len(train_data))
        self.steps_per_epoch = steps_per_epoch(len(train_data), batch_size, self.world_size)
        self.precision = precision
        self.autocast_dtype = autocast_dtype(precision)
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" and self.device.type == "cuda" else None
        self.grad_clip = grad_clip
        self.transforms, self.loss_terms, self.callbacks = list(transforms), list(loss_terms), list(callbacks)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.checkpoint_every, self.eval_batch_size = checkpoint_every, eval_batch_size
        self.meta = meta or {}
        self.progress = progress
        # the position in the run: epochs done, batches done in the current epoch, running sums
        self.epoch, self.batch_in_epoch, self.global_step = 0, 0, 0
        self.sums: dict[str, float] = {}
        self.history: list[dict[str, float]] = []
        self.best: float | None = None
        self.generator = torch.Generator().manual_seed(seed + 1_000_003 * self.rank)  # batch transforms draw from it
        self.stop_training = False
        self._interrupted = False
        self.stop_on_divergence = stop_on_divergence
        self._last_loss = float("nan")
        self._weights_checked_at = -1  # the global step whose weights were last found finite

    # ---- the loop -------------------------------------------------------------------------------

    def fit(self) -> list[dict[str, float]]:
        """Train until `epochs` are done or a callback stops; returns one log dict per epoch.

        Raises `Diverged` when a training loss (or, at an epoch end or checkpoint, a weight) is NaN or
        infinite; checkpoint.pt and best.pt then still hold the last finite state written.
        """
        with self._sigint_saves():
            for cb in self.callbacks:
                cb.on_fit_start(self)
            while self.epoch < self.epochs and not self.stop_training:
                if self.batch_in_epoch == 0:  # (a run resumed mid-epoch had called it before)
                    for cb in self.callbacks:
                        cb.on_epoch_start(self, self.epoch)
                logs = self.train_epoch()
                if self.val_data is not None:
                    logs.update({f"val_{k}": v for k, v in self.evaluate(self.val_data).items()})
                for cb in self.callbacks:
                    cb.on_epoch_end(self, self.epoch, logs)
                self.history.append(logs)
                self._epoch_line(logs)
                self.epoch, self.batch_in_epoch, self.sums = self.epoch + 1, 0, {}
                if self.stop_on_divergence:
                    self.check_weights()
                self._save_best(logs)
                self.save_checkpoint()
            for cb in self.callbacks:
                cb.on_fit_end(self)
        return self.history

    def train_epoch(self) -> dict[str, float]:
        """Run (the rest of) the current epoch; returns its training logs."""
        self.model.train()
        order = torch.randperm(
            len(self.train_data), generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        ).to(self.device)
        sums = self.sums or {"loss": 0.0, "count": 0, "seconds": 0.0}
        bar = Progress(
            self.steps_per_epoch,
            f"epoch {self.epoch + 1}/{self.epochs}",
            self.batch_in_epoch,
            enabled=self.progress if self.rank == 0 else False,
        )
        start = time.perf_counter()
        for b in range(self.batch_in_epoch, self.steps_per_epoch):
            idx = shard(order, b, self.global_batch, self.rank, self.world_size)  # this process's share
            x, y = self.train_data.batch(idx)  # read on the host (uint8 -> float), then copied to the device
            # the loss of the whole global batch: the same number in every process, so all stop at the same step
            loss, metrics = self.train_step(
                x.to(self.device, non_blocking=True),
                y.to(self.device, non_blocking=True) if isinstance(y, Tensor) else y,
            )
            if not math.isfinite(loss) and self.stop_on_divergence:
                bar.close()
                raise self._diverged(self.epoch + 1, self.global_step + 1, loss)
            self._last_loss = loss
            n = idx.numel()
            sums["loss"] += loss * n  # summed over processes: the global batch's loss x its images
            sums["count"] += n
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
            self.batch_in_epoch, self.global_step = b + 1, self.global_step + 1
            self.sums = sums
            logs = {"loss": loss}
            for cb in self.callbacks:
                cb.on_batch_end(self, logs)
            if bar.due(b + 1):
                seconds = sums["seconds"] + time.perf_counter() - start
                bar.update(
                    b + 1,
                    loss=sums["loss"] / sums["count"],
                    **self.task.summarize(sums, sums["count"]),
                    img_s=sums["count"] / max(seconds, 1e-9),
                )
            if self._interrupted or self.stop_training:
                sums["seconds"] += time.perf_counter() - start
                if self._interrupted:
                    self.save_checkpoint()
                    raise KeyboardInterrupt
                break
            if self.checkpoint_every and self.global_step % self.checkpoint_every == 0 and b + 1 < self.steps_per_epoch:
                sums["seconds"] += time.perf_counter() - start
                self.save_checkpoint()
                start = time.perf_counter()
        else:
            sums["seconds"] += time.perf_counter() - start
        bar.close()
        total = distributed.all_sum({k: v for k, v in sums.items() if k != "seconds"})  # over processes
        count = max(total["count"], 1)
        out = {
            "epoch": self.epoch + 1,
            "step": self.global_step,
            "train_loss": total["loss"] / count,
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_seconds": sums["seconds"],
            "images_per_second": total["count"] / max(sums["seconds"], 1e-9),
        }
        out.update({f"train_{k}": v for k, v in self.task.summarize(total, count).items()})
        return out

    def train_step(self, x: Tensor, y: Tensor) -> tuple[float, dict[str, float]]:
        """One optimizer step on a batch of raw images x (in [0, 1]) and labels y; returns (the loss, metric sums).

        Under torchrun x, y is this process's share of the global batch (maybe empty), the task loss is
        weighted by `_global_batch_loss` and the returned loss is the whole global batch's.
        """
        if len(x):  # an empty share has nothing to transform
            for t in self.transforms:
                x, y = t(x, y, self.generator)
        x = self.prepare(x)
        if not self.compile_checked:
            self._check_compiled(x, y)
        for cb in self.callbacks:
            cb.on_batch_start(self)
        with self.autocast():
            loss, out = self.task.training_step(self.forward, x, y)
            if self.world_size > 1:
                loss, global_loss = self._global_batch_loss(loss, y)
                penalties = [term(self.model) for term in self.loss_terms]
                for p in penalties:  # the same in every process: DDP's average leaves them as they are
                    loss = loss + p
            else:
                for term in self.loss_terms:
                    loss = loss + term(self.model)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        for cb in self.callbacks:
            cb.on_after_backward(self)
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        with torch.no_grad():
            if self.world_size > 1:
                value = float(global_loss) + sum(float(p.detach()) for p in penalties)
                return value, _plain(self.task.metrics(out, y))
            return float(loss.detach()), _plain(self.task.metrics(out, y))

    def _global_batch_loss(self, loss: Tensor, y: Any) -> tuple[Tensor, Tensor]:
        """The task loss of this process's share, weighted so that DDP's gradient average is the global batch's.

        The task loss of process r is a mean over its c_r counted terms (`task.loss_count`: images, or pixels
        not ignored). Scaled by s_r = c_r N / C with C = sum_r c_r, the average DDP takes over N processes is

            (1/N) sum_r s_r grad(mean_r) = (1/C) sum_r sum_{i in r} grad(l_i),

        the gradient of the mean over the whole global batch, however unevenly it was shared out. An empty
        share (c_r = 0) still runs forward and backward (DDP needs every process's backward) with weight 0.

        Returns (s_r x loss, the global batch's mean task loss sum_r c_r mean_r / C, NaN when C = 0).
        """
        count = self.task.loss_count(y)
        count = torch.as_tensor(count, dtype=torch.float64, device=loss.device)
        counted = count > 0
        local = torch.where(counted, loss.detach().double() * count, 0.0)  # (an empty mean is NaN)
        total_count, total = distributed.sum_over_processes(torch.stack([count, local])).unbind()
        scale = torch.where(total_count > 0, count * self.world_size / total_count, 0.0).to(loss.dtype)
        return torch.where(counted, loss * scale, torch.zeros_like(loss)), total / total_count

    def evaluate(self, data: ImageDataset, return_outputs: bool = False) -> dict[str, Any]:
        """The task's validation metrics of the model on `data` (`task.evaluate`: by default `mean_over_batches`;
        detection's mAP is not a sum over batches); `return_outputs` also returns the outputs, batch by batch."""
        if return_outputs:
            return self.mean_over_batches(data, return_outputs=True)
        return self.task.evaluate(self, data)

    @torch.no_grad()
    def mean_over_batches(self, data: ImageDataset, return_outputs: bool = False) -> dict[str, Any]:
        """Mean loss and task metrics over `data` in eval mode (normalized with the train statistics)."""
        self.model.eval()
        sums: dict[str, float] = {"loss": 0.0}
        outputs = []
        for i in range(0, len(data), self.eval_batch_size):
            x, y = data.batch(slice(i, i + self.eval_batch_size))
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with self.autocast():
                out = self.model(self.prepare(x))
            sums["loss"] += float(self.task.loss(out, y)) * y.shape[0]
            for k, v in _plain(self.task.metrics(out, y)).items():
                sums[k] = sums.get(k, 0.0) + v
            if return_outputs:
                outputs.append(out.float().cpu())
        n = max(len(data), 1)
        result: dict[str, Any] = {"loss": sums["loss"] / n, **self.task.summarize(sums, n)}
        if return_outputs:
            result["outputs"] = torch.cat(outputs) if outputs else torch.empty(0)
        return result

    # ---- checkpoints ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly; in a distributed run, also every process's own RNG and sums."""
        own = {
            "torch": torch.get_rng_state(),
            "generator": self.generator.get_state(),
            "model_generators": generator_states(self.model),
            "sums": dict(self.sums),
        }
        ranks = distributed.gather(own) if self.world_size > 1 else None
        return {
            "ranks": ranks,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "generator": self.generator.get_state(),
                "model_generators": generator_states(self.model),  # a detector's samplers
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "global_step": self.global_step,
            "sums": dict(self.sums),
            "history": list(self.history),
            "best": self.best,
            "stop_training": self.stop_training,  # a callback ended the run (early stopping, a reached target)
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "meta": self.meta,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict` to continue the run exactly where it was saved: weights, optimizer, scheduler and
        scaler states, RNG states (this process's own in a distributed run), position in the epoch, metric sums,
        history, best value and callbacks.

        Raises:
            UserError: the checkpoint was written by a different number of processes.
        """
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        self.generator.set_state(state["rng"]["generator"])
        if "model_generators" in state["rng"]:  # (absent from checkpoints written before they were saved)
            set_generator_states(self.model, state["rng"]["model_generators"])
        ranks = state.get("ranks")
        if ranks is not None and len(ranks) != self.world_size:
            raise UserError(
                f"the checkpoint was written by {len(ranks)} processes, this run has {self.world_size}",
                "resume with the same number of processes",
            )
        if state["rng"].get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.epoch, self.batch_in_epoch = state["epoch"], state["batch_in_epoch"]
        self.global_step, self.sums = state["global_step"], dict(state["sums"])
        if ranks is not None:
            own = ranks[self.rank]
            torch.set_rng_state(own["torch"])
            self.generator.set_state(own["generator"])
            if "model_generators" in own:
                set_generator_states(self.model, own["model_generators"])
            self.sums = dict(own["sums"])
        self.history, self.best = list(state["history"]), state["best"]
        self.stop_training = bool(state.get("stop_training", False))
        self._weights_checked_at = -1
        for cb, cb_state in zip(self.callbacks, state.get("callbacks", [])):
            cb.load_state_dict(cb_state)

    def save_checkpoint(self) -> None:
        """Write checkpoint.pt (the main process writes; every process takes part in gathering the state).

        Raises `Diverged` instead when a weight is not finite, leaving the previous checkpoint.pt as it is.
        """
        if self.run_dir is not None:
            self.check_weights()
            state = self.state_dict()
            if self.rank == 0:
                atomic_save(state, self.run_dir / "checkpoint.pt")

    def _save_best(self, logs: dict[str, float]) -> None:
        value = logs.get(self.task.monitor)
        if value is None or not math.isfinite(value):
            return
        better = self.best is None or (value > self.best if self.task.mode == "max" else value < self.best)
        if better:
            if self.run_dir is not None:
                self.check_weights()
            self.best = value
            if self.run_dir is not None and self.rank == 0:
                atomic_save(
                    {
                        "model": self.model.state_dict(),
                        "meta": self.meta,
                        "epoch": self.epoch,
                        self.task.monitor: value,
                    },
                    self.run_dir / "best.pt",
                )

    def check_weights(self) -> None:
        """Raise `Diverged` if a parameter or floating-point buffer is NaN or infinite (once per step)."""
        if self._weights_checked_at == self.global_step:
            return
        tensors = [(k, t) for k, t in self.model.state_dict().items() if t.is_floating_point()]
        if tensors and not bool(torch.stack([torch.isfinite(t).all() for _, t in tensors]).all()):
            name = next(k for k, t in tensors if not bool(torch.isfinite(t).all()))
            epoch = self.epoch + 1 if self.batch_in_epoch else self.epoch
            raise self._diverged(
                max(epoch, 1),
                self.global_step,
                self._last_loss,
                f"weight {name!r} is not finite (last loss {number(self._last_loss)})",
            )
        self._weights_checked_at = self.global_step

    def _diverged(self, epoch: int, step: int, loss: float, reason: str | None = None) -> Diverged:
        """The `Diverged` error, naming the finite checkpoint.pt and best.pt left on disk."""
        kept = [
            str(p) if self.run_dir is not None and (p := self.run_dir / name).is_file() else None
            for name in ("checkpoint.pt", "best.pt")
        ]
        fixes = ["lower --lr", "add --grad-clip" if self.grad_clip is None else "lower --grad-clip"]
        if self.precision != "fp32":
            fixes.append(f"use --precision fp32 instead of {self.precision}")
        hint = ", ".join(fixes[:-1]) + ("," if len(fixes) > 2 else "") + " or " + fixes[-1]
        return Diverged(epoch, step, loss, reason=reason, checkpoint=kept[0], best=kept[1], hint=hint)

    # ---- engineering helpers --------------------------------------------------------------------

    def _epoch_line(self, logs: dict[str, Any]) -> None:
        """Where no progress bar is drawn (output to a file or a pipe), one line per epoch on stderr."""
        if self.progress is not None or self.rank != 0 or sys.stderr.isatty():
            return
        shown = [
            f"{k} {v:.4g}"
            for k, v in logs.items()
            if isinstance(v, float) and (k.endswith(("loss", "accuracy", "iou")) or k == "lr")
        ]
        print(
            f"epoch {logs['epoch']}/{self.epochs}: {', '.join(shown)}, {logs['images_per_second']:.0f} images/s",
            file=sys.stderr,
            flush=True,
        )

    def _data_parallel(self, model: nn.Module) -> Callable[[Tensor], Tensor]:
        """`model` wrapped in DistributedDataParallel: gradients are averaged over processes during backward."""
        from torch.nn.parallel import DistributedDataParallel

        check(
            self.device.type == "cuda" or not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules()),
            "synchronized batch norm runs on CUDA GPUs only (torch's SyncBatchNorm)",
            "leave --sync-bn off on CPUs; each process then normalizes over its own share",
        )
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def prepare(self, x: Tensor) -> Tensor:
        """A batch as the model takes it: standardized with the training statistics (unless `normalize` is off),
        in the Trainer's memory format."""
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x.contiguous(memory_format=self.memory_format)

    def autocast(self):
        """The autocast context of the Trainer's precision (none for fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @staticmethod
    def _compiled(model: nn.Module) -> Callable[[Tensor], Tensor]:
        return torch.compile(model)

    def _check_compiled(self, x: Tensor, y: Tensor) -> None:
        """Compare compiled and eager gradients on the first batch (eval mode, so no dropout masks)."""
        self.model.eval()
        grads = []
        for fn in (self.eager, self.forward):  # under DDP both average over processes
            self.model.zero_grad(set_to_none=True)
            self.task.training_step(fn, x, y)[0].backward()
            grads.append(
                [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in self.model.parameters()]
            )
        self.model.zero_grad(set_to_none=True)
        self.model.train()
        for (name, _), ge, gc in zip(self.model.named_parameters(), *grads):
            if not torch.allclose(ge, gc, rtol=1e-3, atol=1e-5 * (1 + ge.abs().max().item())):
                raise UserError(
                    f"torch.compile gave different gradients than eager mode for {name!r} "
                    f"(max difference {(ge - gc).abs().max().item():.3g})",
                    "run without --compile",
                )
        self.compile_checked = True

    @contextlib.contextmanager
    def _sigint_saves(self):
        """On Ctrl-C, finish the current step, save a checkpoint, then stop."""
        if threading.current_thread() is not threading.main_thread() or self.run_dir is None:
            yield
            return

        def handler(signum, frame):
            if self._interrupted:  # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._interrupted = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
