"""The `dlbasic` command: parses arguments and calls the library.

Each sub-command lives in `dlbasic.commands.<name>` and provides `register(subparsers)`,
which adds its parser and sets `func` to a function taking the parsed arguments.
A `UserError` (and any mistake argparse finds) is printed in one line with its hint and exit code 2;
a failed write (full disk, read-only folder, file-size limit) is one line too; bugs keep their traceback.
Exit codes: 0 done, 2 a mistake in the input, 3 training diverged (the last finite checkpoint is
kept), 130 interrupted.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import os
import pkgutil
import sys
import warnings

from dlbasic import __version__
from dlbasic.errors import Diverged, UserError


class Parser(argparse.ArgumentParser):
    """argparse that reports a mistake in one line pointing at `--help`, not with the usage block."""

    def error(self, message: str):  # type: ignore[override]
        """Print `message` with a pointer to `--help` and exit with code 2."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# failures to write that the user can fix (space, permissions, limits), reported in one line
STORAGE_ERRORS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EFBIG,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENAMETOOLONG,
}


def build_parser() -> argparse.ArgumentParser:
    """The `dlbasic` argument parser, with one sub-command per public module of `dlbasic.commands`."""
    import dlbasic.commands as commands

    parser = Parser(
        prog="dlbasic",
        description="Deep-learning basics as software: train models, measure claims, compare methods.",
        epilog="Run `dlbasic COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"dlbasic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"dlbasic.commands.{info.name}").register(sub)
    return parser


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub-)parser of the command `args` names: `dlbasic train`, `dlbasic segment eval`, ..."""
    while parser._subparsers is not None:
        action = next(a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction))
        name = getattr(args, action.dest, None)
        if name not in action.choices:
            break
        parser = action.choices[name]
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the `dlbasic` command on `argv` (default `sys.argv[1:]`) and return its exit code.

    Returns:
        0 done, 2 a mistake in the input, a failed write or no command, 3 training diverged, 130 interrupted.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # report it as the command's own mistake, with the closest option it has
        command = _command_parser(parser, args)
        unknown = next((a for a in extra if a.startswith("-")), extra[0])
        options = [o for a in command._actions for o in a.option_strings if o.startswith("--")]
        close = difflib.get_close_matches(unknown.split("=")[0], options, n=2, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        command.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            result = args.func(args)
    except Diverged as e:
        print(f"dlbasic {args.command}: error: {e}", file=sys.stderr)
        return 3
    except UserError as e:
        print(f"dlbasic {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0
    except OSError as e:
        if e.errno not in STORAGE_ERRORS:
            raise
        where = f" {e.filename}" if e.filename else ""
        print(f"dlbasic {args.command}: error: could not write{where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dlbasic {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def _one_line_warning(command: str):
    """Warnings as `dlbasic CMD: warning: message`, one line each (not Python's file:line and source line)."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"dlbasic {command}: warning: {text}", file=file or sys.stderr)

    return show


if __name__ == "__main__":
    sys.exit(main())
