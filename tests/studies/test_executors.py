"""The lab run in parallel (worker processes, Ray), resumably, with the numbers of the serial lab."""

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
from dlbasic.lab import Measurements, Study, Verdict, costs, executors, make_profile, registry, engine, runs, scheduler
from dlbasic.lab.engine import run_lab

# four fast structural studies (a few seconds each on one thread); cutmix-ratio draws random numbers
FAST = ("cutmix-ratio", "one-by-one", "inception", "conv-shapes")  # conv-shapes runs longest, so a stop finds it
LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+): (\S+) \((.*)\) in (\d+) s$")


def numbers(result: dict) -> dict:
    """A result without what depends on timing: figures, and keys naming seconds or times."""
    if isinstance(result, dict):
        return {k: numbers(v) for k, v in result.items() if k != "figures" and "seconds" not in k and "time" not in k}
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
    assert "in 2 worker processes" in lines[0], lines
    expected = report_numbers(serial_lab)
    got = report_numbers(root)
    assert got == {sid: expected[sid] for sid in FAST[:3]}
    for sid in FAST[:3]:  # the same figures, written by the main process
        png = f"figures/{sid}-0.png"
        assert (root / png).read_bytes() == (serial_lab / png).read_bytes()
    done = [LINE.match(line) for line in lines if LINE.match(line)]
    assert sorted(m.group(3) for m in done) == sorted(FAST[:3]) and [m.group(1) for m in done] == ["1", "2", "3"]
    assert any(line.startswith("running: ") and ", " in line and "left)" in line for line in lines), lines


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


def test_each_study_starts_from_the_same_random_state_and_threads(monkeypatch):
    monkeypatch.setitem(registry.studies._entries, RandomStudy.id, RandomStudy)
    profile, before = make_profile(), torch.get_num_threads()
    try:
        first = executors.run_unit(RandomStudy.id, profile, None, 1)
        torch.rand(5), random.random(), np.random.rand()  # what an earlier study would leave behind
        torch.set_num_threads(2)
        again = executors.run_unit(RandomStudy.id, profile, None, 1)
    finally:
        torch.set_num_threads(before)
    assert first["numbers"] == again["numbers"] and again["numbers"]["threads"] == 1


class Recorder:
    """An executor that runs nothing: records the order of submission and returns canned results."""

    name, slots = "a recorder", 2

    def __init__(self, fail: str | None = None):
        self.order, self.fail = [], fail

    def submit(self, sid):
        self.order.append(sid)
        future = Future()
        if sid == self.fail:
            future.set_result(executors.error_result(sid, RuntimeError("boom"), "Traceback: boom\n", 0.5))
        else:
            future.set_result(
                {
                    "id": sid,
                    "verdict": "supported",
                    "key_number": f"{sid} holds",
                    "reason": "r",
                    "numbers": {"x": 1},
                    "figures": [],
                    "seeds": [],
                    "seconds": 1.0,
                }
            )
        return future

    def close(self, cancel=False):
        self.closed = cancel


def test_longest_studies_start_first_by_saved_durations_else_estimates(tmp_path, monkeypatch):
    root = tmp_path / "lab"
    (root / "results").mkdir(parents=True)
    saved = {"one-by-one": 500.0, "inception": 50.0, "cutmix-ratio": 5.0}  # an earlier run of this folder
    for sid, seconds in saved.items():
        (root / "results" / f"{sid}.json").write_text(
            json.dumps({"id": sid, "verdict": "supported", "seconds": seconds})
        )
    (root / "results" / "bottleneck.json").write_text("{broken")
    assert runner.saved_durations(root) == saved
    recorder = Recorder()
    monkeypatch.setattr(runner, "make_executor", lambda *args: recorder)
    lines = []
    run_lab(root, make_profile(), "cutmix-ratio,one-by-one,inception,bottleneck,resnet", jobs=2, echo=lines.append)
    # resnet has no saved duration: its built-in estimate puts it between one-by-one and inception; bottleneck's
    # saved result is unreadable: its estimate (4 s) puts it last
    assert recorder.order == ["one-by-one", "resnet", "inception", "cutmix-ratio", "bottleneck"]
    assert saved["inception"] < executors.ESTIMATES["resnet"] < saved["one-by-one"]
    assert executors.ESTIMATES["bottleneck"] < saved["cutmix-ratio"]
    assert lines[1] == "running: one-by-one, resnet (about 8 min left)", lines
    # durations passed in (lab.py reads them before --overwrite moves the old folder away) count as saved
    order = executors.longest_first(
        ["a", "b", "c"], executors.estimates(["a", "b", "c"], make_profile(), {"a": 1.0, "c": 9.0})
    )
    assert order == ["b", "c", "a"]  # b: DEFAULT_ESTIMATE
    assert executors.eta({"a": 0.0}, ["b", "c"], {"a": 10, "b": 4, "c": 4}, 2, now=2.0) == 8.0


def test_estimates_scale_with_the_pixels_of_the_labs_data(tmp_path, monkeypatch):
    """A study that trains on its own 8x8 digits by default costs more on --data mnist5k in proportion to the
    training pixels (3,600 x 28 x 28 against 1,295 x 8 x 8); a study on fixed data, or on mnist5k already,
    does not change; the first line of the lab says so."""
    from dlbasic.data import load

    ids = ["resnet", "dropout", "inception"]
    quick = make_profile()
    other = make_profile(data="mnist5k")
    assert executors.data_factors(ids, quick) == {}
    assert executors.data_factors(ids, make_profile(data=f"idx:{tmp_path / 'elsewhere'}")) == {}  # not here
    factors = executors.data_factors(ids, other)
    digits, mnist = load("digits", "train"), load("mnist5k", "train")
    assert (len(digits), len(mnist)) == (1295, 3600)
    assert factors == {"resnet": pytest.approx(3600 * 784 / (1295 * 64))}
    plain, scaled = executors.estimates(ids, quick), executors.estimates(ids, other, {}, factors)
    assert scaled["resnet"] == pytest.approx(plain["resnet"] * 3600 * 784 / (1295 * 64))
    assert scaled["dropout"] == plain["dropout"] and scaled["inception"] == plain["inception"]
    full = executors.estimates(ids, make_profile("full"))  # measured in a full lab, not scaled from the quick one
    assert full == {sid: executors.FULL_ESTIMATES[sid] for sid in ids} and full["resnet"] > 3 * plain["resnet"]
    recorder = Recorder()
    monkeypatch.setattr(runner, "make_executor", lambda *args: recorder)
    lines = []
    run_lab(tmp_path / "lab", other, "resnet", echo=lines.append)
    about = executors.duration(scaled["resnet"])
    assert lines[0] == f"1 of 1 study to run in {recorder.name} (about {about})" and about != executors.duration(
        plain["resnet"]
    )


def test_a_failing_study_is_one_line_the_lab_goes_on_and_resume_retries_it(tmp_path, monkeypatch, capsys):
    root = tmp_path / "lab"
    recorder = Recorder(fail="inception")
    monkeypatch.setattr(runner, "make_executor", lambda *args: recorder)
    results = run_lab(root, make_profile(), "one-by-one,inception,bottleneck", jobs=2)
    out, err = capsys.readouterr()
    assert any(
        re.fullmatch(r"\[\d/3\] inception: error \(RuntimeError: boom\) in 0 s", line) for line in out.splitlines()
    ), out
    assert "Traceback: boom" in err and "Traceback" not in out
    assert [r["verdict"] for r in results] == ["supported", "error", "supported"]
    assert not (root / "results" / "inception.json").exists()
    assert json.loads((root / "report.json").read_text())["results"][1]["verdict"] == "error"
    recorder.order.clear()
    run_lab(root, make_profile(), "one-by-one,inception,bottleneck", resume=True)
    assert recorder.order == ["inception"]


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
    assert f"stopped: {len(kept)} of 4 studies saved" in stdout and "--resume runs the other" in stdout, stdout
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
    assert "Ray (local instance), 2 at a time" in lines[0], lines
    assert not ray.is_initialized()  # the instance the lab started is shut down
    expected = report_numbers(serial_lab)
    assert report_numbers(root) == {sid: expected[sid] for sid in FAST[:2]}
    assert os.listdir(root / "figures")
