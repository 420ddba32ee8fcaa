"""Claim `nesterov`: NAG looks ahead and so fixes momentum's overshooting, its failure to settle."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from dlbasic.optim.factory import create_optimizer
from dlbasic.optim.landscapes import get_landscape
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, compare, pm
from dlbasic.studies.registry import register_study

# landscape -> (learning rate, steps, settling radius); the rates are stable for both methods
SETUPS = {"quadratic": (0.01, 400, 1e-2), "rosenbrock": (1e-3, 1500, 5e-2)}
STARTS_PER_SEED, SPREAD = 4, 0.3


def paths_from(name: str, land: str, starts: torch.Tensor, lr: float, steps: int) -> torch.Tensor:
    """One optimizer, one parameter per start (separate state), all moved by each `step()`.

    Returns:
        Tensor[S, steps + 1, 2], the points visited from each start (float64).
    """
    ls = get_landscape(land)
    points = [s.clone().requires_grad_(True) for s in starts.double()]
    opt = create_optimizer(name, points, lr=lr)
    out = [torch.stack([p.detach().clone() for p in points])]
    for _ in range(steps):
        opt.zero_grad()
        torch.stack([ls(p[0], p[1]) for p in points]).sum().backward()  # independent terms
        opt.step()
        out.append(torch.stack([p.detach().clone() for p in points]))
    return torch.stack(out, 1)


def settle_step(dist: torch.Tensor, radius: float) -> int:
    """The first step after which the distance to the minimum stays within `radius` (len(dist) if never)."""
    outside = (dist > radius) | ~torch.isfinite(dist)
    idx = torch.nonzero(outside).flatten()
    return 0 if idx.numel() == 0 else int(idx[-1]) + 1


def overshoot(path: torch.Tensor, minimum: torch.Tensor) -> tuple[int, float | None]:
    """Sign changes of the offset from the minimum (x and y together), and the largest distance reached after the
    path first comes within 10 % of its starting distance, relative to that starting distance (None if it never
    does)."""
    offset = path - minimum  # (T, 2)
    signs = torch.sign(offset)
    flips = int(((signs[1:] * signs[:-1]) < 0).sum())
    dist = offset.norm(dim=1)
    near = torch.nonzero(dist <= 0.1 * dist[0]).flatten()
    amplitude = float(dist[near[0]:].max() / dist[0]) if near.numel() else None
    return flips, amplitude


@register_study
class NesterovStudy(Study):
    id = "nesterov"
    section = "NAG"
    claim = "NAG looks ahead and fixes momentum's overshooting / failure to settle."
    note = ("기존 방향으로 일단 한 번 진행. 일단 진행한 값을 사용. Momentum의 수렴을 못하는 현상을 해결하기 위해.")
    literature = ("Nesterov (1983); Sutskever et al., ICML 2013, section 3: NAG computes the gradient at the "
                  "looked-ahead point w + mu v, which damps the velocity when it is about to overshoot. torch (and "
                  "dlbasic) implement the equivalent reparametrized form w -= lr (g + mu v). On a quadratic of "
                  "curvature L, heavy-ball momentum is stable for lr L < 2 (1 + mu) but NAG only for "
                  "lr L < 2 (1 + mu) / (1 + 2 mu): NAG damps oscillation at a given lr, yet tolerates smaller lrs "
                  "(on Rosenbrock's valley, lr 1.5e-3 keeps momentum stable and makes NAG oscillate).")
    method = ("Momentum (mu = 0.9) and NAG (mu = 0.9) at the same learning rate run on the ill-conditioned quadratic "
              "(lr {:g}, {} steps, settling radius {:g}) and on Rosenbrock (lr {:g}, {} steps, radius {:g}) "
              "from {} starts per seed (the landscape's start plus Gaussian noise of std {}). Per start: the "
              "settling step (after which the distance to the minimum stays below the radius; the step count if "
              "never), the number of sign changes of the offset from the minimum, and the overshoot amplitude "
              "(largest distance after first coming within 10 % of the starting distance, relative to the starting "
              "distance).").format(*SETUPS["quadratic"], *SETUPS["rosenbrock"], STARTS_PER_SEED, SPREAD)
    rule = ("Per landscape the lab's compare rule on the settling steps over all starts (NAG fewer = better, margin "
            "the larger std). Supported if NAG settles sooner on both landscapes; contradicted if it settles later "
            "on either; inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        numbers: dict = {}
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for ax, (land, (lr, steps, radius)) in zip(axes, SETUPS.items(), strict=True):
            ls = get_landscape(land)
            minimum = torch.tensor(ls.minima[0], dtype=torch.float64)
            starts = torch.cat([torch.tensor(ls.start) + SPREAD * torch.randn(
                STARTS_PER_SEED, 2, generator=torch.Generator().manual_seed(seed)) for seed in ctx.seeds])
            numbers[land] = {}
            for name in ("momentum", "nesterov"):
                paths = paths_from(name, land, starts, lr, steps)  # (S, T, 2)
                dist = (paths - minimum).norm(dim=2)  # (S, T)
                shots = [overshoot(p, minimum) for p in paths]
                numbers[land][name] = {"settle_steps": [settle_step(d, radius) for d in dist],
                                       "sign_changes": [f for f, _ in shots],
                                       "overshoot": [a for _, a in shots]}
                ax.plot(dist[0].clamp_min(1e-12).tolist(), label=f"{name}: settles at step "
                        f"{numbers[land][name]['settle_steps'][0]}")
            ax.axhline(radius, color="grey", ls="--", lw=1, label=f"radius {radius:g}")
            ax.set(yscale="log", xlabel="step", ylabel="distance to the minimum", title=f"{land}, lr {lr:g}, mu 0.9")
            ax.legend(fontsize=7)
        fig.suptitle("Momentum vs Nesterov from the same start (first start of the first seed)")
        fig.tight_layout()
        return Measurements(numbers, [("Distance to the minimum against step: momentum vs NAG", fig)],
                            list(ctx.seeds))

    def judge(self, m) -> Verdict:
        parts = {land: compare(v["nesterov"]["settle_steps"], v["momentum"]["settle_steps"], higher_is_better=False)
                 for land, v in m.items()}
        key = "; ".join(f"{land}: settles at {pm(v['nesterov']['settle_steps'], 0)} vs "
                        f"{pm(v['momentum']['settle_steps'], 0)} steps, {pm(v['nesterov']['sign_changes'], 0)} vs "
                        f"{pm(v['momentum']['sign_changes'], 0)} sign changes" for land, v in m.items()) \
            + " (NAG vs momentum)"
        if CONTRADICTED in parts.values():
            return Verdict(CONTRADICTED, key, "NAG settled later than momentum on "
                           + ", ".join(k for k, v in parts.items() if v == CONTRADICTED))
        if all(v == SUPPORTED for v in parts.values()):
            return Verdict(SUPPORTED, key, "NAG settled near the minimum sooner than momentum on every landscape")
        return Verdict(INCONCLUSIVE, key, "the settling steps differ by less than the spread over starts on "
                       + ", ".join(k for k, v in parts.items() if v == INCONCLUSIVE))
