"""The code blocks of the documentation, found and run: what keeps every example of the guides true.

A page's fenced ```python blocks run in order in one fresh namespace, and its ```bash blocks run each
`dlbasic ...` line through the CLI's `main()` in the same process, all in a working folder of the page's
own. A block that must not run is preceded by an HTML comment that says why:

    <!-- norun: installs packages -->
    ```bash
    pip install -e ".[docs]"
    ```

A bash block that runs holds only `dlbasic` commands (a `\\` continues a line, `#` starts a comment).
`<!-- output -->` right after a block stands for what the block printed: the site shows the real output
(`<!-- output: 5 -->` its first 5 lines, `<!-- output: -2 -->` its last 2).

The test suite (tests/test_docs.py) and the site build (docs/hooks/site.py) both run them; this module
needs neither MkDocs nor pytest.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)(?P<attrs>[^\n]*)\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.M | re.S,
)
NORUN = re.compile(r"<!--\s*norun\b:?\s*(?P<reason>.*?)\s*-->\s*$", re.S)
OUTPUT = re.compile(r"\s*<!--\s*output\s*(?::\s*(?P<lines>-?\d+))?\s*-->")
RUNNABLE = ("python", "bash")
IMAGE = re.compile(r"!\[[^\]]*\]\((?P<path>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass
class Block:
    """One fenced code block of a page."""

    lang: str
    code: str
    line: int  # where the fence opens, 1-based
    start: int  # offsets of the whole block (fence lines included) in the page's text
    end: int
    norun: str | None  # the reason given by a `<!-- norun: ... -->` marker, or None
    output: int | None  # `<!-- output: N -->` follows: show the first N lines (-N: the last N; 0: all), else None
    output_span: tuple[int, int] | None  # where that marker is

    @property
    def runs(self) -> bool:
        return self.lang in RUNNABLE and self.norun is None


@dataclass
class Result:
    block: Block
    output: str  # what the block printed on stdout
    seconds: float


class ExampleError(Exception):
    """A documentation example that failed; the message names the page, the line and what went wrong."""


def extract(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order."""
    blocks = []
    for m in FENCE.finditer(text):
        indent = len(m["indent"])
        body = "".join(line[indent:] if line[:indent].strip() == "" else line for line in m["body"].splitlines(True))
        before = text[: m.start()].rstrip()
        marker = NORUN.search(before[before.rfind("\n") + 1 :]) if before else None
        after = OUTPUT.match(text, m.end())
        blocks.append(
            Block(
                lang=m["lang"].lower(),
                code=body,
                line=text.count("\n", 0, m.start()) + 1,
                start=m.start(),
                end=m.end(),
                norun=marker["reason"] or "marked" if marker else None,
                output=int(after["lines"] or 0) if after else None,
                output_span=after.span() if after else None,
            )
        )
    return blocks


def images(text: str) -> list[str]:
    """The relative image paths a page shows (`![caption](path)`), in order."""
    return [m["path"] for m in IMAGE.finditer(text) if "://" not in m["path"] and not m["path"].startswith("/")]


def commands(code: str) -> list[list[str]]:
    """The commands of a bash block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n", " ", code)
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


def check_block(block: Block, page: str) -> None:
    """A runnable bash block holds only dlbasic commands; anything else must carry a norun marker."""
    if block.lang == "bash" and block.norun is None:
        for argv in commands(block.code):
            if argv[0] != "dlbasic":
                raise ExampleError(
                    f"{page}:{block.line}: a bash block that runs holds only `dlbasic` commands, got "
                    f"{shlex.join(argv)!r}; mark the block <!-- norun: why --> if it must not run"
                )


@contextlib.contextmanager
def _workdir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _run_python(block: Block, namespace: dict, page: str) -> str:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            # padded so that a traceback gives line numbers of the page
            exec(compile("\n" * block.line + block.code, page, "exec"), namespace)
    except Exception as e:
        raise ExampleError(f"{page}:{block.line}: the python block failed:\n{traceback.format_exc()}") from e
    return out.getvalue()


def _run_bash(block: Block, page: str) -> str:
    from dlbasic.cli import main

    out = io.StringIO()
    for argv in commands(block.code):
        err = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv[1:])
        except SystemExit as e:  # argparse's own exits
            code = e.code if isinstance(e.code, int) else 2
        except Exception as e:
            raise ExampleError(f"{page}:{block.line}: `{shlex.join(argv)}` failed:\n{traceback.format_exc()}") from e
        if code != 0:
            raise ExampleError(
                f"{page}:{block.line}: `{shlex.join(argv)}` exited with {code}:\n{err.getvalue()[-2000:]}"
            )
    return out.getvalue()


def run_page(text: str, workdir: Path, page: str = "page") -> list[Result]:
    """Run the runnable blocks of one page in order, in `workdir`, in one fresh namespace.

    Raises `ExampleError` at the first block that fails. Matplotlib draws off screen and torch computes on one
    thread; the thread count and the working folder are restored afterwards.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    blocks = extract(text)
    for block in blocks:
        check_block(block, page)
    namespace: dict = {"__name__": "__main__"}
    results = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small examples gain nothing from more, and a busy machine makes them costly
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with _workdir(workdir):
            for block in blocks:
                if not block.runs:
                    continue
                t0 = time.perf_counter()
                if block.lang == "python":
                    output = _run_python(block, namespace, page)
                else:
                    output = _run_bash(block, page)
                results.append(Result(block, output, time.perf_counter() - t0))
    finally:
        plt.close("all")
        torch.set_num_threads(threads)
    return results


def shown_output(result: Result) -> str:
    """The text a page shows for `<!-- output -->`: the block's output, cut to the lines asked for."""
    lines = result.output.rstrip("\n").splitlines()
    limit = result.block.output or 0
    if limit > 0 and len(lines) > limit:
        lines = [*lines[:limit], "..."]
    elif limit < 0 and len(lines) > -limit:
        lines = ["...", *lines[limit:]]
    return "\n".join(lines)
