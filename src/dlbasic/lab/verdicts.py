r"""A claim's verdict from its parts: paired comparisons read in the claim's form against one margin policy,
and exact checks for what holds by construction (CLAIMS.md, "v0.3: the form of each claim and its margin").

The margin policy, the smallest difference a practitioner would act on:

* accuracy or error: ``ACCURACY`` = 0.005 (half a point);
* calibration error (ECE): ``ECE`` = 0.01;
* ratios (steps, loss, time, norms, sharpness, AR): compared on the log scale, ``RATIO`` = log 1.1 (10 %).

A study judges each decisive comparison with `part` (an outcome of `outcomes.compare` and what it means for
the claim's form) and each exact identity with `check`, then makes its verdict with `verdict`: supported when
every part is, contradicted when any part is, else inconclusive; a claim with only checks is "checked" (or
"failed"), never put through a t-test.

>>> p = part("test accuracy, dropout vs none", [0.91, 0.92, 0.93], [0.89, 0.90, 0.90], form="difference",
...          margin=ACCURACY)
>>> p.outcome, p.verdict
('A better', 'supported')
>>> verdict([p], "dropout +2.3 points").verdict
'supported'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlbasic.lab.outcomes import Comparison, combine, compare, verdict_of
from dlbasic.lab.sequential import looks
from dlbasic.lab.study import CHECKED, CONTRADICTED, FAILED, INCONCLUSIVE, SUPPORTED, Verdict

ACCURACY = 0.005  # accuracy or error, as a fraction
ECE = 0.01  # expected calibration error
RATIO = math.log(1.1)  # ratios on the log scale: 10 %
SCALES = ("accuracy", "ece", "log ratio", "units")


@dataclass(frozen=True)
class Part:
    """One decisive comparison of a claim: what is compared (A vs B), the claim's form for this part, the
    comparison, and the scale of d (for the report: "log ratio" means d = log A − log B)."""

    label: str
    form: str
    comparison: Comparison
    scale: str = "accuracy"

    @property
    def outcome(self) -> str:
        """The comparison's outcome (`outcomes.OUTCOMES`)."""
        return self.comparison.outcome

    @property
    def verdict(self) -> str:
        """What the outcome means for this part's form."""
        return verdict_of(self.form, self.comparison.outcome)

    def __str__(self) -> str:
        return f"{self.label} ({self.form}): {self.comparison}"

    def as_dict(self) -> dict[str, Any]:
        """The part as JSON for the report: the effect and its interval in units of d and in margins."""
        c = self.comparison
        scaled = [v / c.margin for v in (c.mean, *c.ci)]
        return {
            "label": self.label,
            "form": self.form,
            "outcome": c.outcome,
            "verdict": self.verdict,
            "scale": self.scale,
            "mean": c.mean,
            "ci": list(c.ci),
            "margin": c.margin,
            "in_margins": {"mean": scaled[0], "ci": scaled[1:]},
            "seeds": c.n,
            "look": c.look,
            "schedule": list(c.schedule) or [c.n],
        }


def part(
    label: str,
    a: Sequence[float],
    b: Sequence[float],
    *,
    form: str,
    margin: float,
    lower_is_better: bool = False,
    log: bool = False,
    schedule: Sequence[int] | None = None,
) -> Part:
    """Compare arm A with arm B (per-seed values paired by index; d = A − B, positive favours A, or B − A when
    `lower_is_better`) against `margin` in the claim's `form`, at the look of `schedule` that len(a) makes.
    `log`: compare log A with log B (ratios; use `margin=RATIO`); values must then be > 0."""
    scale = "log ratio" if log else ("accuracy" if margin == ACCURACY else "ece" if margin == ECE else "units")
    if log:
        a, b = _log(a, label), _log(b, label)
    c = compare(a, b, margin=margin, lower_is_better=lower_is_better, form=form, schedule=schedule)
    return Part(label, form, c, scale)


def _log(values: Sequence[float], label: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if not np.all(x > 0):
        raise ValueError(f"{label}: a ratio compares positive values, got {x.tolist()}")
    return np.log(x)


def check(text: str, holds: bool) -> dict[str, Any]:
    """An exact check of a structural claim or part: what is checked, and whether it holds."""
    return {"check": text, "holds": bool(holds)}


def next_look(parts: Sequence[Part]) -> int | None:
    """The seed count of the next look while the claim is undecided: the largest `more` of its undecided
    parts; None when the claim is decided (a part contradicted, or every part supported) or no part goes on."""
    if combine([p.verdict for p in parts]) != INCONCLUSIVE:
        return None
    more = [p.comparison.more for p in parts if p.verdict == INCONCLUSIVE and p.comparison.more is not None]
    return max(more, default=None)


def verdict(
    parts: Sequence[Part],
    key_number: str,
    reasons: dict[str, str] | None = None,
    checks: Sequence[dict[str, Any]] = (),
) -> Verdict:
    """The claim's verdict: from its `parts` (every part supported → supported, any contradicted →
    contradicted, else inconclusive) or, with no parts, from its exact `checks` (checked, or failed when one
    does not hold). A failed check of a claim with parts makes the verdict "failed": the experiment measured
    something other than it meant to. `reasons` maps a verdict to its sentence (the default names each part's
    outcome)."""
    failed = [c["check"] for c in checks if not c["holds"]]
    if not parts:
        if not checks:
            raise ValueError("a verdict needs at least one comparison or check")
        v = FAILED if failed else CHECKED
    else:
        v = FAILED if failed else combine([p.verdict for p in parts])
    if reasons and v in reasons:
        reason = reasons[v]
    elif failed:
        reason = "a check that holds by construction failed: " + "; ".join(failed)
    elif v == CHECKED:
        reason = "every exact check holds"
    else:
        reason = "; ".join(f"{p.label}: {p.outcome} ({p.verdict} for a claim of {p.form})" for p in parts)
    return Verdict(
        v,
        key_number,
        reason,
        "; ".join(map(str, parts)),
        [p.as_dict() for p in parts],
        list(checks),
        None if failed else next_look(parts),
    )


__all__ = [
    "ACCURACY",
    "CHECKED",
    "CONTRADICTED",
    "ECE",
    "FAILED",
    "RATIO",
    "SUPPORTED",
    "Part",
    "check",
    "looks",
    "next_look",
    "part",
    "verdict",
]
