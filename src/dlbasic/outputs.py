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
from dlbasic.folder_lock import LOCK, owned
from dlbasic.parsing import load_yaml, loads_json

MARKER = ".dlbasic"
# what a marked folder may hold and still be empty of results: a run that failed before its first step
_UNSTARTED = {MARKER, "config.yaml", "config.json"}
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
# the folders dlbasic writes into its folders, and the names of the files it writes in them: tensorboard's
# event files (train), the lab's results/<study>.json, figures/<study>-<k>.png, its training cache (and the
# locks of trainings in progress) and its finished runs
_KNOWN_DIRS = {
    "tensorboard": re.compile(r"events\.out\.tfevents\.[^/\\]+"),
    "results": re.compile(r"[a-z0-9][a-z0-9-]*\.json"),
    "figures": re.compile(r"[a-z0-9][a-z0-9-]*-\d+\.png"),
    "cache": re.compile(r"[0-9a-f]{16}(-[\w.-]+)?\.(pt|json|lock)"),
    "runs": re.compile(r"[0-9a-f]{20}\.json"),
}
_KNOWN = _KNOWN_FILES | set(_KNOWN_DIRS)
# files named after the inputs, by the command the marker names: a mask per image, a picture per test image
_NAMED = {
    "segment predict": re.compile(r"[^/\\]+\.png"),
    "detect predict": re.compile(r"[^/\\]+\.png|predictions\.json"),
}


def _stale(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _ours(name: str) -> bool:
    """Files dlbasic keeps in any folder it writes: a killed atomic write's temporary file, a run's lock."""
    return _stale(name) or name == LOCK


def _entries(path: Path) -> set[str]:
    """The names in a folder, less dlbasic's temporary and lock files where its marker says the folder is ours."""
    marked = (path / MARKER).is_file()
    return {p.name for p in path.iterdir() if not (_ours(p.name) if marked else p.name == LOCK)}


def _command(path: Path) -> str | None:
    """The command named in the folder's marker ("made by dlbasic <command>"), None without a readable one."""
    try:
        text = (path / MARKER).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    return text.strip().removeprefix("made by dlbasic ").strip() or None


def _foreign_inside(folder: Path, pattern: re.Pattern[str]) -> list[str]:
    """The entries of one of dlbasic's subfolders (results/, figures/, ...) that dlbasic does not write there."""
    return sorted(
        f"{folder.name}/{p.name}"
        for p in folder.iterdir()
        if not _stale(p.name) and not (p.is_file() and not p.is_symlink() and pattern.fullmatch(p.name))
    )


def foreign_entries(path: Path) -> list[str]:
    """The entries of a folder that dlbasic did not write (sorted): what `--overwrite` must never delete.

    In a folder with dlbasic's marker, dlbasic writes the names in `_KNOWN` (folders as folders, files as
    files, and in its folders only the files it names so), the marker and, in a folder the marker says
    `segment predict` or `detect predict` made, the image files named after the inputs. A folder without
    the marker is dlbasic's only as a run folder from before the marker, proven by content: its foreign
    entries are those that content does not prove (`_unproven`).
    """
    if not (path / MARKER).is_file():
        return _unproven(path)
    named = _NAMED.get(_command(path) or "")
    foreign = []
    for p in path.iterdir():
        name = p.name
        if _ours(name):
            continue
        if p.is_symlink():  # a link is the user's, whatever its name
            foreign.append(name)
        elif name in _KNOWN_DIRS:
            foreign.extend(_foreign_inside(p, _KNOWN_DIRS[name]) if p.is_dir() else [name])
        elif not (p.is_file() and (name in _KNOWN_FILES or name == MARKER or (named and named.fullmatch(name)))):
            foreign.append(name)
    return sorted(foreign)


def _unproven(path: Path) -> list[str]:
    """For a folder without the marker: the entries that keep it from being a run folder from before the marker
    (sorted). A run folder holds dlbasic's metrics or checkpoint, and nothing but files of dlbasic's names whose
    content is what dlbasic writes there (a dlbasic config, metrics lines, a checkpoint, matplotlib's PNG).
    """
    names = _entries(path)
    if not names & {"metrics.jsonl", "checkpoint.pt"}:
        return sorted(names)
    out = []
    for name in names:
        p = path / name
        if p.is_symlink() or name not in _KNOWN:
            out.append(name)
        elif name in _KNOWN_DIRS:
            out.extend(_foreign_inside(p, _KNOWN_DIRS[name]) if p.is_dir() else [name])
        elif not (p.is_file() and _PROOFS.get(Path(name).suffix, _never)(p)):
            out.append(name)
    return sorted(out)


def _proven_run(path: Path) -> bool:
    return not _unproven(path)


def _never(path: Path) -> bool:
    return False


def _read(path: Path, limit: int = 64 << 20) -> bytes | None:
    try:
        if path.stat().st_size > limit:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _json_object(path: Path, keys: set[str]) -> bool:
    try:
        value = loads_json(_read(path) or b"", path)
    except (ValueError, UserError):
        return False
    return isinstance(value, dict) and bool(keys & value.keys())


def _metrics_lines(path: Path) -> bool:
    try:
        rows = [loads_json(line, path) for line in (_read(path) or b"").splitlines() if line.strip()]
    except (ValueError, UserError):
        return False
    return bool(rows) and all(isinstance(r, dict) and "epoch" in r for r in rows)


def _config(path: Path) -> bool:
    import yaml

    text = _read(path, 1 << 20)
    try:
        value = load_yaml(text, path) if text is not None else None
    except (yaml.YAMLError, UserError, ValueError):
        return False
    return isinstance(value, dict) and {"model", "data", "epochs"} <= value.keys()


def _checkpoint(path: Path) -> bool:
    import torch

    if not _zip(path):  # torch writes zip archives; anything else is not a checkpoint of ours
        return False
    try:
        value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch.load raises many types on files it cannot read
        return False
    return isinstance(value, dict) and "model" in value and isinstance(value.get("meta"), dict)


def _zip(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(2) == b"PK"
    except OSError:
        return False


def _matplotlib_png(path: Path) -> bool:
    data = _read(path) or b""
    return data.startswith(b"\x89PNG\r\n\x1a\n") and b"Software\x00Matplotlib" in data[:4096]


# what dlbasic's files hold, by their suffix: how a run folder from before the marker is proven dlbasic's
_PROOFS = {
    ".yaml": _config,
    ".jsonl": _metrics_lines,
    ".json": lambda p: _json_object(p, {"status", "epochs", "test_accuracy"}),
    ".pt": _checkpoint,
    ".png": _matplotlib_png,
}


def made_by_dlbasic(path: Path) -> bool:
    """True for a folder dlbasic made: it holds the marker, or it is a run folder from before the marker.

    This says whose folder it is (lab --resume continues only a lab folder); what `--overwrite` may delete
    is stricter: see `foreign_entries`, since the marker alone does not make a user's own file dlbasic's.
    """
    return (path / MARKER).is_file() or _proven_run(path)


def is_unstarted(path: Path) -> bool:
    """True for a missing or empty folder, or one of dlbasic's holding only the marker and config.yaml."""
    if not path.exists():
        return True
    if not path.is_dir():
        return False
    names = _entries(path)
    return not names or (MARKER in names and names <= _UNSTARTED)


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
    """Delete temporary files left by an atomic write that was killed (in a folder with dlbasic's marker)."""
    if not (path / MARKER).is_file():
        return
    for p in path.iterdir():
        if _stale(p.name) and p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)


def _real(path: Path) -> Path:
    """The folder itself: a symbolic link given as the output folder stays, and what it points to is replaced."""
    return path.resolve() if path.is_symlink() else path


def _open(path: Path, command: str, overwrite: bool, resume: bool, option: str, what: str, lock) -> Path | None:
    """Create the folder and lock it; an old dlbasic folder it replaces is moved aside and its new path returned.

    `lock` (held by the caller through `owned`) is taken on the old folder before anything moves, so a
    folder another process works in is neither replaced nor written; then on the new folder.
    """
    check_dir(path, overwrite=overwrite, resume=resume, option=option, what=what)
    target = _real(path)
    if target.is_dir():
        lock.lock()
    old = None
    if target.exists() and not resume and not is_unstarted(target):
        old = target.with_name(f".{target.name}.replaced-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    try:
        target.mkdir(parents=True, exist_ok=True)
        lock.lock()
        marker = target / MARKER
        if not resume or not marker.exists():  # a reused unstarted folder now holds what `command` writes
            marker.write_text(f"made by dlbasic {command}\n")
        remove_stale_tmp(target)
    except (OSError, UserError) as e:
        if old is not None and not target.exists():
            os.replace(old, target)
        if isinstance(e, UserError):
            raise
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
    """Create the folder (replacing an old dlbasic folder with `overwrite`); call once the work is known to start.

    A folder another dlbasic process holds (`folder_lock.owned`) is refused in one line.
    """
    path = Path(path)
    with owned(_real(path), what, option) as lock:
        old = _open(path, command, overwrite, resume, option, what, lock)
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
    """`open_dir` for work that writes as it goes (training runs), holding the folder for the block.

    If the work fails before writing any result, the new folder is removed again and an old folder
    it replaced is put back; the old folder is deleted only once the work has written a result or ended.
    """
    path = Path(path)
    target = _real(path)
    existed = target.exists()
    with owned(target, what, option) as lock:
        old = _open(path, command, overwrite, resume, option, what, lock)
        try:
            yield path
        except BaseException:
            if not resume and is_unstarted(target):
                if old is not None:
                    shutil.rmtree(target, ignore_errors=True)
                    os.replace(old, target)
                    old = None
                    lock.lock()
                elif not existed:
                    lock.release()
                    shutil.rmtree(target, ignore_errors=True)
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)


def hold(path: str | Path, what: str = "run folder", option: str = "--run-dir"):
    """`folder_lock.owned` for an output folder (a symbolic link is followed): hold it while a run works in it."""
    return owned(_real(Path(path)), what, option)


# characters a file name cannot hold on some system, and `~`, kept for telling apart inputs of one stem
_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|~]+')


def output_names(names: list[str], suffix: str = ".png", reserved: tuple[str, ...] = ()) -> list[str]:
    """One output file name per input, that no two inputs share: the input's stem, made safe, then `suffix`.

    A stem that an earlier input (or a name in `reserved`) already took, compared without case, gets
    `~2`, `~3`, ... (`a.png`, `b/a.png` -> `a.png`, `a~2.png`). A safe stem holds no `~`, so a
    disambiguated name never equals another input's. The same inputs in the same order give the same names.
    """
    taken = {Path(r).stem.casefold(): 1 for r in reserved}
    out = []
    for name in names:
        stem = _UNSAFE.sub("_", Path(name).stem).strip(" .") or "image"
        key = stem.casefold()
        taken[key] = taken.get(key, 0) + 1
        out.append(f"{stem}{suffix}" if taken[key] == 1 else f"{stem}~{taken[key]}{suffix}")
    return out


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
    "hold",
    "is_unstarted",
    "made_by_dlbasic",
    "open_dir",
    "output_dir",
    "output_names",
    "remove_stale_tmp",
]
