r"""Claim `adadelta`: a window of recent updates fixes Adagrad's growing G_t; Adadelta has no learning rate.

The experiment it scales down: Zeiler, "ADADELTA: an adaptive learning rate method" (arXiv 1212.5701, 2012,
§4 and Fig. 1): Adadelta's step RMS[dx]_{t-1} / RMS[g]_t uses decaying averages instead of Adagrad's growing
sum, and on MNIST (an MLP, 50 epochs) it keeps improving where Adagrad slows down, with no learning rate
chosen. That its step "stays alive" holds by construction of a moving average, so it is not the test; the
test is the claim's consequence: over the same long run as `adagrad`, Adadelta with no learning rate chosen
ends at a lower training loss than Adagrad at its tuned rate.

Scaled down as `adagrad`, whose runs it shares: the MLP 64-64-10 on the 8x8 digits (or ``--data``), batch 32,
60 epochs; Adagrad at the rate of its half-decade grid with the lowest final training loss on the tuning seed;
Adadelta at torch's lr = 1.0, the multiplier that is what "no learning rate" means in torch (and in dlbasic,
which matches it); both on each paired seed from the same split, initialization and data order. The final
training loss is the cross-entropy of the whole training split at the end. The effective step per epoch is
reported beside the verdict.

Runs: stage 1 Adagrad's tuning grid (`adagrad.tuning_runs`); then Adadelta and Adagrad on each paired seed,
in looks of 3, 6 and then 12 seeds (`adagrad.long_run`).
"""

from __future__ import annotations

from typing import Any

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, pm
from dlbasic.lab.verdicts import RATIO, part, verdict
from dlbasic.studies.adagrad import (
    ADADELTA_LR,
    DATA,
    EPOCHS,
    GRIDS,
    SCHEDULE,
    long_run_measurements,
    staged_long_runs,
    tuned_lr,
)

NAMES = ("adadelta", "adagrad")


def adadelta_lrs(results: dict[str, Any]) -> dict[str, float]:
    """Adadelta at torch's lr 1 (no rate chosen) and Adagrad at its tuned lr."""
    return {"adadelta": ADADELTA_LR, "adagrad": tuned_lr(results, "adagrad")}


@register_study
class AdadeltaStudy(Study):
    """Claim `adadelta`: Fixes Adagrad's growing G_t with a window of recent updates; has no learning rate."""

    id = "adadelta"
    trains_on = DATA
    section = "Adadelta"
    claim = "Fixes Adagrad's growing G_t with a window of recent updates; has no learning rate."
    note = (
        "Adagrad의 Gt가 너무 커지는 현상을 해결하기 위함. 이전 n-step 동안의 업데이트 정보만 반영. "
        "learning rate가 없다."
    )
    literature = (
        "Zeiler, arXiv 1212.5701: the 'window' is an exponential moving average (rho = 0.9 in torch), not "
        "the last n steps, and the step is RMS[dx]_{t-1} / RMS[g]_t, so the paper's rule has no learning "
        "rate. torch's Adadelta (and dlbasic's, which matches it) multiplies that step by lr, default 1.0; "
        "eps (1e-6) sets the size of the first steps, sqrt(eps) / RMS[g], so it acts as a hidden step size."
    )
    form = "difference"
    schedule = SCHEDULE
    method = (
        f"The MLP 64-64-10 (batch 32) trains a long run of {EPOCHS} epochs on the 8x8 digits (or --data) with "
        f"Adadelta given no learning rate (torch's lr = {ADADELTA_LR:g} multiplier) and with Adagrad at the rate "
        f"of {', '.join(f'{x:g}' for x in GRIDS['adagrad'])} with the lowest final training loss on a tuning seed "
        "(the first seed + 1000), both from each paired seed's split, initialization and data order (the runs of "
        "`adagrad`). The final training loss is the cross-entropy of the whole training split at the end "
        "(ln(classes) for a run that diverged). Reported, not judged: the median effective step of the first "
        "layer per epoch (Adadelta lr sqrt(E[dx^2]+eps)/sqrt(E[g^2]+eps), Adagrad lr/(sqrt(G_t)+eps))."
    )
    rule = (
        "One paired comparison of the final training loss on the log scale, Adadelta vs Adagrad (lower is "
        "better: d = log Adagrad − log Adadelta), form difference, margin log 1.1 (10 %); seeds in looks of "
        f"{' then '.join(map(str, SCHEDULE))} with the O'Brien–Fleming boundary. Supported when the interval "
        "lies above +log 1.1 (Adadelta's loss at least 10 % lower); contradicted when it lies below −log 1.1 or "
        "inside ±log 1.1."
    )

    def plan(self, ctx, results: dict[str, Any]) -> list[Run]:
        """Adagrad's tuning grid, then Adadelta (lr 1) and Adagrad (tuned) on the looks' seeds."""
        return staged_long_runs(self, ctx, results, ("adagrad",), adadelta_lrs)

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The numbers and the figure, from the seeds judged so far."""
        return long_run_measurements(
            ctx,
            results,
            adadelta_lrs(results),
            (
                "Effective step per epoch: Adadelta (no lr chosen) vs Adagrad (tuned lr)",
                "Adadelta (lr 1) vs Adagrad (tuned lr)",
            ),
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, from the numbers `collect` returned."""
        d, a = m["adadelta"], m["adagrad"]
        p = part(
            "final training loss, Adadelta (lr 1) vs Adagrad (tuned lr)",
            d["final_loss"],
            a["final_loss"],
            form="difference",
            margin=RATIO,
            log=True,
            lower_is_better=True,
            schedule=self.schedule,
        )
        key = (
            f"final training loss after {m['epochs']} epochs: Adadelta (no lr chosen: torch's lr = "
            f"{d['lr']:g}) {pm(d['final_loss'], 4)} vs Adagrad (tuned lr {a['lr']:g}) {pm(a['final_loss'], 4)}; "
            f"reported: effective step last/first epoch Adadelta {pm(d['shrink'])} vs Adagrad {pm(a['shrink'])}"
        )
        return verdict([p], key)
