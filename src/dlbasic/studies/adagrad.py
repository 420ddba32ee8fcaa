r"""Claim `adagrad`: rarely-changed parameters get larger updates; when G_t grows large, updates stop.

The experiment it scales down: Duchi, Hazan & Singer, "Adaptive subgradient methods" (JMLR 2011): the
per-coordinate step lr / sqrt(G_t), G_t the running *sum* of squared gradients, shrinks as G_t grows, about as
1 / sqrt(t) for steady gradients; Tieleman & Hinton's RMSprop (lecture 6e, 2012) and Zeiler's Adadelta (2012,
Fig. 1: Adagrad falls behind on MNIST over 50 epochs) replace the sum by a moving average, whose step does not
decay for good. That the step shrinks holds for any running sum, so it is not the test; the test is what the
claim says it costs: in a long run, Adagrad stalls, and ends at a higher training loss than RMSprop, each at
the learning rate that gives it its lowest final training loss.

Scaled down: the MLP 64-64-10 on the 8x8 digits (or ``--data``), batch 32, a long run of 60 epochs (about
2,400 steps; Zeiler's MNIST runs are 30,000); each optimizer's lr is chosen on a tuning seed (the first seed +
1000) from a half-decade grid of 7 rates (Adagrad 1e-3 to 1, RMSprop 1e-4 to 0.1) by the lowest final
training loss (a first grid of RMSprop, 1e-5 to 1e-2, had its best rate at its top edge on the tuning seed: the
grid was moved up a decade so that it holds the optimum); then every judged seed trains both at their tuned lrs
from the same split, initialization and data order (a pair). The training loss is the mean cross-entropy of
the whole training split at the end; a run whose loss turns non-finite scores the loss at chance, ln(classes).
The effective step lr / (sqrt(G_t) + eps) of the first layer, per epoch, and its size on rarely against
frequently active inputs, are reported beside the verdict, not judged.

Runs: stage 1 the tuning grid (one run per optimizer and rate); then both optimizers at their tuned lrs on
each paired seed, in looks of 3, 6 and then 12 seeds. `adadelta` declares its Adagrad runs alike and shares them.
The training loop here (`train_mlp`) is a plain minibatch loop over the library's model and optimizers (the
trainer's per-epoch evaluation would triple the cost of these long runs); the other optimizer studies use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, not_run, pm, unit_seeds
from dlbasic.lab.verdicts import RATIO, looks, part, verdict
from dlbasic.studies.learning_rate import half_decades, tuning_seed

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

EPOCHS = 60
BATCH = 32
SCHEDULE = looks(3)
GRIDS = {"adagrad": half_decades(-6, 0), "rmsprop": half_decades(-8, -2)}  # 1e-3 ... 1; 1e-4 ... 0.1
ADADELTA_LR = 1.0  # torch's multiplier: what "no learning rate" means there


# -- a plain minibatch loop (shared by the optimizer studies) ----------------------------------------------


def data_name(spec: str) -> str:
    """A short name of a data source for labels: "digits", "fashion-mnist (1438+359)" for a subset of idx:DIR."""
    kind, _, rest = spec.partition(":")
    if kind == "subset":
        counts, _, source = rest.partition(":")
        return f"{data_name(source)} ({counts})"
    return rest.rstrip("/").rsplit("/", 1)[-1] if rest else kind


def mlp_problem(ctx, data: str, seed: int, hidden: Sequence[int] = (64,)):
    """The splits of `data` for `seed` (normalized with the training statistics, as the trainer does) and a
    maker of the MLP with `hidden` widths, initialized from `seed` at each call:
    (make_model, {"train"|"val"|"test": (images, labels)})."""
    from dlbasic.training.run import build_model, load_data

    cfg = ctx.config(data=data, model="mlp", model_options={"hidden": list(hidden)}, seed=seed)
    splits = load_data(cfg)
    xy = {
        name: (splits.train.normalize(d.images).to(torch.float32), d.labels)
        for name, d in (("train", splits.train), ("val", splits.val), ("test", splits.test))
    }

    def make_model() -> torch.nn.Module:
        torch.manual_seed(seed)
        return build_model(cfg, splits.train)

    return make_model, xy


def train_steps(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: tuple[torch.Tensor, torch.Tensor],
    batch: int,
    steps: int,
    seed: int,
    probe: Callable[[int], bool | None] | None = None,
    every: int = 1,
) -> bool:
    """Train `steps` minibatch steps of cross-entropy (a fresh permutation of `data` each epoch, drawn by
    `seed`; a last partial batch is dropped). `probe(t)` is called at t = 0 and after every `every` steps;
    it may return True to stop. Returns True when a minibatch loss turned non-finite (the run stops there)."""
    images, labels = data
    g = torch.Generator().manual_seed(seed)
    n, t = len(images), 0
    model.train()
    if probe is not None and probe(0):
        return False
    while t < steps:
        order = torch.randperm(n, generator=g)
        for i in range(0, n - batch + 1, batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            if not torch.isfinite(loss):
                return True
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            t += 1
            if probe is not None and t % every == 0 and probe(t):
                return False
            if t == steps:
                break
    return False


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` on `data`, in eval mode."""
    model.eval()
    logits = model(data[0])
    model.train()
    return float(F.cross_entropy(logits, data[1])), float((logits.argmax(1) == data[1]).float().mean())


# -- the study's runs ------------------------------------------------------------------------------------------


def effective_steps(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> torch.Tensor:
    """The per-element step size the optimizer's state implies for `param` (same shape as `param`).

    Adagrad: lr / (sqrt(G_t) + eps); RMSprop: lr / (sqrt(E[g^2]_t) + eps);
    Adadelta: lr sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) (Zeiler 2012, eq. 14, times torch's lr); read after a
    step, E[dx^2] already holds that step's update (the paper's one-step lag).
    """
    group = next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))
    state, lr, eps = optimizer.state[param], group["lr"], group["eps"]
    if "sum" in state:
        return lr / (state["sum"].sqrt() + eps)
    if "acc_delta" in state:
        return lr * (state["acc_delta"] + eps).sqrt() / (state["square_avg"] + eps).sqrt()
    return lr / (state["square_avg"].sqrt() + eps)


def rare_and_frequent(activity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks over the ever-active features: the least active quarter and the most active quarter."""
    active = activity[activity > 0]
    low, high = torch.quantile(active, 0.25), torch.quantile(active, 0.75)
    return active <= low, active >= high


def long_run(ctx, optimizer: str, lr: float, seed: int) -> dict[str, Any]:
    """The MLP 64-64-10 trained with `optimizer` at `lr` on `seed` for the profile's epochs.

    Returns {"final_loss": training-split cross-entropy at the end (ln(classes) if the run diverged),
    "diverged", "val_accuracy", "medians": per-epoch median effective step of the first layer's weights of
    ever-active inputs, "rare_over_frequent": the mean step of the rarely active inputs' weights over the
    frequently active ones' at the end}.
    """
    from dlbasic.optim.factory import create_optimizer

    make_model, xy = mlp_problem(ctx, ctx.data(DATA), seed)
    model = make_model()
    opt = create_optimizer(optimizer, model.parameters(), lr=lr)
    raw = input_activity(ctx, seed)
    active = raw > 0
    weight = next(p for p in model.parameters() if p.dim() == 2)  # (hidden, inputs)
    per_epoch = len(xy["train"][0]) // BATCH
    medians: list[float] = []

    def probe(t: int) -> None:
        if t > 0 and opt.state.get(weight):
            medians.append(float(effective_steps(opt, weight)[:, active].median()))

    diverged = train_steps(
        model, opt, xy["train"], BATCH, per_epoch * ctx.profile.epochs(EPOCHS), seed, probe, per_epoch
    )
    classes = int(xy["train"][1].max()) + 1
    loss, _ = evaluate(model, xy["train"])
    out = {
        "final_loss": math.log(classes) if diverged or not math.isfinite(loss) else loss,
        "diverged": diverged or not math.isfinite(loss),
        "val_accuracy": evaluate(model, xy["val"])[1],
        "medians": medians,
        "rare_over_frequent": None,
    }
    if optimizer == "adagrad" and opt.state.get(weight) and not out["diverged"]:
        steps = effective_steps(opt, weight)[:, active].median(dim=0).values
        rare, frequent = rare_and_frequent(raw)
        out["rare_over_frequent"] = float(steps[rare].mean() / steps[frequent].mean())
    return out


def input_activity(ctx, seed: int) -> torch.Tensor:
    """Share of training images in which each input feature (pixel x channel) is non-zero: Tensor[features]."""
    from dlbasic.training.run import load_data

    train = load_data(ctx.config(data=ctx.data(DATA), seed=seed)).train
    return (train.images.flatten(1) > 0).float().mean(0)


LONG = "dlbasic.studies.adagrad:long_run"
LONG_COST = 1.3  # seconds of one long run (one thread, quick profile; measured)


def tuning_runs(ctx, optimizers: Sequence[str]) -> list[Run]:
    """The tuning grid of each optimizer on the tuning seed, named "tune <optimizer> lr <lr>"."""
    return [
        Run(f"tune {name} lr {lr:g}", LONG, {"optimizer": name, "lr": lr, "seed": tuning_seed(ctx)}, LONG_COST)
        for name in optimizers
        for lr in GRIDS[name]
    ]


def tuned_lr(results: dict[str, Any], name: str) -> float:
    """The grid rate with the lowest final training loss on the tuning seed (ties: the smaller rate)."""
    return min(GRIDS[name], key=lambda lr: (results[f"tune {name} lr {lr:g}"]["final_loss"], lr))


def judged_runs(ctx, lrs: dict[str, float], seeds: Sequence[int]) -> list[Run]:
    """Each optimizer at its lr (`lrs`) on each paired seed, named "<optimizer> seed <seed>"."""
    return [
        Run(f"{name} seed {s}", LONG, {"optimizer": name, "lr": lr, "seed": s}, LONG_COST)
        for s in seeds
        for name, lr in lrs.items()
    ]


def judged_seeds(results: dict[str, Any], names: Sequence[str]) -> list[int]:
    """The seeds every optimizer of `names` has a judged run for, in order."""
    seeds = {int(k.rsplit(" ", 1)[1]) for k in results if k.split(" ")[0] == names[0] and " seed " in k}
    return sorted(s for s in seeds if all(f"{n} seed {s}" in results for n in names))


def staged_long_runs(study: Study, ctx, results: dict[str, Any], tuned: Sequence[str], lrs_of) -> list[Run]:
    """The runs of a long-run study: its tuning grids; then the judged runs of the first look's seeds, and of
    the next look's while the verdict is undecided (`lrs_of(results)`: each optimizer's lr)."""
    if todo := not_run(tuning_runs(ctx, tuned), results):
        return todo
    n = study.next_look(ctx, results, judged=any(" seed " in k and not k.startswith("tune ") for k in results))
    if n is None:
        return []
    return not_run(judged_runs(ctx, lrs_of(results), unit_seeds(ctx, n)), results)


def long_run_measurements(
    ctx, results: dict[str, Any], lrs: dict[str, float], figure: tuple[str, str], tuned: Sequence[str] = ()
) -> Measurements:
    """The numbers of a long-run study from the seeds judged so far: per optimizer of `lrs`, its lr (and, for
    those in `tuned`, the tuning grid's final losses), the final training losses, the runs that diverged and the
    effective step's shrink; and the effective-step figure of the first seed (`figure`: caption, title)."""
    names = tuple(lrs)
    seeds = judged_seeds(results, names)
    numbers: dict[str, Any] = {"data": ctx.data(DATA), "seeds": seeds, "epochs": ctx.profile.epochs(EPOCHS)}
    for name, lr in lrs.items():
        runs = [results[f"{name} seed {s}"] for s in seeds]
        grid = (
            {f"{x:g}": results[f"tune {name} lr {x:g}"]["final_loss"] for x in GRIDS[name]} if name in tuned else None
        )
        numbers[name] = {
            "lr": lr,
            **({"tuning": grid} if grid is not None else {}),
            "final_loss": [r["final_loss"] for r in runs],
            "diverged": sum(r["diverged"] for r in runs),
            "shrink": [shrink(r) for r in runs],
        }
    caption, title = figure
    return Measurements(numbers, [(caption, plot_steps(results, names, seeds[0], title))] if seeds else [], seeds)


def plot_steps(results: dict[str, Any], names: Sequence[str], seed: int, title: str):
    """The median effective step per epoch of each optimizer on `seed`."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name in names:
        medians = results[f"{name} seed {seed}"]["medians"]
        ax.plot(range(1, len(medians) + 1), medians, label=f"{name} (seed {seed})")
    ax.set(yscale="log", xlabel="epoch", ylabel="median effective step (first layer)", title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def shrink(record: dict[str, Any]) -> float:
    """The effective step's last epoch over its first (nan when the run recorded fewer than one epoch)."""
    m = record["medians"]
    return m[-1] / m[0] if m else math.nan


NAMES = ("adagrad", "rmsprop")


def adagrad_lrs(results: dict[str, Any]) -> dict[str, float]:
    """Adagrad and RMSprop, each at its tuned lr."""
    return {n: tuned_lr(results, n) for n in NAMES}


@register_study
class AdagradStudy(Study):
    """Claim `adagrad`: Rarely-changed parameters get larger updates; when G_t grows large, updates stop."""

    id = "adagrad"
    trains_on = DATA
    section = "Adagrad"
    claim = "Rarely-changed parameters get larger updates; when G_t grows large, updates stop."
    note = (
        "파라미터가 지금까지 얼마나 변해왔는가 를 반영. 적게 변한 파라미터는 많이, 많이 변한 파라미터는 적게 "
        "업데이트. Gt가 너무 커지면 업데이트가 되지 않는다."
    )
    literature = (
        "Duchi, Hazan & Singer, JMLR 2011. G_t is the sum of squared gradients, so each parameter's step "
        "lr / sqrt(G_t) can only shrink (about as 1/sqrt(t) for steady gradients): updates slow down but "
        "never stop exactly; the sum of steps still diverges. 'Rarely changed' means rarely receiving "
        "gradient (sparse features), not a small change of the parameter itself."
    )
    form = "difference"
    schedule = SCHEDULE
    method = (
        f"The MLP 64-64-10 trains a long run of {EPOCHS} epochs (batch 32) on the 8x8 digits (or --data) with "
        "Adagrad and with RMSprop, each at the rate of a half-decade grid (Adagrad "
        f"{', '.join(f'{x:g}' for x in GRIDS['adagrad'])}; RMSprop {', '.join(f'{x:g}' for x in GRIDS['rmsprop'])}) "
        "with the lowest final training loss on a tuning seed (the first seed + 1000); then both on each paired "
        "seed from the same split, initialization and data order. The final training loss is the cross-entropy "
        "of the whole training split at the end (ln(classes) for a run that diverged). Reported, not judged: the "
        "median effective step of the first layer per epoch (its last / first epoch) and, for Adagrad, the "
        "step of the weights of the least active quarter of the ever-active inputs over the most active "
        "quarter's."
    )
    rule = (
        "One paired comparison of the final training loss on the log scale, Adagrad vs RMSprop (d = log "
        "Adagrad − log RMSprop: Adagrad stalls when its loss is higher), form difference, margin log 1.1 (10 %); "
        f"seeds in looks of {' then '.join(map(str, SCHEDULE))} with the O'Brien–Fleming boundary. Supported "
        "when the interval lies above +log 1.1; contradicted when it lies below −log 1.1 or inside ±log 1.1."
    )

    def plan(self, ctx, results: dict[str, Any]) -> list[Run]:
        """The tuning grids, then both optimizers at their tuned lrs on the looks' seeds."""
        return staged_long_runs(self, ctx, results, NAMES, adagrad_lrs)

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The numbers and the figure, from the seeds judged so far."""
        m = long_run_measurements(
            ctx,
            results,
            adagrad_lrs(results),
            (
                "Effective step per epoch: Adagrad vs RMSprop (each at its tuned lr)",
                "first-layer effective step per epoch, each at its tuned lr",
            ),
            tuned=NAMES,
        )
        m.numbers["adagrad"]["rare_over_frequent"] = [
            results[f"adagrad seed {s}"]["rare_over_frequent"] for s in m.numbers["seeds"]
        ]
        return m

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, from the numbers `collect` returned."""
        a, r = m["adagrad"], m["rmsprop"]
        p = part(
            "final training loss, Adagrad vs RMSprop (higher: Adagrad stalls)",
            a["final_loss"],
            r["final_loss"],
            form="difference",
            margin=RATIO,
            log=True,
            schedule=self.schedule,
        )
        rare = [x for x in a["rare_over_frequent"] if x is not None]
        key = (
            f"final training loss after {m['epochs']} epochs: Adagrad (lr {a['lr']:g}) {pm(a['final_loss'], 4)} vs "
            f"RMSprop (lr {r['lr']:g}) {pm(r['final_loss'], 4)}; reported: effective step last/first epoch "
            f"Adagrad {pm(a['shrink'])} vs RMSprop {pm(r['shrink'])}"
            + (f", rare/frequent input step ratio {pm(rare, 2)}" if rare else "")
        )
        return verdict([p], key)
