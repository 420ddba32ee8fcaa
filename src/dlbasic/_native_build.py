"""Compile C++ source once into a cached, CPU-specific shared library and load it through ctypes.

Used by the fused optimizer kernels (`optim/_native.py`) and the RoI pooling kernels (`nn/_roi_kernels.py`).
The library is built with the system C++ compiler (`CXX`, else `c++`/`g++`/`clang++`) into `$DLBASIC_CACHE`
(default `~/.cache/dlbasic`), named by a hash of the source, compiler, flags and CPU, so a second process only
loads it. Building is said once on stderr, a failure after it with the last lines of the compiler's output.
`DLBASIC_NO_NATIVE=1` (or no compiler) leaves every caller on its torch fallback.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# -ffp-contract=off: only explicit std::fma calls fuse, as in ATen; -fno-math-errno lets sqrt vectorize
FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fopenmp", "-shared", "-fPIC", "-std=c++17"]
if platform.machine().lower() in ("x86_64", "amd64"):
    # 256-bit vectors: SGD's loops measured 8-10% faster than with 512-bit ones on an AVX-512 AMD EPYC (they
    # are memory-bound); the Adagrad and Adam kernels prefer 512-bit ones, 2-5% faster there (see optim/_kernels.py)
    FLAGS.append("-mprefer-vector-width=256")


def disabled() -> bool:
    """True when `DLBASIC_NO_NATIVE` asks for the torch fallbacks."""
    return os.environ.get("DLBASIC_NO_NATIVE", "") not in ("", "0")


def cpu_key() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    except OSError:
        flags = ""
    return platform.machine() + flags


def compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def library_path(prefix: str, source: str, compiler: str, flags: list[str]) -> Path:
    """Where the library of `source` built by `compiler` with `flags` for this CPU is cached."""
    key = hashlib.sha256("\n".join([source, compiler, *flags, cpu_key()]).encode()).hexdigest()[:16]
    root = Path(os.environ.get("DLBASIC_CACHE", Path.home() / ".cache" / "dlbasic"))
    return root / f"{prefix}_{key}.so"


def build(source: str, compiler: str, flags: list[str], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "kernels.cpp"
        src.write_text(source)
        out = Path(tmp) / "kernels.so"
        cmd = [compiler, *flags, str(src), "-o", str(out)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        os.replace(out, target)  # atomic: concurrent processes never load a half-written file


def say(message: str) -> None:
    print(f"dlbasic: {message}", file=sys.stderr, flush=True)


def home(path: Path) -> str:
    """`path` with the home directory written as ~."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def tail(output: bytes | str | None, lines: int = 12) -> str:
    text = output.decode(errors="replace") if isinstance(output, bytes) else output or ""
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in kept) or "    (no output)"


def load_library(
    target: Path, source: str, compiler: str, flags: list[str], what: str, fallback: str, duration: str
) -> ctypes.CDLL | None:
    """Load `target`, building it from `source` first where it is not cached; None (said on stderr) on failure.

    `what` names the kernels in messages ("the fused optimizer kernels"), `fallback` says what runs instead,
    `duration` how long a first build takes ("about 10 s").
    """
    try:
        if not target.exists():
            say(f"compiling {what} (first use, {duration}; cached in {home(target.parent)})")
            build(source, compiler, flags, target)
        return ctypes.CDLL(str(target))
    except subprocess.CalledProcessError as e:
        say(
            f"could not compile {what} ({compiler} exited with {e.returncode}); {fallback}. "
            f"The compiler said:\n{tail(e.stderr or e.stdout)}"
        )
    except subprocess.TimeoutExpired as e:
        say(f"compiling {what} took over {e.timeout:.0f} s and was stopped; {fallback}")
    except OSError as e:
        say(f"could not build or load {what} ({e}); {fallback}")
    return None
