"""Claim `adagrad`: rarely-changed parameters get larger updates; when G_t grows large, updates stop."""

from __future__ import annotations

import statistics

import matplotlib.pyplot as plt
import torch

from dlbasic.callbacks import Callback
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, compare, pm
from dlbasic.studies.registry import register_study

EPOCHS = 30


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


class EffectiveStep(Callback):
    """Records, after every epoch, the median effective step size over the first layer's weights.

    Only weights of input pixels that are non-zero in some training image are counted (the others never
    get a gradient); on `on_fit_end` it keeps the per-pixel median of the last epoch in `per_pixel`.
    """

    def __init__(self, active: torch.Tensor):
        self.active = active  # (pixels,) bool
        self.medians: list[float] = []
        self.per_pixel: list[float] = []

    def _first(self, trainer) -> torch.Tensor:
        weight = next(p for p in trainer.model.parameters() if p.dim() == 2)  # (hidden, pixels)
        return effective_steps(trainer.optimizer, weight)[:, self.active]  # (hidden, active pixels)

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        self.medians.append(float(self._first(trainer).median()))

    def on_fit_end(self, trainer) -> None:
        self.per_pixel = self._first(trainer).median(dim=0).values.tolist()


def pixel_activity(ctx, seed: int) -> torch.Tensor:
    """Share of training images in which each pixel is non-zero: Tensor[pixels]."""
    from dlbasic.training.run import load_data

    train = load_data(ctx.config(data="digits", seed=seed)).train
    return (train.images.flatten(1) > 0).float().mean(0)


def run_tracked(ctx, optimizer: str, seed: int, epochs: int) -> tuple[dict, EffectiveStep, torch.Tensor]:
    """Train the digits MLP with `optimizer` (its default lr), recording effective step sizes."""
    activity = pixel_activity(ctx, seed)
    tracker = EffectiveStep(activity > 0)
    cfg = ctx.config(data="digits", model="mlp", model_options={"hidden": [64]}, optimizer=optimizer,
                     batch_size=32, seed=seed, epochs=epochs)
    return ctx.train(cfg, callbacks=[tracker]), tracker, activity[activity > 0]


@register_study
class AdagradStudy(Study):
    id = "adagrad"
    section = "Adagrad"
    claim = "Rarely-changed parameters get larger updates; when G_t grows large, updates stop."
    note = ("파라미터가 지금까지 얼마나 변해왔는가 를 반영. 적게 변한 파라미터는 많이, 많이 변한 파라미터는 적게 "
            "업데이트. Gt가 너무 커지면 업데이트가 되지 않는다.")
    literature = ("Duchi, Hazan & Singer, JMLR 2011. G_t is the sum of squared gradients, so each parameter's step "
                  "lr / sqrt(G_t) can only shrink (about as 1/sqrt(t) for steady gradients): updates slow down but "
                  "never stop exactly; the sum of steps still diverges. 'Rarely changed' means rarely receiving "
                  "gradient (sparse features), not a small change of the parameter itself.")
    method = (f"The digits MLP (64-64-10, batch 32) trains {EPOCHS} epochs with Adagrad (lr 0.01) and, for contrast, "
              "RMSprop (lr 0.001), each optimizer's default. After every epoch the median effective step size of the "
              "first layer's weights is read from the optimizer state (Adagrad lr/(sqrt(G_t)+eps), RMSprop "
              "lr/(sqrt(E[g^2])+eps)); the shrink ratio is last epoch / first epoch. At the end, Adagrad's effective "
              "step of the weights of rarely active input pixels (non-zero in < 10 % of the images) is compared "
              "with that of frequently active pixels (> 50 %).")
    rule = ("Supported if Adagrad's shrink ratio is below 0.5 in every seed and below RMSprop's by the compare rule "
            "(beyond the larger seed std), and rare pixels' effective steps exceed frequent pixels' in every seed. "
            "Contradicted if Adagrad's ratio is not below RMSprop's (compare contradicts) or rare pixels get the "
            "smaller steps in every seed. Inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        epochs = ctx.profile.epochs(EPOCHS)
        numbers: dict = {"adagrad": {"shrink": [], "rare_over_frequent": [], "train_loss": []},
                         "rmsprop": {"shrink": [], "train_loss": []}}
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
        for name in ("adagrad", "rmsprop"):
            for seed in ctx.seeds:
                s, tracker, activity = run_tracked(ctx, name, seed, epochs)
                numbers[name]["shrink"].append(tracker.medians[-1] / tracker.medians[0])
                numbers[name]["train_loss"].append(s["train_loss"])
                if seed == ctx.seeds[0]:
                    ax.plot(range(1, epochs + 1), tracker.medians, label=f"{name} (seed {seed})")
                if name == "adagrad":
                    steps = torch.tensor(tracker.per_pixel)
                    rare, frequent = steps[activity < 0.1], steps[activity > 0.5]
                    numbers[name]["rare_over_frequent"].append(float(rare.mean() / frequent.mean()))
                    if seed == ctx.seeds[0]:
                        ax2.scatter(activity.tolist(), tracker.per_pixel, s=12)
        ax.set(yscale="log", xlabel="epoch", ylabel="median effective step size",
               title="first-layer effective step size")
        ax.legend(fontsize=8)
        ax2.set(yscale="log", xlabel="share of images where the pixel is non-zero",
                ylabel="Adagrad effective step (median over units)", title="rarely active inputs: larger steps")
        fig.tight_layout()
        return Measurements(numbers, [("Adagrad's effective step size shrinks; rare inputs keep larger steps", fig)],
                            list(ctx.seeds))

    def judge(self, m) -> Verdict:
        a, r = m["adagrad"], m["rmsprop"]
        shrinks = compare(a["shrink"], r["shrink"], higher_is_better=False)
        rare = a["rare_over_frequent"]
        key = (f"effective step last/first epoch: Adagrad {pm(a['shrink'])} vs RMSprop {pm(r['shrink'])}; rare/"
               f"frequent pixel step ratio {pm(rare, 2)}; train loss {pm(a['train_loss'])} vs {pm(r['train_loss'])}")
        if shrinks == CONTRADICTED or all(x <= 1 for x in rare):
            return Verdict(CONTRADICTED, key, "Adagrad's step did not shrink more than RMSprop's, or rare inputs "
                                              "did not get larger steps")
        if shrinks == SUPPORTED and all(x < 0.5 for x in a["shrink"]) and all(x > 1 for x in rare):
            return Verdict(SUPPORTED, key, f"Adagrad's step fell to {statistics.fmean(a['shrink']):.2f} of its "
                                           "first-epoch size and rarely active inputs kept larger steps")
        return Verdict(INCONCLUSIVE, key, "the shrinking or the rare-input effect is within the rule's margins")
