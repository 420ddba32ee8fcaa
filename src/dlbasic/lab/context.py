"""What a study gets to work with: the profile (seeds, budget, data), a cache of trained runs, and
the lab folder."""

from __future__ import annotations

import functools
import hashlib
import json
import numbers
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from dlbasic.config import TrainConfig


@functools.cache
def code_version() -> str:
    """A hash of dlbasic's own source files: a cached run is reused only by the code that made it."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")) + sorted((root / "recipes").glob("*.yaml")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def data_fingerprint(spec: str) -> str:
    """What the data of `spec` is: its files' names, sizes and modification times, or (for the data
    that ships in packages) the versions of those packages."""
    from importlib.metadata import PackageNotFoundError, version

    name, _, arg = spec.partition(":")
    if name == "subset" and ":" in arg:  # a draw of another source: that source's files, and the draw
        counts, _, inner = arg.partition(":")
        return hashlib.sha256(f"{counts}\n{data_fingerprint(inner)}".encode()).hexdigest()[:16]
    path = Path(arg.split(",")[0]).expanduser() if arg else None
    if path is not None and path.exists():
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        rows = [
            f"{p.relative_to(path) if path.is_dir() else p.name} {p.stat().st_size} {p.stat().st_mtime_ns}"
            for p in files
        ]
        return hashlib.sha256("\n".join([spec, *rows]).encode()).hexdigest()[:16]
    versions = []
    for package in ("mlxtend", "scikit-learn"):
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} none")
    return hashlib.sha256("\n".join([spec, *versions]).encode()).hexdigest()[:16]


def parse_counts(counts: str) -> tuple[int | None, int | None]:
    """'4000+1000' -> (4000, 1000); '+1000' -> (None, 1000); '4000' -> (4000, None): a subset's counts."""
    from dlbasic.data.subset import parse_subset

    train, test, _ = parse_subset(f"{counts}:x")
    return train, test


@functools.cache
def budget(spec: str) -> tuple[int, int]:
    """The images a study with default data `spec` sees: (training pool, test split) of `spec`."""
    from dlbasic.data import load

    train, val, test = (load(spec, split) for split in ("train", "val", "test"))
    return len(train) + len(val), len(test)


def warn(message: str) -> None:
    """A one-line warning of the lab on stderr (the lab goes on)."""
    print(f"dlbasic lab: warning: {' '.join(message.split())}", file=sys.stderr, flush=True)


def problem(e: BaseException) -> str:
    """The first line of an exception, short, for a one-line warning."""
    first = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {first[:120]}" if first else type(e).__name__


_DROP = object()


def plain(obj: Any) -> Any:
    """`obj` as tensors and plain values only (what `torch.load(weights_only=True)` reads); anything else is dropped."""
    out = _plain(obj)
    return None if out is _DROP else out


def _plain(obj: Any) -> Any:
    if obj is None or isinstance(obj, bool | int | float | str | torch.Tensor):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, dict):
        pairs = ((str(k), _plain(v)) for k, v in obj.items())
        return {k: v for k, v in pairs if v is not _DROP}
    if isinstance(obj, list | tuple):
        return [v for v in map(_plain, obj) if v is not _DROP]
    if getattr(obj, "shape", None) == () and hasattr(obj, "item"):  # numpy scalars
        return _plain(obj.item())
    return _DROP


@dataclass(frozen=True)
class Profile:
    """How much work each study does.

    `quick`: every study, all together in about 12 minutes on a 2-core CPU, on each study's own data.
    `full`: 3x the epochs and data sizes, `data` may name a larger source, the GPU is used when present.
    `seeds[0]` is the first paired seed of every staged study (its looks take the seeds after it); the other
    seeds serve the studies that repeat a check per seed.
    """

    name: str = "quick"
    seeds: tuple[int, ...] = (0, 1, 2)
    scale: float = 1.0  # multiplies epochs and data sizes that studies choose
    data: str | None = None  # --data; None: each study's own default (`LabContext.data`)
    device: str = "cpu"
    test_data: str | None = None  # --test-data; None: the test split of each study's data

    def epochs(self, quick: int) -> int:
        """The epochs for a study that runs `quick` epochs in the quick profile, scaled by `scale` (at least 1)."""
        return max(1, round(quick * self.scale))

    def size(self, quick: int) -> int:
        """A data size (or count) that is `quick` in the quick profile, scaled by `scale` (at least 1)."""
        return max(1, round(quick * self.scale))


PROFILES = {
    "quick": Profile("quick", (0, 1, 2), 1.0, None, "cpu"),
    "full": Profile("full", (0, 1, 2, 3, 4), 3.0, None, "auto"),
}


def make_profile(name: str = "quick", seed: int = 0, data: str | None = None, test_data: str | None = None) -> Profile:
    """A named profile with its seeds shifted by `seed` (for verdict-stability checks), other data and another
    test source."""
    from dlbasic.errors import UserError, did_you_mean

    if name not in PROFILES:
        raise UserError(f"unknown profile {name!r}", did_you_mean(name, PROFILES))
    p = PROFILES[name]
    return replace(p, seeds=tuple(s + seed for s in p.seeds), data=data or p.data, test_data=test_data or None)


@dataclass
class LabContext:
    """Passed to `Study.measure`: the profile, the lab folder and a cache of training runs."""

    profile: Profile = field(default_factory=Profile)
    root: Path | None = None  # the lab folder; None keeps everything in memory

    @property
    def seeds(self) -> tuple[int, ...]:
        """The profile's seeds."""
        return self.profile.seeds

    def data(self, default: str = "mnist5k") -> str:
        """The data of a training study: its own quick default (the 8x8 digits where a study needs many runs,
        MNIST digits otherwise), or the lab's `--data` at the default's budget: as many training and test
        images as the default has, drawn stratified (`subset:TRAIN+TEST:SPEC`), so `--data` changes which
        images a study sees, not how many, nor what it costs (beyond the size of an image)."""
        if not self.profile.data or self.profile.data == default:
            return default
        train, test = budget(default)
        return f"subset:{train}+{test}:{self.profile.data}"

    def config(self, **overrides: Any) -> TrainConfig:
        """A training config for this profile (its data and device), quiet and single-process.

        Studies train in fp32 everywhere, so verdicts do not depend on whether a machine computes in bf16;
        the memory format is the trainer's default (NHWC for conv nets on a CPU, where it is faster), which
        changes only the order in which sums are taken.
        """
        base = TrainConfig(data=self.data(), device=self.profile.device, precision="fp32", channels_last=None)
        for k, v in overrides.items():
            setattr(base, k, v)
        if self.profile.test_data and "test_data" not in overrides:
            base.test_data = self.test_data(base.data)
        return base.validate()

    def test_data(self, data: str) -> str | None:
        """The lab's `--test-data` for a study that trains on `data`, at the test budget of that study's default
        data (`subset:+TEST:SPEC`); None without `--test-data`."""
        if not self.profile.test_data:
            return None
        name, _, arg = data.partition(":")
        if name == "subset":
            test = parse_counts(arg.partition(":")[0])[1]
        else:
            test = budget(data)[1]
        return f"subset:+{test}:{self.profile.test_data}" if test else self.profile.test_data

    def cache_path(self, cfg: TrainConfig) -> Path:
        """Where the run of `cfg` is cached: keyed by the config, the code version and the data's fingerprint."""
        identity = {"config": cfg.to_dict(), "code": code_version(), "data": data_fingerprint(cfg.data)}
        key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return Path(self.root) / "cache" / f"{key}.pt"

    def train(self, cfg: TrainConfig, callbacks: list | None = None) -> dict[str, Any]:
        """Train through the library and return the run summary, its `history` and `state_dict`.

        Runs without callbacks are cached in the lab folder by their config, the code version and
        the data's fingerprint, so studies that need the same model share it and a resumed lab does
        not train it again, while a change to the code or the data trains it anew. Two processes that need
        the same run at once (the lab's workers) train it once: the second waits and reads it.
        """
        cache = self.cache_path(cfg) if self.root is not None and not callbacks else None
        if cache is None:
            return self._train(cfg, callbacks, None)
        from dlbasic.folder_lock import waiting

        cache.parent.mkdir(parents=True, exist_ok=True)
        with waiting(cache.with_suffix(".lock")):  # two runs that need it at once: one trains, one reads
            if cache.exists():
                summary = load_cached(cache)
                if summary is not None:
                    return summary
            return self._train(cfg, callbacks, cache)

    def _train(self, cfg: TrainConfig, callbacks: list | None, cache: Path | None) -> dict[str, Any]:
        from dlbasic.checkpoint import atomic_save
        from dlbasic.training.run import train

        summary = train(cfg, None, callbacks=callbacks, progress=False, stop_on_divergence=False)
        state = summary.pop("model").state_dict()
        summary = plain(summary)
        summary["state_dict"] = state
        if cache is not None:
            atomic_save({"summary": summary, "config": plain(cfg.to_dict())}, cache)
        return summary

    def fit_model(
        self, cfg: TrainConfig, data: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer, callbacks=()
    ) -> Any:
        """Fit a `model` and `optimizer` built by hand on `data.train` (`data.val` for the history) through the
        library's `Trainer`, with `cfg`'s epochs, batch size, seed, device, precision and memory format; a run
        that diverges goes on (it scores). Returns the trainer, its `history` filled."""
        from dlbasic.training.device import resolve_device
        from dlbasic.training.trainer import Trainer

        trainer = Trainer(
            model,
            optimizer,
            data.train,
            data.val,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            progress=False,
            device=resolve_device(cfg.device),
            precision=cfg.precision,
            channels_last=cfg.channels_last,
            callbacks=callbacks,
            stop_on_divergence=False,
        )
        trainer.fit()
        return trainer

    def model(self, cfg: TrainConfig, summary: dict[str, Any]) -> torch.nn.Module:
        """The trained model of a `train` summary, in eval mode."""
        from dlbasic.training.run import build_model, load_data

        model = build_model(cfg, load_data(cfg).train)
        model.load_state_dict(summary["state_dict"])
        return model.eval()


def load_cached(path: Path) -> dict[str, Any] | None:
    """The summary of a cached training run, or None (with a warning) for a file that is corrupt or unsafe.

    Only tensors and plain values are read (`weights_only=True`): a file that would run code is refused.
    """
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types on corrupt or unsafe files
        warn(f"cannot read cached run {path} ({problem(e)}); training it again")
        return None
    summary = saved.get("summary") if isinstance(saved, dict) else None
    if not isinstance(summary, dict) or not isinstance(summary.get("state_dict"), dict):
        warn(f"cannot read cached run {path} (not a cached training run); training it again")
        return None
    return summary
