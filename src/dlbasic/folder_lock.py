"""One process at a time in an output folder: an OS-level lock, released by the kernel when the process dies.

A folder is owned through its `.dlbasic.lock` file, locked with `flock` (POSIX) or `msvcrt.locking`
(Windows). The lock belongs to the open file, so a killed process leaves no lock behind: the file
may stay, and the next start simply locks it again. The owner writes its process id into the file,
so a second process is told who holds the folder.

`owned(folder)` holds a folder for the length of a `with` block. It is re-entrant within a process
(a run that holds its folder may call code that opens it again), and it follows the folder when the
folder is replaced: `FolderLock.lock()` after `--overwrite` moved the old folder aside locks the new
one, then lets the old one go. The file is removed when the lock is released; a process that locked
a file just unlinked by its owner notices (the path no longer names the file it locked) and tries again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from dlbasic.errors import UserError

LOCK = ".dlbasic.lock"

try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def holder(folder: Path) -> str:
    """Who holds `folder`, as the lock file says ("process 1234"), or "another process"."""
    try:
        pid = (folder / LOCK).read_text().split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return "another process"
    return f"process {pid}" if pid.isdigit() else "another process"


class FolderLock:
    """The lock on one folder's `.dlbasic.lock`, held by this process."""

    def __init__(self, folder: Path, what: str = "run folder", option: str = "--run-dir"):
        self.folder, self.what, self.option = folder, what, option
        self.fd: int | None = None
        self.file: Path | None = None  # where the locked file was when it was locked

    def _busy(self) -> UserError:
        return UserError(
            f"{self.what} {self.folder} is in use by {holder(self.folder)}",
            f"wait until it finishes, or choose another {self.option}",
        )

    def lock(self) -> None:
        """Lock the folder as it is now (again, if it was replaced since); `UserError` if another process holds it."""
        path = self.folder / LOCK
        if self.fd is not None and _same_file(self.fd, path):
            return
        for _ in range(100):  # retried only while an owner is removing the file we opened
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise UserError(
                    f"cannot write to {self.folder} ({e.strerror})", f"choose another {self.option}"
                ) from None
            if not _try_lock(fd):
                os.close(fd)
                raise self._busy()
            if _same_file(fd, path):
                break
            _unlock(fd)
            os.close(fd)
        else:
            raise self._busy()
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        old, self.fd, self.file = self.fd, fd, path
        if old is not None:  # the folder was replaced: the old one (moved aside) is no longer ours to hold
            _unlock(old)
            os.close(old)

    def release(self) -> None:
        """Let the folder go: remove the lock file (if it is still the one locked), then unlock and close it."""
        if self.fd is None:
            return
        if self.file is not None and _same_file(self.fd, self.file):
            with contextlib.suppress(OSError):
                self.file.unlink()
        _unlock(self.fd)
        os.close(self.fd)
        self.fd = self.file = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


_held: dict[str, tuple[FolderLock, int]] = {}


@contextlib.contextmanager
def owned(folder: str | Path, what: str = "run folder", option: str = "--run-dir") -> Iterator[FolderLock]:
    """Hold `folder` for the block: a folder that exists is locked now, one that does not yet exist when its
    maker calls `.lock()` on the yielded lock. `UserError` (one line, naming the holder) if another process holds it.
    """
    folder = Path(folder)
    key = os.path.abspath(folder)
    if key in _held:
        lock, depth = _held[key]
        _held[key] = (lock, depth + 1)
    else:
        lock = FolderLock(folder, what, option)
        if folder.is_dir():
            lock.lock()
        _held[key] = (lock, 1)
    try:
        yield lock
    finally:
        lock, depth = _held[key]
        if depth > 1:
            _held[key] = (lock, depth - 1)
        else:
            del _held[key]
            lock.release()


__all__ = ["LOCK", "FolderLock", "holder", "owned"]


@contextlib.contextmanager
def waiting(path: Path, poll: float = 0.2) -> Iterator[None]:
    """Hold the lock file `path`, waiting while another process holds it: for work that two processes must not
    do at once (the same lab training run), where the second should use the first's result."""
    import time

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while not _try_lock(fd):
            time.sleep(poll)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
