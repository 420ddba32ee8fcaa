"""`subset:N:SPEC` and `subset:TRAIN+TEST:SPEC`: a fixed number of another source's images, drawn
stratified by class with a fixed seed, so a larger dataset costs what a small one does.

- `subset:N:SPEC` keeps N images of SPEC's training pool (its own test set, if any, is kept whole);
- `subset:TRAIN+TEST:SPEC` keeps TRAIN images of the training pool and TEST of its official test set;
  a source with no test set of its own gives TRAIN + TEST images, from which the usual stratified hold-out
  is taken (so `subset:4000+1000:idx:DIR` splits like the 5,000 embedded digits: 3,600 / 400 / 1,000);
- `subset:+TEST:SPEC`: TEST images of SPEC's test set (of its images where it has none), as one pool, for
  `--test-data`, which tests on all of them.

A validation pool of the source's own shrinks by the training pool's ratio. The draw is the same every time
(seed 0), so every run of the lab sees the same images.
"""

from __future__ import annotations

from dlbasic.data.dataset import stratified_subset
from dlbasic.data.sources import RawSource, _raw, require_path, sources
from dlbasic.errors import UserError

SEED = 0
EXAMPLE = "4000+1000:idx:data/fashion-mnist"


def parse_subset(arg: str) -> tuple[int | None, int | None, str]:
    """'4000+1000:idx:DIR' -> (4000, 1000, 'idx:DIR'); '4000:idx:DIR' -> (4000, None, 'idx:DIR');
    '+1000:idx:DIR' -> (None, 1000, 'idx:DIR')."""
    counts, sep, inner = arg.partition(":")
    train, plus, test = counts.partition("+")
    try:
        n_train, n_test = (int(train) if train or not plus else None), (int(test) if plus else None)
    except ValueError:
        raise UserError(f"subset:{arg}: the counts must be whole numbers", f"e.g. subset:{EXAMPLE}") from None
    if not sep or not inner.strip():
        raise UserError(f"subset:{arg} names no source after the counts", f"e.g. subset:{EXAMPLE}")
    if any(n is not None and n < 1 for n in (n_train, n_test)):
        raise UserError(f"subset:{arg}: the counts must be positive", f"e.g. subset:{EXAMPLE}")
    return n_train, n_test, inner


def _keep(pool, n: int):
    x, y = pool
    if n >= len(y):
        return pool
    rows = stratified_subset(y, n, SEED)
    return x[rows], y[rows]


@sources.register("subset")
def subset(arg: str | None = None) -> RawSource:
    """A stratified, seeded draw of a fixed number of another source's images (see the module docstring)."""
    n_train, n_test, inner = parse_subset(require_path("subset", arg, "count and a source", EXAMPLE))
    raw = _raw(inner, None)
    if "train" not in raw.pools:
        raise UserError(f"subset:{arg}: {inner} is not a labelled image classification source")
    pools = dict(raw.pools)
    size = len(pools["train"][1])
    if n_train is None:  # '+TEST': TEST images of its test set (else of its images), all for --test-data to use
        return RawSource({"train": _keep(pools["test" if "test" in pools else "train"], n_test)}, raw.classes)
    if "test" not in pools and n_test is not None:
        n_train += n_test
    elif n_test is not None:
        pools["test"] = _keep(pools["test"], n_test)
    pools["train"] = _keep(pools["train"], n_train)
    if "val" in pools:
        pools["val"] = _keep(pools["val"], max(1, round(len(pools["val"][1]) * min(1.0, n_train / size))))
    return RawSource(pools, raw.classes)
