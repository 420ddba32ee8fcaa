"""The lab's engine: runs shared, staged, cached and scheduled over worker processes or Ray, resumably, with the
numbers of the serial lab."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import torch

from dlbasic.cli import main
from dlbasic.lab import Measurements, Run, Study, Verdict, costs, engine, make_profile, registry, runs
from dlbasic.lab.context import LabContext, budget
from dlbasic.lab.engine import run_lab

# four fast structural studies (a few seconds each on one thread); cutmix-ratio draws random numbers
FAST = ("cutmix-ratio", "one-by-one", "inception", "conv-shapes")  # conv-shapes runs longest, so a stop finds it
LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+): (\S+) \((.*)\) in (\d+) s, (\d+) runs?$")


def numbers(result: dict) -> dict:
    """A result without what depends on timing: figures, and keys naming seconds or times."""
    if isinstance(result, dict):
        return {
            k: numbers(v)
            for k, v in result.items()
            if k not in ("figures", "runs") and "seconds" not in k and "time" not in k
        }
    if isinstance(result, list):
        return [numbers(v) for v in result]
    return result


def report_numbers(root: Path) -> dict[str, dict]:
    return {r["id"]: numbers(r) for r in json.loads((root / "report.json").read_text())["results"]}


@pytest.fixture(scope="module")
def serial_lab(tmp_path_factory) -> Path:
    """The four fast studies, one after another in this process: the numbers every other way must give."""
    root = tmp_path_factory.mktemp("serial") / "lab"
    run_lab(root, make_profile(), ",".join(FAST), jobs=1, threads=1, echo=lambda line: None)
    return root


def test_worker_processes_give_the_numbers_of_the_serial_lab(tmp_path, serial_lab):
    root, lines = tmp_path / "lab", []
    run_lab(root, make_profile(), ",".join(FAST[:3]), jobs=2, threads=1, echo=lines.append)
    expected = report_numbers(serial_lab)
    got = report_numbers(root)
    assert got == {sid: expected[sid] for sid in FAST[:3]}
    for sid in FAST[:3]:  # the same figures, written by the main process
        png = f"figures/{sid}-0.png"
        assert (root / png).read_bytes() == (serial_lab / png).read_bytes()
    done = [LINE.match(line) for line in lines if LINE.match(line)]
    assert sorted(m.group(3) for m in done) == sorted(FAST[:3]) and [m.group(1) for m in done] == ["1", "2", "3"]
    assert re.fullmatch(
        r"3 runs for 3 studies, 3 to compute in 2 worker processes, longest first \(about \d+ s\)", lines[0]
    )


class RandomStudy(Study):
    """Draws from the global generators without seeding them: only the lab's reset makes it repeatable."""

    id, section, claim, note, method, rule = "test-random", "test", "c", "n", "m", "r"

    def measure(self, ctx):
        return Measurements(
            {
                "torch": torch.rand(3).tolist(),
                "python": random.random(),
                "numpy": float(np.random.rand()),
                "threads": torch.get_num_threads(),
            }
        )

    def judge(self, numbers):
        return Verdict("supported", "k", "r")


def test_each_run_starts_from_the_same_random_state_and_threads(monkeypatch):
    monkeypatch.setitem(registry.studies._entries, RandomStudy.id, RandomStudy)
    profile, before = make_profile(), torch.get_num_threads()
    run = RandomStudy().plan(LabContext(profile), {})[0]
    try:
        first = runs.execute(run, profile, None, 1)
        torch.rand(5), random.random(), np.random.rand()  # what an earlier run would leave behind
        torch.set_num_threads(2)
        again = runs.execute(run, profile, None, 1)
    finally:
        torch.set_num_threads(before)
    assert first["value"] == again["value"] and again["value"]["numbers"]["threads"] == 1


# ---------------------------------------------------------------------------------------------------------
# studies that declare runs: module-level run functions, computed by an executor that records what it is given

CALLS: list[str] = []


def power(ctx, base: int, exponent: int = 2) -> dict:
    """A run: base ** exponent (and the profile's first seed, to show a run sees its profile)."""
    return {"value": base**exponent, "seed": ctx.seeds[0]}


def broken(ctx, attempts: list) -> dict:
    raise RuntimeError("boom")


class Squares(Study):
    """Asks for the squares of 1..3 (the square of 2 is also Cubes' run), then, in a second stage, of 4 when the
    first three sum to less than 20: a staged plan."""

    id, section, claim, note, method, rule = "test-squares", "test", "c", "n", "m", "r"
    trains_on = None

    def plan(self, ctx, results):
        if not results:
            return [Run(f"sq{b}", f"{__name__}:power", {"base": b}, cost=b) for b in (1, 2, 3)]
        if "sq4" not in results and sum(r["value"] for r in results.values()) < 20:
            return [Run("sq4", f"{__name__}:power", {"base": 4}, cost=1)]
        return []

    def collect(self, ctx, results):
        return Measurements({"squares": [results[k]["value"] for k in sorted(results)]})

    def judge(self, numbers):
        return Verdict("supported", f"sum {sum(numbers['squares'])}", "r")


class Cubes(Study):
    id, section, claim, note, method, rule = "test-cubes", "test", "c", "n", "m", "r"
    trains_on = None

    def plan(self, ctx, results):
        if results:
            return []
        return [
            Run("two-squared", f"{__name__}:power", {"base": 2}, cost=2),  # the same run as Squares' sq2
            Run("cube", f"{__name__}:power", {"base": 3, "exponent": 3}, cost=9),
        ]

    def collect(self, ctx, results):
        return Measurements({"cube": results["cube"]["value"], "square": results["two-squared"]["value"]})

    def judge(self, numbers):
        return Verdict("supported", f"{numbers['cube']}", "r")


class Broken(Cubes):
    id = "test-broken"

    def plan(self, ctx, results):
        return [] if results else [Run("bad", f"{__name__}:broken", {"attempts": []}, cost=100)]


class Recorder:
    """An executor that computes each run here, as the serial lab does, recording the runs it was given."""

    name, slots = "a recorder", 2

    def __init__(self):
        self.runs: list[Run] = []
        self.closed = None

    def submit(self, run):
        self.runs.append(run)
        future = Future()
        future.set_result(runs.execute(run, make_profile(), None, 1))
        return future

    def close(self, cancel=False):
        self.closed = cancel


@pytest.fixture
def fake_studies(monkeypatch):
    for cls in (Squares, Cubes, Broken):
        monkeypatch.setitem(registry.studies._entries, cls.id, cls)
    recorder = Recorder()
    monkeypatch.setattr(engine, "make_executor", lambda *args: recorder)
    return recorder


def test_a_run_two_studies_declare_is_computed_once_and_both_get_its_value(tmp_path, fake_studies):
    lines = []
    results = run_lab(tmp_path / "lab", make_profile(), "test-squares,test-cubes", echo=lines.append)
    computed = [(r.fn.split(":")[1], r.args) for r in fake_studies.runs]
    assert sorted(computed, key=str) == sorted(
        [("power", {"base": b}) for b in (1, 2, 3, 4)] + [("power", {"base": 3, "exponent": 3})], key=str
    )
    by_id = {r["id"]: r for r in results}
    assert by_id["test-squares"]["numbers"] == {"squares": [1, 4, 9, 16]}
    assert by_id["test-cubes"]["numbers"] == {"cube": 27, "square": 4}
    # each study's runs in report.json: planned, computed for it here (a shared run counts for the study that
    # asked first: test-cubes, planned first by name), read from the cache, shared, stages
    used = {sid: {k: v for k, v in r["runs"].items() if k != "seconds_by_stage"} for sid, r in by_id.items()}
    assert used["test-squares"] == {"planned": 4, "computed": 3, "cached": 0, "shared": 1, "stages": 2}
    assert used["test-cubes"] == {"planned": 2, "computed": 2, "cached": 0, "shared": 1, "stages": 1}
    assert [len(stage) for stage in by_id["test-squares"]["runs"]["seconds_by_stage"]] == [3, 1]
    assert lines[0].startswith("5 runs for 2 studies, 4 to compute in a recorder, longest first")
    assert "test-squares: stage 2, 1 more run" in lines


def test_runs_go_longest_first_by_their_declared_costs(tmp_path, fake_studies):
    run_lab(tmp_path / "lab", make_profile(), "test-squares,test-cubes")
    first_stage = [(r.args["base"], r.args.get("exponent", 2)) for r in fake_studies.runs[:4]]
    assert first_stage == [(3, 3), (3, 2), (2, 2), (1, 2)]  # costs 9, 3, 2, 1; then stage 2's (4, 2)


def test_a_finished_run_is_never_computed_again_in_the_same_lab_folder(tmp_path, fake_studies):
    root = tmp_path / "lab"
    first = run_lab(root, make_profile(), "test-squares,test-cubes")
    assert len(list((root / "runs").glob("*.json"))) == 5
    fake_studies.runs.clear()
    again = run_lab(root, make_profile(), "test-squares,test-cubes")
    assert fake_studies.runs == []
    # in the order of the lab (test-cubes first): the shared run is read once, for test-cubes, which asks first
    assert [(r["id"], r["runs"]["cached"]) for r in again] == [("test-cubes", 2), ("test-squares", 3)]
    assert [numbers(r) for r in again] == [numbers(r) for r in first]
    # another profile (seeds) is another key: computed anew
    run_lab(root, make_profile(seed=100), "test-cubes")
    assert [r.args for r in fake_studies.runs] == [{"base": 3, "exponent": 3}, {"base": 2}]


def test_a_damaged_saved_run_is_reported_and_computed_again(tmp_path, fake_studies, capsys):
    root = tmp_path / "lab"
    run_lab(root, make_profile(), "test-cubes", echo=lambda line: None)
    saved = sorted((root / "runs").glob("*.json"))
    saved[0].write_text('{"key": "not this one"')
    capsys.readouterr()
    fake_studies.runs.clear()
    results = run_lab(root, make_profile(), "test-cubes", echo=lambda line: None)
    assert len(fake_studies.runs) == 1 and results[0]["numbers"] == {"cube": 27, "square": 4}
    assert f"cannot read saved run {saved[0]}" in capsys.readouterr().err


def test_a_failing_run_is_retried_once_then_its_study_is_one_line_and_the_others_go_on(tmp_path, fake_studies, capsys):
    root = tmp_path / "lab"
    results = run_lab(root, make_profile(), "test-cubes,test-broken", jobs=2)
    out, err = capsys.readouterr()
    assert [r.name for r in fake_studies.runs].count("bad") == 2
    assert [(r["id"], r["verdict"]) for r in results] == [("test-broken", "error"), ("test-cubes", "supported")]
    assert results[0]["reason"] == "run bad failed twice: RuntimeError: boom"
    assert re.search(
        r"^\[\d/2\] test-broken: error \(run bad failed twice: RuntimeError: boom\) in 0 s, 1 run$", out, re.M
    )
    assert "RuntimeError: boom" in err and "Traceback" not in out
    assert not (root / "results" / "test-broken.json").exists()
    fake_studies.runs.clear()
    run_lab(root, make_profile(), "test-cubes,test-broken", resume=True)
    assert [r.name for r in fake_studies.runs] == ["bad", "bad"]  # only the failed run is computed again


def test_costs_follow_the_profile_the_labs_data_and_what_the_lab_measures(tmp_path):
    """A run that trains on its study's 8x8 digits costs more on --data mnist5k by the pixels of an image
    (28 x 28 against 8 x 8, to the measured power): the number of images is fixed (`LabContext.data`); a run on
    fixed data does not change; measured durations rescale the runs of the same function."""
    study = type("OnDigits", (), {"id": "resnet", "trains_on": "digits"})()  # a study on the 8x8 digits
    run = Run("r", "m:f", {}, cost=10.0)
    fixed = Run("f", "m:g", {}, cost=10.0, trains=False)
    quick, other = costs.Costs(make_profile()), costs.Costs(make_profile(data="mnist5k"))
    assert quick.declared(study, run) == 10.0 and other.declared(study, fixed) == 10.0
    assert other.declared(study, run) == pytest.approx(10.0 * (784 / 64) ** costs.DATA_EXPONENT)
    assert costs.Costs(make_profile("full")).declared(study, run) == pytest.approx(30.0)
    assert costs.Costs(make_profile(data=f"idx:{tmp_path / 'elsewhere'}")).declared(study, run) == 10.0  # not here
    quick.measured(study, run, 20.0)  # took twice what was expected
    assert quick.expected(study, run) == pytest.approx(20.0)
    assert quick.expected(study, Run("o", "m:other", {}, cost=3.0)) == pytest.approx(6.0)  # all runs' ratio
    assert costs.eta([5.0], [4.0, 4.0], 2) == 8.0


def get_study_of(sid):
    return registry.get_study(sid)


def test_lab_data_keeps_the_default_datas_budget():
    """`--data` changes which images a study sees, not how many: the default's training pool and test split
    are drawn, stratified, from the lab's data."""
    from dlbasic.data import load

    assert budget("mnist5k") == (4000, 1000)
    ctx = LabContext(make_profile(data="digits"))
    assert ctx.data("digits") == "digits"  # the default itself
    spec = ctx.data("mnist5k")
    assert spec == "subset:4000+1000:digits"
    sizes = [len(load(spec, split)) for split in ("train", "val", "test")]
    assert sum(sizes) == 1797  # fewer images than the budget: all of them
    assert LabContext(make_profile()).data("digits") == "digits"


def test_subset_source_draws_fixed_stratified_counts(tmp_path):
    from dlbasic.data import load
    from dlbasic.errors import UserError

    train, val, test = (load("subset:500+200:mnist5k", s) for s in ("train", "val", "test"))
    assert (len(train) + len(val), len(test)) == (560, 140)  # no test set of its own: 700, then 20 % held out
    pool = torch.bincount(train.labels, minlength=10) + torch.bincount(val.labels, minlength=10)
    assert pool.tolist() == [56] * 10 and torch.bincount(test.labels).tolist() == [14] * 10  # 70 of each class
    again = load("subset:500+200:mnist5k", "train")
    assert torch.equal(again.pixels[again.rows], train.pixels[train.rows])  # the same draw every time
    for spec, message in [
        ("subset:x:mnist5k", "the counts must be whole numbers"),
        ("subset:10", "names no source after the counts"),
        ("subset:0+5:mnist5k", "the counts must be positive"),
    ]:
        with pytest.raises(UserError, match=message):
            load(spec, "train")


def test_longest_run_is_a_small_share_of_the_lab():
    """Scale: every study's runs, as declared, are short beside the whole lab (at most 5 % of the sum), so many
    workers make the lab faster. Declared costs are measured seconds (costs.py, each study's `cost`)."""
    ctx = LabContext(make_profile())
    planned = []
    for sid in registry.list_studies():
        study = registry.get_study(sid)
        planned += [costs.Costs(ctx.profile).declared(study, r) for r in study.plan(ctx, {})]
    assert max(planned) <= 0.05 * sum(planned)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker processes in /proc")
def test_a_stopped_lab_keeps_its_finished_studies_and_resume_runs_only_the_rest(tmp_path, serial_lab, capsys):
    out = tmp_path / "lab"
    code = "import sys; from dlbasic.cli import main; sys.exit(main())"
    lab = subprocess.Popen(
        [sys.executable, "-c", code, "lab", "--only", ",".join(FAST), "--jobs", "2", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not list((out / "results").glob("*.json")) and lab.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = children(lab.pid)
        lab.send_signal(signal.SIGTERM)
        stdout, stderr = lab.communicate(timeout=60)
    finally:
        if lab.poll() is None:
            lab.kill()
    assert lab.returncode == 130 and "dlbasic lab: interrupted" in stderr, (stdout, stderr)
    kept = sorted(p.stem for p in (out / "results").glob("*.json"))
    assert 1 <= len(kept) < len(FAST), stdout
    assert f"stopped: {len(kept)} of 4 studies saved" in stdout and "--resume computes only the rest" in stdout, stdout
    deadline = time.monotonic() + 15  # the workers stop with the lab (they are told, then they exit)
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers and not any(alive(pid) for pid in workers)
    assert not (out / "report.json").exists()

    capsys.readouterr()
    assert main(["lab", "--only", ",".join(FAST), "--out", str(out), "--resume", "--jobs", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    before = sorted(line.split()[1].rstrip(":") for line in lines if "done before" in line)
    ran = sorted(m.group(3) for m in map(LINE.match, lines) if m)
    assert before == kept and ran == sorted(set(FAST) - set(kept)), lines
    assert report_numbers(out) == report_numbers(serial_lab)


def test_ray_executor_without_ray_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "lab"
    assert main(["lab", "--only", "one-by-one", "--executor", "ray", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dlbasic lab: error: --executor ray needs Ray: pip install 'dlbasic[ray]'"]
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--jobs", "0"], "--jobs must be at least 1, got 0"),
        (["--address", "head:6379"], "--address names a Ray cluster (pass --executor ray with it)"),
    ],
)
def test_lab_refuses_bad_executor_options(tmp_path, capsys, argv, expected):
    assert main(["lab", "--only", "one-by-one", "--out", str(tmp_path / "lab"), *argv]) == 2
    assert capsys.readouterr().err.strip() == f"dlbasic lab: error: {expected}"


@pytest.mark.slow
def test_ray_local_instance_gives_the_numbers_of_the_serial_lab(tmp_path, serial_lab):
    ray = pytest.importorskip("ray")
    root, lines = tmp_path / "lab", []
    run_lab(root, make_profile(), ",".join(FAST[:2]), jobs=2, threads=1, executor="ray", echo=lines.append)
    assert "in Ray (local instance), 2 at a time" in lines[0], lines
    assert not ray.is_initialized()  # the instance the lab started is shut down
    expected = report_numbers(serial_lab)
    assert report_numbers(root) == {sid: expected[sid] for sid in FAST[:2]}
    assert os.listdir(root / "figures")


@pytest.mark.slow
def test_ray_cluster_losing_a_worker_node_mid_lab_gives_the_report_of_the_serial_lab(tmp_path):
    """Three nodes on this machine (a head and two workers, one CPU each); a worker node is removed while the
    lab's runs are running on it: Ray runs its tasks again elsewhere, and the report is the serial lab's. The
    studies include two that share runs and go in stages (learning-rate and gd-variants)."""
    import threading

    pytest.importorskip("ray")
    import ray
    from ray.cluster_utils import Cluster

    only = ",".join((*FAST, "learning-rate", "gd-variants"))
    serial = tmp_path / "serial"
    run_lab(serial, make_profile(), only, jobs=1, threads=1, echo=lambda line: None)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    root, lines, killed, unfinished = tmp_path / "lab", [], threading.Event(), []

    def kill_when_running() -> None:
        deadline = time.monotonic() + 120
        while not lines and time.monotonic() < deadline:  # the first line: the runs are submitted
            time.sleep(0.05)
        time.sleep(1.0)  # let a worker start its run
        cluster.remove_node(workers[0])
        unfinished.extend(set(only.split(",")) - {p.stem for p in (root / "results").glob("*.json")})
        killed.set()

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    try:
        run_lab(root, make_profile(), only, jobs=None, threads=1, executor="ray", echo=lines.append)
    finally:
        killer.join()
        ray.shutdown()
        cluster.shutdown()
    assert killed.is_set() and unfinished, lines  # the node went while studies were running
    assert "in Ray (the connected instance), 3 at a time" in lines[0], lines
    assert report_numbers(root) == report_numbers(serial)
    shared = {r["id"]: r["runs"]["shared"] for r in json.loads((root / "report.json").read_text())["results"]}
    assert shared["learning-rate"] > 0 and shared["gd-variants"] > 0


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pins cores with sched_setaffinity")
def test_workers_get_cores_and_gpus_of_their_own(monkeypatch):
    import multiprocessing

    from dlbasic.lab import executors

    cores = sorted(os.sched_getaffinity(0))
    pinned = []
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, mine: pinned.append(sorted(mine)))
    assert executors.pin(1, 1, len(cores)) == [cores[1 % len(cores)]] and pinned == [[cores[1 % len(cores)]]]
    assert executors.pin(0, 1, len(cores) + 1) is None  # more workers than cores: left to the system
    counter = multiprocessing.get_context("spawn").Value("i", 0)
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    monkeypatch.setattr(executors.threading, "Thread", lambda **kwargs: type("T", (), {"start": lambda self: None})())
    seen = []
    for _ in range(3):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
        executors._worker_init(os.getpid(), counter, 1, 2, 2)
        seen.append(os.environ["CUDA_VISIBLE_DEVICES"])
    assert seen == ["3", "5", "3"]  # round robin over the GPUs this process may use


def test_lab_test_data_is_each_studys_test_source_at_its_test_budget(tmp_path, capsys):
    from dlbasic.training.run import load_data

    ctx = LabContext(make_profile(data="digits", test_data="digits"))
    cfg = ctx.config(data=ctx.data("mnist5k"))
    assert (cfg.data, cfg.test_data) == ("subset:4000+1000:digits", "subset:+1000:digits")
    cfg = ctx.config(data=ctx.data("digits"))  # the study's own default: its own test budget
    assert (cfg.data, cfg.test_data) == ("digits", "subset:+359:digits")
    test = load_data(cfg).test
    assert len(test) == 359 and test.info["test"] == "all images of subset:+359:digits"
    assert LabContext(make_profile()).config().test_data is None
    assert main(["lab", "--only", "one-by-one", "--test-data", "digits", "--out", str(tmp_path / "lab")]) == 2
    assert "--test-data needs --data" in capsys.readouterr().err
