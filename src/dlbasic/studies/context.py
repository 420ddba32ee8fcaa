"""What a study gets to work with: the profile (seeds, budget, data), a cache of trained runs, and
the lab folder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from dlbasic.config import TrainConfig


@dataclass(frozen=True)
class Profile:
    """How much work each study does.

    `quick`: every study, all together in a few minutes on a 2-core CPU, embedded data, 3 seeds.
    `full`: more seeds and epochs, `data` may name a larger source, the GPU is used when present.
    """

    name: str = "quick"
    seeds: tuple[int, ...] = (0, 1, 2)
    scale: float = 1.0  # multiplies epochs and data sizes that studies choose
    data: str = "mnist5k"
    device: str = "cpu"

    def epochs(self, quick: int) -> int:
        return max(1, round(quick * self.scale))

    def size(self, quick: int) -> int:
        return max(1, round(quick * self.scale))


PROFILES = {
    "quick": Profile("quick", (0, 1, 2), 1.0, "mnist5k", "cpu"),
    "full": Profile("full", (0, 1, 2, 3, 4), 3.0, "mnist5k", "auto"),
}


def make_profile(name: str = "quick", seed: int = 0, data: str | None = None) -> Profile:
    """A named profile with its seeds shifted by `seed` (for verdict-stability checks) and other data."""
    from dlbasic.errors import UserError, did_you_mean

    if name not in PROFILES:
        raise UserError(f"unknown profile {name!r}", did_you_mean(name, PROFILES))
    p = PROFILES[name]
    return replace(p, seeds=tuple(s + seed for s in p.seeds), data=data or p.data)


@dataclass
class LabContext:
    """Passed to `Study.measure`: the profile, the lab folder and a cache of training runs."""

    profile: Profile = field(default_factory=Profile)
    root: Path | None = None  # the lab folder; None keeps everything in memory

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.profile.seeds

    def config(self, **overrides: Any) -> TrainConfig:
        """A training config for this profile (its data and device), quiet and single-process.

        Studies train in fp32 and contiguous memory everywhere, so verdicts do not depend on
        whether a machine computes in bf16.
        """
        base = TrainConfig(data=self.profile.data, device=self.profile.device, precision="fp32",
                           channels_last=False)
        for k, v in overrides.items():
            setattr(base, k, v)
        return base.validate()

    def train(self, cfg: TrainConfig, callbacks: list | None = None) -> dict[str, Any]:
        """Train through the library and return the run summary, its `history` and `state_dict`.

        Runs without callbacks are cached in the lab folder by their config, so studies that
        need the same model share it and a resumed lab does not train it again.
        """
        from dlbasic.training.run import train

        key = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
        cache = self.root / "cache" / f"{key}.pt" if self.root is not None and not callbacks else None
        if cache is not None and cache.is_file():
            return torch.load(cache, map_location="cpu", weights_only=False)["summary"]
        summary = train(cfg, None, callbacks=callbacks, progress=False)
        summary["state_dict"] = summary.pop("model").state_dict()
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"summary": summary, "config": cfg.to_dict()}, cache)
        return summary

    def model(self, cfg: TrainConfig, summary: dict[str, Any]) -> torch.nn.Module:
        """The trained model of a `train` summary, in eval mode."""
        from dlbasic.training.run import build_model, load_data

        model = build_model(cfg, load_data(cfg).train)
        model.load_state_dict(summary["state_dict"])
        return model.eval()
