"""Output folders and files: nothing the user had is replaced without `--overwrite`, and never too early.

Every folder dlbasic writes results into holds a marker file, `.dlbasic`, naming the command that
made it. The rules, for every command that writes (train, segment, detect, cv, compare, tune, lab,
eval/predict outputs):

- `check_dir` runs before anything else: a file where a folder should be, a folder dlbasic cannot
  write to, or an existing non-empty folder without `--overwrite` is refused in one line.
- `--overwrite` replaces only a folder that holds nothing but the marker and the names dlbasic writes
  (`foreign_entries`); a folder holding anything else, a user's file put into a run folder included, is
  refused in one line naming that entry.
- `open_dir` creates or replaces the folder; callers call it once the configuration is valid and
  the data is open, so a bad `--data` never costs the old run. A folder that holds nothing but the
  marker and `config.yaml` (a run that failed before its first step) is reused without `--overwrite`.
  `output_dir` goes further for training runs: when the run fails before writing any result, the
  new folder is removed and the old one it replaced is put back.
- Stale `.*.tmp` files of a killed atomic write are removed whenever a folder is opened.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from dlbasic.errors import UserError

MARKER = ".dlbasic"
# what a folder may hold and still be empty of results: a run that failed before its first step
_UNSTARTED = {MARKER, "config.yaml", "config.json"}
# the folders dlbasic writes into its folders: tensorboard logs (train), the lab's results, figures and cache
_KNOWN_DIRS = {"tensorboard", "results", "figures", "cache"}
# the files dlbasic writes into its folders: runs (train, segment/detect train), cv, compare, detect compare,
# optim-race, lab, segment predict's overlays and tune's default journal
_KNOWN_FILES = {
    "config.yaml",
    "config.json",
    "metrics.jsonl",
    "checkpoint.pt",
    "best.pt",
    "curves.png",
    "summary.json",
    "overlays.png",
    "cv.json",
    "cv.png",
    "compare.json",
    "compare.md",
    "compare.png",
    "report.html",
    "report.json",
    "journal.log",
    "race.png",
    "race.gif",
    "race.md",
    "race.json",
    # `dlbasic export` writes these next to the checkpoint, and eval its confusion matrices
    "best.onnx",
    "best.torchscript",
    "best.safetensors",
    "checkpoint.onnx",
    "checkpoint.torchscript",
    "checkpoint.safetensors",
    "confusion-train.png",
    "confusion-val.png",
    "confusion-test.png",
    "confusion-all.png",
}
_KNOWN = _KNOWN_FILES | _KNOWN_DIRS
# files named after the inputs, by the command the marker names: a mask per image, a picture per test image
_NAMED = {
    "segment predict": re.compile(r"[^/\\]+\.png"),
    "detect predict": re.compile(r"[^/\\]+\.png|predictions\.json"),
}


def _stale(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _entries(path: Path) -> set[str]:
    return {p.name for p in path.iterdir() if not _stale(p.name)}


def _command(path: Path) -> str | None:
    """The command named in the folder's marker ("made by dlbasic <command>"), None without a readable one."""
    try:
        text = (path / MARKER).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    return text.strip().removeprefix("made by dlbasic ").strip() or None


def foreign_entries(path: Path) -> list[str]:
    """The entries of a folder that dlbasic does not write (sorted): what `--overwrite` must never delete.

    dlbasic writes the names in `_KNOWN` (folders as folders, files as files), the marker and, in a folder
    the marker says `segment predict` or `detect predict` made, the image files named after the inputs.
    """
    named = _NAMED.get(_command(path) or "") if (path / MARKER).is_file() else None
    foreign = []
    for p in path.iterdir():
        name = p.name
        if _stale(name):
            continue
        if name in _KNOWN_DIRS:
            ok = p.is_dir()
        elif name in _KNOWN_FILES or name == MARKER:
            ok = p.is_file()
        else:
            ok = named is not None and named.fullmatch(name) is not None and p.is_file()
        if not ok:
            foreign.append(name)
    return sorted(foreign)


def made_by_dlbasic(path: Path) -> bool:
    """True for a folder dlbasic made: it holds the marker, or nothing but names dlbasic writes.

    This says whose folder it is (lab --resume continues only a lab folder); what `--overwrite` may delete
    is stricter: see `foreign_entries`, since the marker alone does not make a user's own file dlbasic's.
    """
    names = _entries(path)
    return MARKER in names or (bool(names) and not foreign_entries(path))


def is_unstarted(path: Path) -> bool:
    """True for a missing or empty folder, or one holding only the marker and config.yaml."""
    return not path.exists() or (path.is_dir() and _entries(path) <= _UNSTARTED)


def _writable_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists():
        p = p.parent
    return p


def check_dir(
    path: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    option: str = "--run-dir",
    what: str = "run folder",
) -> Path:
    """Refuse, before any work, an output folder that this run could not use or must not replace."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file, not a folder", f"choose another {option}")
    ancestor = _writable_ancestor(path)
    if not ancestor.is_dir():
        raise UserError(f"cannot create {path}: {ancestor} is a file", f"choose another {option}")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to {ancestor} (permission denied)", f"choose another {option}")
    if resume or is_unstarted(path):
        return path
    if not overwrite:
        raise UserError(
            f"{what} {path} already exists",
            f"pass --overwrite to replace it{', --resume to continue it' if what == 'run folder' else ''}"
            f", or choose another {option}",
        )
    foreign = foreign_entries(path)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise UserError(
            f"{path} holds files dlbasic did not write ({foreign[0]}{more}); "
            f"--overwrite only replaces folders dlbasic made",
            f"move {foreign[0]}{' and the others' if more else ''} out of it, or choose another {option}",
        )
    return path


def remove_stale_tmp(path: Path) -> None:
    """Delete temporary files left by an atomic write that was killed."""
    for p in path.iterdir():
        if _stale(p.name) and p.is_file():
            p.unlink(missing_ok=True)


def _open(path: Path, command: str, overwrite: bool, resume: bool, option: str, what: str) -> Path | None:
    """Create the folder; an old dlbasic folder it replaces is moved aside and its new path returned."""
    path = check_dir(path, overwrite=overwrite, resume=resume, option=option, what=what)
    old = None
    if path.exists() and not resume and not is_unstarted(path):
        old = path.with_name(f".{path.name}.replaced-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    try:
        path.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(path)
        marker = path / MARKER
        if not resume or not marker.exists():  # a reused unstarted folder now holds what `command` writes
            marker.write_text(f"made by dlbasic {command}\n")
    except OSError as e:
        if old is not None and not path.exists():
            os.replace(old, path)
        raise UserError(f"cannot write to {path} ({e.strerror})", f"choose another {option}") from None
    return old


def open_dir(
    path: str | Path,
    *,
    command: str,
    overwrite: bool = False,
    resume: bool = False,
    option: str = "--run-dir",
    what: str = "run folder",
) -> Path:
    """Create the folder (replacing an old dlbasic folder with `overwrite`); call once the work is known to start."""
    path = Path(path)
    old = _open(path, command, overwrite, resume, option, what)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return path


@contextlib.contextmanager
def output_dir(
    path: str | Path,
    *,
    command: str,
    overwrite: bool = False,
    resume: bool = False,
    option: str = "--run-dir",
    what: str = "run folder",
) -> Iterator[Path]:
    """`open_dir` for work that writes as it goes (training runs).

    If the work fails before writing any result, the new folder is removed again and an old folder
    it replaced is put back; the old folder is deleted only once the work has written a result or ended.
    """
    path = Path(path)
    existed = path.exists()
    old = _open(path, command, overwrite, resume, option, what)
    try:
        yield path
    except BaseException:
        if not resume and is_unstarted(path):
            if old is not None:
                shutil.rmtree(path, ignore_errors=True)
                os.replace(old, path)
                old = None
            elif not existed:
                shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def check_file(path: str | Path, *, overwrite: bool = False, option: str = "--out") -> Path:
    """Refuse an output file that exists (without `--overwrite`), is a folder, or whose folder is missing."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder, not a file", f"give a file name, e.g. {path / 'out.png'}")
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists", f"pass --overwrite to replace it, or choose another {option}")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise UserError(f"folder {parent} does not exist", f"create it first or choose another {option}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to {parent} (permission denied)", f"choose another {option}")
    return path


__all__ = [
    "MARKER",
    "check_dir",
    "check_file",
    "foreign_entries",
    "is_unstarted",
    "made_by_dlbasic",
    "open_dir",
    "output_dir",
    "remove_stale_tmp",
]
