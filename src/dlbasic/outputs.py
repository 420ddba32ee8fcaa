"""Output folders and files: nothing the user had is replaced without `--overwrite`, and never too early.

Every folder dlbasic writes results into holds a marker file, `.dlbasic`, naming the command that
made it. The rules, for every command that writes (train, segment, detect, cv, compare, tune, lab,
eval/predict outputs):

- `check_dir` runs before anything else: a file where a folder should be, a folder dlbasic cannot
  write to, or an existing non-empty folder without `--overwrite` is refused in one line.
- `--overwrite` replaces only a folder dlbasic made (the marker, or nothing but the files dlbasic
  writes); a folder holding anything else is refused.
- `open_dir` creates or replaces the folder; callers call it once the configuration is valid and
  the data is open, so a bad `--data` never costs the old run. A folder that holds nothing but the
  marker and `config.yaml` (a run that failed before its first step) is reused without `--overwrite`,
  and `output_dir` removes such a folder again when the run fails before writing anything.
- Stale `.*.tmp` files of a killed atomic write are removed whenever a folder is opened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from dlbasic.errors import UserError

MARKER = ".dlbasic"
# what a folder may hold and still be empty of results: a run that failed before its first step
_UNSTARTED = {MARKER, "config.yaml", "config.json"}
# the names dlbasic writes into its folders (for folders made before the marker existed)
_KNOWN = {
    "config.yaml", "config.json", "metrics.jsonl", "checkpoint.pt", "best.pt", "curves.png", "summary.json",
    "tensorboard", "overlays.png", "cv.json", "cv.png", "compare.json", "compare.md", "compare.png", "report.html",
    "report.json", "results", "figures", "cache", "journal.log", "race.png", "race.gif", "race.md", "race.json",
}


def _stale(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _entries(path: Path) -> set[str]:
    return {p.name for p in path.iterdir() if not _stale(p.name)}


def made_by_dlbasic(path: Path) -> bool:
    """True for a folder dlbasic wrote: it holds the marker, or nothing but names dlbasic writes."""
    names = _entries(path)
    return MARKER in names or (bool(names) and names <= _KNOWN)


def is_unstarted(path: Path) -> bool:
    """True for a missing or empty folder, or one holding only the marker and config.yaml."""
    return not path.exists() or (path.is_dir() and _entries(path) <= _UNSTARTED)


def _writable_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists():
        p = p.parent
    return p


def check_dir(path: str | Path, *, overwrite: bool = False, resume: bool = False, option: str = "--run-dir",
              what: str = "run folder") -> Path:
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
        raise UserError(f"{what} {path} already exists",
                        f"pass --overwrite to replace it{', --resume to continue it' if what == 'run folder' else ''}"
                        f", or choose another {option}")
    if not made_by_dlbasic(path):
        raise UserError(f"{path} holds files dlbasic did not write; --overwrite only replaces folders dlbasic made",
                        f"move those files or choose another {option}")
    return path


def remove_stale_tmp(path: Path) -> None:
    """Delete temporary files left by an atomic write that was killed."""
    for p in path.iterdir():
        if _stale(p.name) and p.is_file():
            p.unlink(missing_ok=True)


def open_dir(path: str | Path, *, command: str, overwrite: bool = False, resume: bool = False,
             option: str = "--run-dir", what: str = "run folder") -> Path:
    """Create the folder (replacing an old dlbasic folder with `overwrite`); call once the run is known to start."""
    path = check_dir(path, overwrite=overwrite, resume=resume, option=option, what=what)
    if path.exists() and not resume and not is_unstarted(path):
        # the new run is ready: move the old one aside, then delete it (a crash here loses nothing new)
        old = path.with_name(f".{path.name}.replaced-{os.getpid()}")
        os.replace(path, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        path.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(path)
        marker = path / MARKER
        if not marker.exists():
            marker.write_text(f"made by dlbasic {command}\n")
    except OSError as e:
        raise UserError(f"cannot write to {path} ({e.strerror})", f"choose another {option}") from None
    return path


@contextlib.contextmanager
def output_dir(path: str | Path, *, command: str, overwrite: bool = False, resume: bool = False,
               option: str = "--run-dir", what: str = "run folder") -> Iterator[Path]:
    """`open_dir`, then remove the folder again if the work fails before writing any result."""
    path = Path(path)
    existed = path.exists()
    open_dir(path, command=command, overwrite=overwrite, resume=resume, option=option, what=what)
    try:
        yield path
    except BaseException:
        if not existed and not resume and is_unstarted(path):
            shutil.rmtree(path, ignore_errors=True)
        raise


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


__all__ = ["MARKER", "check_dir", "check_file", "is_unstarted", "made_by_dlbasic", "open_dir", "output_dir",
           "remove_stale_tmp"]
