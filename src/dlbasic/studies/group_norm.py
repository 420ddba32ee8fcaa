"""Claim `group-norm`: group norm does not depend on the batch size, unlike batch norm.

The experiment scaled down: Wu & He, "Group Normalization" (ECCV 2018), figure 1 and §5.1: ResNet-50 on
ImageNet with batch norm or group norm, trained with 32, 16, 8, 4 and 2 images per batch-norm batch. Batch
norm's error rises steeply as the batch shrinks (23.6 % to 34.7 % from 32 to 2) while group norm's stays
flat (24.1 % to 24.8 %). Two parts are judged, each paired per seed: group norm's test accuracy at batch 2
is *equivalent* to its accuracy at batch 32 (within the margin), and batch norm's accuracy at batch 32 is
*higher* than at batch 2 by more than the margin.

Scaling: `tiny_cnn` with two conv stages (16 and 32 channels, the norm after each convolution; group norm
with 8 groups, 2 and 4 channels per group as in the first stage of Wu & He's ResNet with 32 groups) on the
8x8 digits (or --data), half of them held out as each seed's own test split (898 images: an equivalence
within half a point needs as large a test split as the data allows), 320 training images drawn per seed.
Batches 2 and 32 take the same number of steps (1,280: 8 epochs at batch 2, 128 at batch 32), so neither
size gets more updates: at equal epochs (Wu & He) batch 2 would take 16 times the steps. Adam (lr 1e-3, one
rate for both sizes, cosine decay to 0) rather than Wu & He's SGD: Adam's steps have the same size at both
batch sizes, so what differs is the gradient noise and, for batch norm, the statistics of the batch (and the
running averages it is tested with); SGD at one rate did not train at batch 2 in a trial run. At matched
steps the small batch sees 16 times fewer images, so the design needs both sizes trained to their plateau
(last-epoch training loss reported). A first version on the 28x28 MNIST digits (2,500 test images, 8 and
16 channels, 640 steps on 320 images: all a 28x28 design could afford in the study's budget) failed that:
its batch-2 runs ended at a training loss of 0.2-0.3 against 0.005 at batch 32, so both norms lost about
3 points at batch 2 from under-training, not from the batch statistics. On the 8x8 digits a step costs a
fraction of a 28x28 one, and twice the steps over the same number of images bring batch 2 to about 0.02 in
a trial run (1,600 steps; in the quick lab's runs of 1,280 steps, 0.03-0.05 against 0.001-0.002 at batch 32:
what is left of batch 2's deficit may still be under-training, which the report's training losses show).
Pairing: the four runs of a seed share split, subset and initialization.

Runs: one per norm, batch size and seed (a training, its test accuracy and last-epoch training loss), in
looks of 3, 6 and 12 paired seeds; a part decided at a look gets no more seeds (O'Brien-Fleming boundary).
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, not_run, pm, unit_seeds
from dlbasic.lab.verdicts import ACCURACY, looks, part, verdict

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

SMALL, LARGE = 2, 32  # Wu & He's figure 1: 32 to 2 images per batch
BATCH_SIZES = (SMALL, LARGE)
STEPS, SUBSET, GROUPS, LR = 1280, 320, 8, 1e-3
TEST_FRACTION = 0.5
CHANNELS = [16, 32]
SCHEDULE = looks(3)
NORMS = {"group": f"group norm ({GROUPS} groups)", "batch": "batch norm"}
TRAIN = "dlbasic.studies.group_norm:trained_accuracy"
COSTS = {SMALL: 2.0, LARGE: 5.2}  # seconds of one training by batch size (one thread, quick profile)


def run_name(norm: str, batch_size: int, seed: int) -> str:
    """The name of the run that trains `norm` at `batch_size` with `seed`."""
    return f"{norm}-batch{batch_size}-seed{seed}"


def epochs(ctx, batch_size: int) -> int:
    """Epochs of `batch_size` that take STEPS steps over SUBSET images (both scaled by the profile)."""
    return max(1, round(ctx.profile.size(STEPS) * batch_size / ctx.profile.size(SUBSET)))


def trained_accuracy(ctx, norm: str, batch_size: int, seed: int) -> dict[str, float]:
    """Train tiny_cnn with `norm` at `batch_size` for the matched steps with `seed`: its test accuracy and
    last-epoch training loss."""
    cfg = ctx.config(
        model="tiny_cnn",
        data=ctx.data(DATA),
        test_fraction=TEST_FRACTION,
        norm=norm,
        model_options={"groups": GROUPS, "channels": CHANNELS},
        optimizer="adam",
        lr=LR,
        scheduler="cosine",
        batch_size=batch_size,
        seed=seed,
        epochs=epochs(ctx, batch_size),
        train_subset=ctx.profile.size(SUBSET),
    )
    s = ctx.train(cfg)
    return {"accuracy": s["test_accuracy"], "train_loss": s["history"][-1]["train_loss"]}


def seeds_of(results: dict, norm: str) -> list[int]:
    """The paired seeds whose runs of `norm` at both batch sizes are in `results`."""
    seeds = {int(k.rsplit("seed", 1)[1]) for k in results if k.startswith(f"{norm}-batch")}
    return sorted(s for s in seeds if all(run_name(norm, b, s) in results for b in BATCH_SIZES))


def parts(study, acc: dict[str, dict[str, list[float]]]) -> list:
    """The claim's two parts: group norm at batch 2 vs 32 (sameness), batch norm at 32 vs 2 (difference)."""
    small, large = str(SMALL), str(LARGE)
    return [
        part(
            f"group norm's test accuracy, batch {SMALL} vs {LARGE}",
            acc["group"][small],
            acc["group"][large],
            form="sameness",
            margin=ACCURACY,
            schedule=study.schedule,
        ),
        part(
            f"batch norm's test accuracy, batch {LARGE} vs {SMALL}",
            acc["batch"][large],
            acc["batch"][small],
            form="difference",
            margin=ACCURACY,
            schedule=study.schedule,
        ),
    ]


@register_study
class GroupNorm(Study):
    """Claim `group-norm`: Group norm does not depend on batch size, unlike batch norm."""

    id = "group-norm"
    trains_on = DATA
    section = "Regularization"
    form = "sameness + difference"
    schedule = SCHEDULE
    claim = "Group norm does not depend on batch size, unlike batch norm."
    note = (
        "Batch Normalization: 원하는 레이어의 모든 파라미터의 통계치를 정규화. 평균을 빼고, 표준편차를 나눔. "
        "> [논문](https://arxiv.org/abs/1803.08494)"
    )
    literature = (
        "Wu & He (https://arxiv.org/abs/1803.08494), figure 1: ResNet-50 on ImageNet, batch norm's error "
        "rises steeply below 16 images per GPU while group norm's stays flat from 32 down to 2. Batch "
        "norm's statistics come from the batch (and its running averages from noisy small batches); group "
        "norm's come from each sample alone."
    )
    method = (
        f"tiny_cnn with conv stages {CHANNELS} and batch norm or group norm ({GROUPS} groups) after each "
        f"convolution, trained on {SUBSET} of the 8x8 digits (half the pool held out as each seed's "
        "test split; or --data, tested on the lab's draw of its test set) with Adam (lr "
        f"{LR:g}, cosine decay to 0) at batch sizes {SMALL} and {LARGE} for the same {STEPS} steps; the runs "
        "of a seed share split, subset and initialization. Test accuracy in evaluation mode (batch norm uses "
        "its running statistics)."
    )
    rule = (
        f"Two parts, each paired by seed against the margin 0.005 (dlbasic.lab.verdicts.part): group norm's "
        f"test accuracy at batch {SMALL} vs {LARGE}, claim of sameness (supported when the interval lies "
        f"inside ±0.005: equivalent; contradicted when it lies beyond either side); batch norm's at batch "
        f"{LARGE} vs {SMALL}, claim of difference (supported when batch {LARGE} is better by more than 0.005). "
        "Supported when both parts are, contradicted when either is. Seeds in looks of "
        f"{'/'.join(map(str, SCHEDULE))} with an O'Brien-Fleming boundary; a decided part gets no more seeds."
    )

    def plan(self, ctx, results) -> list[Run]:
        """The runs of every norm and batch size for the first look's seeds; then, while the claim is
        undecided, those of the next look for the norms whose part is undecided."""
        norms, n = list(NORMS), self.schedule[0]
        if results:
            v = self.verdict_so_far(ctx, results)
            if v.more is None:
                return []
            n = v.more
            norms = [norm for norm, c in zip(NORMS, v.comparisons) if c["verdict"] == "inconclusive"]
        runs = [
            Run(run_name(norm, b, seed), TRAIN, {"norm": norm, "batch_size": b, "seed": seed}, COSTS[b])
            for seed in unit_seeds(ctx, n)
            for norm in norms
            for b in BATCH_SIZES
        ]
        return not_run(runs, results)

    def collect(self, ctx, results) -> Measurements:
        """Test accuracies and last-epoch training losses by norm and batch size (one per paired seed of that
        norm), and the figure."""
        seeds = {n: seeds_of(results, n) for n in NORMS}
        acc, loss = (
            {n: {str(b): [results[run_name(n, b, s)][key] for s in seeds[n]] for b in BATCH_SIZES} for n in NORMS}
            for key in ("accuracy", "train_loss")
        )
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for norm, label in NORMS.items():
            stats = [mean_std(acc[norm][str(b)]) for b in BATCH_SIZES]
            ax.errorbar(
                BATCH_SIZES, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3, label=label
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
        ax.set_xlabel(f"batch size ({STEPS} steps each)")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return Measurements(
            {"test_accuracy": acc, "train_loss": loss, "seeds": seeds},
            [("Test accuracy against batch size for batch norm and group norm (mean ± std over seeds)", fig)],
            sorted(set().union(*seeds.values())),
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        acc = m["test_accuracy"]
        gn, bn = parts(self, acc)
        small, large = str(SMALL), str(LARGE)
        key = (
            f"group norm: {pm(acc['group'][small])} at batch {SMALL} vs {pm(acc['group'][large])} at {LARGE} "
            f"(paired diff {gn.comparison.mean:+.4f}, {gn.outcome}); batch norm: {pm(acc['batch'][large])} at "
            f"{LARGE} vs {pm(acc['batch'][small])} at {SMALL} (paired diff {bn.comparison.mean:+.4f}, {bn.outcome})"
        )
        if "train_loss" in m:  # reported: how far each size trained in the matched steps
            loss = {n: {b: mean_std(v)[0] for b, v in m["train_loss"][n].items()} for n in NORMS}
            key += "; last-epoch training loss at batch {} / {}: GN {:.3f} / {:.3f}, BN {:.3f} / {:.3f}".format(
                SMALL, LARGE, loss["group"][small], loss["group"][large], loss["batch"][small], loss["batch"][large]
            )
        return verdict([gn, bn], key)
