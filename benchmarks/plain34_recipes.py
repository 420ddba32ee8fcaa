"""How far does a recipe search get plain34 on mnist5k in 3 epochs? A grid of recipes over seeds.

The zoo bar (issue 5) asks 0.95 test accuracy after 3 epochs from every small-input variant;
plain34 (ResNet-34 without its skips) is the one that misses it. This grid tries what a
practitioner would try first: Adam over learning rates and batch sizes, SGD with Nesterov
momentum, He fan-in instead of fan-out init, a longer warm-up, double width and AdamW. Each
recipe trains once per seed with zoo_mnist.py's loop: linear warm-up, then cosine decay to 0.
The recipe with the best mean validation accuracy (400 digits held out of training) is reported
with its test accuracy, so the choice never sees the test set; plain18 and resnet34 under the same
recipe show what the skips buy.

    python benchmarks/plain34_recipes.py --device cuda               # 42 recipes x 3 seeds
    python benchmarks/plain34_recipes.py --recipes adam-0.003-b64,sgd-0.05-b32 --seeds 0

Prints a table and, as its last line, one JSON object {"bench": "plain34_recipes", ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from dlbasic.errors import UserError, did_you_mean
from dlbasic.models import create_model, list_models
from dlbasic.training.device import resolve_device
from zoo_mnist import accuracy, fit, mnist5k_splits  # the zoo benchmark's data, loop and schedule


def recipe_grid() -> dict[str, dict]:
    """name -> recipe: optimizer, lr, batch size and the variations tried."""
    grid = {}
    for bs in (64, 32, 16):
        for lr in (5e-4, 1e-3, 2e-3, 3e-3):
            grid[f"adam-{lr:g}-b{bs}"] = {"opt": "adam", "lr": lr, "batch_size": bs}
    for bs in (64, 32):
        for lr in (0.02, 0.05, 0.1):  # Nesterov momentum 0.9, weight decay 5e-4 (He et al.'s)
            grid[f"sgd-{lr:g}-b{bs}"] = {"opt": "sgd", "lr": lr, "batch_size": bs, "weight_decay": 5e-4}
        for lr in (1e-3, 2e-3, 3e-3):
            base = {"opt": "adam", "lr": lr, "batch_size": bs}
            grid[f"adam-{lr:g}-b{bs}-fan_in"] = {**base, "init": "fan_in"}
            grid[f"adam-{lr:g}-b{bs}-warm30"] = {**base, "warmup": 0.3}
            grid[f"adam-{lr:g}-b{bs}-width0.5"] = {**base, "model_options": {"width": 0.5}}
            grid[f"adamw-{lr:g}-b{bs}-wd0.05"] = {**base, "opt": "adamw", "weight_decay": 0.05}
    return grid


def train(name: str, recipe: dict, seed: int, data: dict, epochs: int = 3) -> dict:
    torch.manual_seed(seed)
    model = create_model(name, num_classes=10, in_channels=1, input_size=28, **recipe.get("model_options", {}))
    if recipe.get("init"):
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode=recipe["init"], nonlinearity="relu")
    model.to(data["device"])
    lr, wd = recipe["lr"], recipe.get("weight_decay", 0.0)
    if recipe["opt"] == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr, momentum=0.9, nesterov=True, weight_decay=wd)
    else:
        opt = (torch.optim.AdamW if recipe["opt"] == "adamw" else torch.optim.Adam)(
            model.parameters(), lr, weight_decay=wd
        )
    fit(model, opt, *data["train"], epochs, recipe["batch_size"], seed, recipe.get("warmup", 0.1))
    return {"val": accuracy(model, *data["val"]), "test": accuracy(model, *data["test"])}


def integers(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2] (argparse names this function in its error for anything else)."""
    return [int(v) for v in text.split(",")]


def main() -> None:
    grid = recipe_grid()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="plain34", help="the model the grid trains (default plain34)")
    p.add_argument("--compare", default="plain18,resnet34", help="models trained with the best recipe")
    p.add_argument("--recipes", default=",".join(grid), help="comma-separated recipe names (default: all)")
    p.add_argument("--seeds", default=[0, 1, 2], type=integers, help="comma-separated integers (default 0,1,2)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda to run the whole grid in minutes")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    for n in names:
        if n not in grid:
            p.error(f"unknown recipe {n!r}; {did_you_mean(n, list(grid))}")
    compare = [m.strip() for m in args.compare.split(",") if m.strip()]
    for m in [args.model, *compare]:
        if m not in list_models():
            p.error(f"unknown model {m!r}; {did_you_mean(m, list_models())}")
    try:
        resolve_device(args.device)
    except UserError as e:
        p.error(str(e))
    seeds = args.seeds
    data = {**mnist5k_splits(args.device), "device": args.device}
    start = time.perf_counter()
    print(f"{args.model}: {'recipe':<24} {'val acc':>8} {'test acc':>9}  test acc per seed {seeds}")
    results = {}
    for n in names:
        runs = [train(args.model, grid[n], s, data) for s in seeds]
        r = results[n] = {
            "val": statistics.fmean(run["val"] for run in runs),
            "test": statistics.fmean(run["test"] for run in runs),
            "test_per_seed": [round(run["test"], 4) for run in runs],
        }
        print(
            f"{'':<{len(args.model) + 2}}{n:<24} {r['val']:>8.4f} {r['test']:>9.4f}  {r['test_per_seed']}", flush=True
        )
    best = max(results, key=lambda n: results[n]["val"])
    compared = {}
    for other in compare:
        runs = [train(other, grid[best], s, data) for s in seeds]
        compared[other] = [round(r["test"], 4) for r in runs]
        print(f"{other} with {best}: test acc per seed {compared[other]}", flush=True)
    print(
        f"best recipe by validation: {best}, test accuracy {results[best]['test']:.4f} "
        f"(per seed {results[best]['test_per_seed']}); best mean test over the grid "
        f"{max(r['test'] for r in results.values()):.4f}"
    )
    print(
        json.dumps(
            {
                "bench": "plain34_recipes",
                "model": args.model,
                "seeds": seeds,
                "device": args.device,
                "best_recipe": best,
                "best": results[best],
                "compare": compared,
                "seconds": round(time.perf_counter() - start, 1),
                "torch": torch.__version__,
                "recipes": {
                    n: {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for n, r in results.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
