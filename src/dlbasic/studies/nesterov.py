r"""Claim `nesterov`: NAG looks ahead and so fixes momentum's overshooting, its failure to settle.

The experiment it scales down: Sutskever, Martens, Dahl & Hinton (ICML 2013, §2-3 and Table 1): Nesterov's
accelerated gradient (Nesterov 1983) evaluates the gradient at the looked-ahead point w + mu v, which damps
the velocity in high-curvature directions where classical momentum (CM) overshoots and oscillates; they
compare CM and NAG by the progress each makes, each with its learning rate tuned, on ill-conditioned problems
and on neural-network training. If NAG fixes CM's failure to settle, it reaches a loss close to the minimum
in fewer steps.

Scaled down exactly as `momentum` (whose helpers run it): CM and NAG (mu = 0.9 both), each at its own tuned
learning rate, count the steps to a loss threshold on the ill-conditioned quadratic and on Rosenbrock's valley
from 10 random starts per seed (pairs: the same start with both methods), and on MNIST (or ``--data``) at
batch 32 and 512 (pairs: the same seed, initialization and data order). The number of sign changes of the
offset from the minimum before reaching the threshold (the oscillation) is reported beside. Its runs are
`momentum`'s (`race_runs`): those of classical momentum are declared alike and shared with that study.
"""

from __future__ import annotations

import statistics
from typing import Any

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Run, Study, Verdict
from dlbasic.studies.momentum import (
    BATCHES,
    DATA,
    LANDSCAPE_LRS,
    LANDSCAPES,
    MNIST_LRS,
    PROBE_EXAMPLES,
    PROBE_SIZE,
    STARTS_PER_SEED,
    TARGET,
    TUNING_STARTS,
    decisions_text,
    judge_race,
    plot_race,
    race_numbers,
    race_runs,
)

NAMES = ("nesterov", "momentum")


@register_study
class NesterovStudy(Study):
    """Claim `nesterov`: NAG looks ahead and fixes momentum's overshooting / failure to settle."""

    id = "nesterov"
    trains_on = DATA
    section = "NAG"
    claim = "NAG looks ahead and fixes momentum's overshooting / failure to settle."
    note = "기존 방향으로 일단 한 번 진행. 일단 진행한 값을 사용. Momentum의 수렴을 못하는 현상을 해결하기 위해."
    literature = (
        "Nesterov (1983); Sutskever et al., ICML 2013, section 3: NAG computes the gradient at the "
        "looked-ahead point w + mu v, which damps the velocity when it is about to overshoot. torch (and "
        "dlbasic) implement the equivalent reparametrized form w -= lr (g + mu v). On a quadratic of "
        "curvature L, heavy-ball momentum is stable for lr L < 2 (1 + mu) but NAG only for "
        "lr L < 2 (1 + mu) / (1 + 2 mu): NAG damps oscillation at a given lr, yet tolerates smaller lrs, "
        "which is why each method is judged at its own tuned lr."
    )
    method = (
        f"Classical momentum and NAG (mu = 0.9 both), each at its own best learning rate, count the steps "
        f"until the loss first reaches a threshold. Landscapes: the quadratic (x^2 + 100 y^2)/2 (threshold "
        f"{LANDSCAPES['quadratic'][0]:g}, at most {LANDSCAPES['quadratic'][1]} steps) and Rosenbrock "
        f"(threshold {LANDSCAPES['rosenbrock'][0]:g}, at most {LANDSCAPES['rosenbrock'][1]} steps) from "
        f"{STARTS_PER_SEED} random starts per seed in the landscape's box, both methods from each start; lr "
        f"from the grid {', '.join(f'{x:g}' for x in LANDSCAPE_LRS)} by the mean log steps over "
        f"{TUNING_STARTS} separate tuning starts; the sign changes of the offset from the minimum before the "
        f"threshold are counted. MNIST (mnist5k, or --data): MLP 784-64-10 at batch 32 (at most "
        f"{BATCHES[32]} steps) and 512 (at most {BATCHES[512]}), steps until the training loss on a fixed "
        f"probe of {PROBE_SIZE} training images (checked every {PROBE_EXAMPLES} examples) reaches "
        f"{TARGET:g} x ln(classes); lr from {', '.join(f'{x:g}' for x in MNIST_LRS)} by the fewest steps on a "
        "tuning seed (the first seed + 1000); then 3 runs per profile seed s (seeds s, s + 100, s + 200), both "
        "methods sharing each run's split, initialization and data order. Not reaching the threshold counts as "
        "the cap + 1."
    )
    rule = (
        "Per problem (quadratic, Rosenbrock, MNIST batch 32, MNIST batch 512), a paired t-test (stats.decide) on "
        "log(1 + steps), NAG against momentum, margin ln 1.1 (10 % fewer steps is the smallest gain that "
        "counts); pairs are starts on the landscapes (n = 10 x seeds) and runs on MNIST (n = 3 x seeds). "
        "Supported if at least half of the problems support the claim and none contradicts it; contradicted if "
        "at least half contradict it and none supports it; inconclusive otherwise. Sign changes are reported, "
        "not judged."
    )

    def plan(self, ctx, results: dict[str, Any]) -> list[Run]:
        """The runs of the design (see `momentum.race_runs`)."""
        return race_runs(ctx, NAMES, results)

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The numbers and the figure, from the runs."""
        m = race_numbers(ctx, NAMES, results)
        fig = plot_race(m, NAMES, "Momentum vs NAG, each at its tuned lr: loss against step (first start / seed)")
        return Measurements(m, [("Loss against step, momentum vs NAG (each at its tuned lr)", fig)], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        verdict, key, decisions = judge_race(m, NAMES, ("NAG", "momentum"))
        flips = [
            f"{p}: median {statistics.median(v['nesterov']['sign_changes']):g} vs "
            f"{statistics.median(v['momentum']['sign_changes']):g}"
            for p, v in m["problems"].items()
            if "sign_changes" in v.get("nesterov", {})
        ]
        if flips:
            key += "; sign changes before the threshold " + ", ".join(flips)
        per = ", ".join(f"{p}: {d.verdict}" for p, d in decisions.items())
        reason = {
            SUPPORTED: f"NAG settled in fewer steps than momentum on most problems and in more on none ({per})",
            CONTRADICTED: f"NAG needed more steps than momentum on most problems ({per})",
            INCONCLUSIVE: f"mixed or undecided ({per})",
        }[verdict]
        return Verdict(verdict, key, reason, decisions_text(decisions))
