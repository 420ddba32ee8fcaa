"""What the lab expects each run to cost, before and while it runs.

A run declares its expected seconds on one thread in the quick profile on its study's default data
(`Run.cost`; a study that is one run takes its whole-study figure below). `Costs` scales that by the profile
(`scale` multiplies epochs and sizes), by the lab's data where the run trains on it (the images a study
sees are fixed, `LabContext.data`, so only the size of an image changes the cost: channels x height x width
against the study's default data, to the power `DATA_EXPONENT`), and by what the lab measures as runs end:
the ratio of measured to expected seconds of the runs of the same function so far (of all runs, before one
of that function ended).
The same model orders the runs (longest first) and gives the time left on each progress line.
"""

from __future__ import annotations

import math
from collections import defaultdict

from dlbasic.lab.context import Profile
from dlbasic.lab.study import Run, Study

# Seconds of computation each study took in the quick lab, all its looks together (one thread per run, `--jobs 2`
# on a 2-core CPU, a quiet machine): the cost of a study that does not declare its runs, and the time its later
# looks will add before they are declared (a study missing here counts as DEFAULT_ESTIMATE seconds).
ESTIMATES: dict[str, float] = {
    "generalization": 35,
    "cross-validation": 66,
    "bias-variance": 71,
    "bagging": 52,
    "boosting": 21,
    "gd-variants": 2,
    "batch-size": 123,
    "learning-rate": 3,
    "momentum": 24,
    "nesterov": 40,
    "adagrad": 22,
    "adadelta": 26,
    "rmsprop-adam": 123,
    "early-stopping": 57,
    "weight-decay": 5,
    "augmentation": 13,
    "noise": 14,
    "mixing": 168,
    "cutmix-ratio": 1,
    "dropout": 169,
    "batch-norm": 20,
    "group-norm": 87,
    "conv-shapes": 1,
    "one-by-one": 1,
    "relu": 131,
    "vgg-3x3": 230,
    "inception": 1,
    "resnet": 75,
    "bottleneck": 1,
    "densenet": 1,
    "fcn": 7,
    "deconv": 1,
    "detection-speed": 84,
}
# The same in a full lab (5 seeds, 3x the epochs; two workers, with the test suite on the same cores for a third
# of it): 5 to 19 times the quick durations, 10 times in total.
FULL_ESTIMATES: dict[str, float] = {
    "generalization": 238,
    "cross-validation": 510,
    "bias-variance": 529,
    "bagging": 317,
    "boosting": 168,
    "gd-variants": 12,
    "batch-size": 150,
    "learning-rate": 12,
    "momentum": 90,
    "nesterov": 110,
    "adagrad": 120,
    "adadelta": 36,
    "rmsprop-adam": 315,
    "early-stopping": 224,
    "weight-decay": 55,
    "augmentation": 160,
    "noise": 230,
    "mixing": 1388,
    "cutmix-ratio": 2,
    "dropout": 1040,
    "batch-norm": 178,
    "group-norm": 1706,
    "conv-shapes": 1,
    "one-by-one": 1,
    "relu": 402,
    "vgg-3x3": 1617,
    "inception": 1,
    "resnet": 1242,
    "bottleneck": 1,
    "densenet": 1,
    "fcn": 80,
    "deconv": 2,
    "detection-speed": 486,
}
DEFAULT_ESTIMATE = 30.0
# A run's time grows about as the square root of an image's pixels, not in proportion: measured in the quick lab
# (--jobs 2), the studies on the 8x8 digits took 3.1x their time on Fashion-MNIST's 28x28 images (12.25x the
# pixels; 12.25 ** 0.5 = 3.5), since the lab's small models spend as much on fixed costs per step and per run
# as on the pixels. Only the size of an image changes, not their number (`LabContext.data`).
DATA_EXPONENT = 0.5


def whole_study_cost(study_id: str, profile: Profile) -> float:
    """The expected seconds of a study that is one run, in `profile` (measured: the tables above)."""
    table = FULL_ESTIMATES if profile.name == "full" else ESTIMATES
    return float(table.get(study_id, DEFAULT_ESTIMATE))


def image_size(spec: str) -> int | None:
    """Channels x height x width of an image of `spec`'s training split; None where it cannot be read here
    (data that only a Ray cluster's workers hold)."""
    from dlbasic.data import load
    from dlbasic.errors import UserError

    try:
        train = load(spec, "train")
    except (UserError, OSError):
        return None
    return math.prod(train.pixels.shape[1:])


class Costs:
    """Expected seconds of runs in a lab of `profile` (see the module docstring)."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self._sizes: dict[str, int | None] = {}
        self._measured: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # fn -> [seconds, expected]

    def _pixels(self, spec: str) -> int | None:
        if spec not in self._sizes:
            self._sizes[spec] = image_size(spec)
        return self._sizes[spec]

    def declared(self, study: Study, run: Run) -> float:
        """`run.cost` in this lab's profile and data, before any measurement."""
        from dlbasic.lab.study import WHOLE_STUDY

        if run.fn == WHOLE_STUDY:
            seconds = whole_study_cost(study.id, self.profile)
        else:
            seconds = run.cost * self.profile.scale
        return seconds * (self.data_ratio(study) if run.trains else 1.0)

    def data_ratio(self, study: Study) -> float:
        """What an image of the lab's data costs against one of the study's default data (1 for fixed data): the
        ratio of their pixels to the power `DATA_EXPONENT`."""
        default, data = study.trains_on, self.profile.data
        if default is None or not data or data == default:
            return 1.0
        own, lab = self._pixels(default), self._pixels(data)
        return (lab / own) ** DATA_EXPONENT if own and lab else 1.0

    def study_total(self, study: Study) -> float:
        """The seconds a whole study is expected to take, all stages together (its measured total, `ESTIMATES`),
        for the time its later stages will add before it has declared their runs."""
        return whole_study_cost(study.id, self.profile) * self.data_ratio(study) * self.factor("")

    def factor(self, fn: str) -> float:
        """Measured over expected seconds of the runs of `fn` so far (of all runs while none of `fn` ended)."""
        seconds, expected = self._measured.get(fn, (0.0, 0.0))
        if expected <= 0:
            seconds = sum(s for s, _ in self._measured.values())
            expected = sum(e for _, e in self._measured.values())
        return min(4.0, max(0.25, seconds / expected)) if expected > 0 else 1.0

    def expected(self, study: Study, run: Run) -> float:
        """The seconds `run` is expected to take now."""
        return self.declared(study, run) * self.factor(run.fn)

    def measured(self, study: Study, run: Run, seconds: float) -> None:
        """A run of `study` ended after `seconds` (computed here, not read from the cache)."""
        entry = self._measured[run.fn]
        entry[0] += seconds
        entry[1] += max(self.declared(study, run), 1e-3)


def eta(running: list[float], pending: list[float], slots: int) -> float:
    """Seconds until the last run ends: `running` gives each running run's seconds left, `pending` the expected
    seconds of those waiting (in the order they will start), which go to the first free of `slots`."""
    free = sorted(max(0.0, r) for r in running)
    free += [0.0] * max(0, slots - len(free))
    for seconds in pending:
        free.sort()
        free[0] += seconds
    return max(free, default=0.0)


def duration(seconds: float) -> str:
    """`seconds` for a progress line: 40 s, 3 min, 1 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:02.0f} min"
