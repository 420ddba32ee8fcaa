"""The API reference pages: one per subpackage of dlbasic (and one for the top-level modules), listing every
public module (a name without a leading underscore) for mkdocstrings to render from its docstrings."""

from __future__ import annotations

import ast
from pathlib import Path

TITLE = "dlbasic"


def modules(package: Path, prefix: str = TITLE) -> list[str]:
    """Dotted names of the public modules of `package` (a folder with __init__.py), packages first, sorted."""
    names = [prefix]
    for path in sorted(package.iterdir()):
        if path.name.startswith("_") or path.name.startswith("."):
            continue
        if path.is_dir() and (path / "__init__.py").is_file():
            continue  # a subpackage has a page of its own
        if path.suffix == ".py":
            names.append(f"{prefix}.{path.stem}")
    return names


def subpackages(package: Path, prefix: str = TITLE) -> dict[str, Path]:
    """Every public package under `package`, `package` itself included: dotted name -> folder."""
    found = {prefix: package}
    for path in sorted(package.iterdir()):
        if path.is_dir() and not path.name.startswith(("_", ".")) and (path / "__init__.py").is_file():
            found.update(subpackages(path, f"{prefix}.{path.name}"))
    return found


def summary(path: Path) -> str:
    """The first paragraph of a module's docstring, on one line."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def page_uri(package: str) -> str:
    return f"reference/{package}.md"


def pages(src: Path) -> dict[str, str]:
    """{uri: markdown} of the reference: an index, then a page per package."""
    out = {}
    rows = []
    for package, folder in subpackages(src).items():
        names = modules(folder, package)
        body = [f"# `{package}`", ""]
        body += [f"::: {package}", "    options:", "      members: false", "      show_root_heading: false", ""]
        for name in names[1:]:
            body += [f"::: {name}", ""]
        out[page_uri(package)] = "\n".join(body)
        for name in names:
            path = folder / "__init__.py" if name == package else folder / f"{name.rsplit('.', 1)[1]}.py"
            link = page_uri(package).removeprefix("reference/")
            anchor = "" if name == package else f"#{name}"
            what = summary(path).replace("|", r"\|")
            rows.append(f"| [`{name}`]({link}{anchor}) | {what} |")
    index = [
        "# API reference",
        "",
        "Every public module of dlbasic, rendered from its docstrings. A page per package; the package's own",
        "docstring opens it, then each of its modules with every public class and function.",
        "",
        "| module | what it is |",
        "|---|---|",
        *rows,
        "",
    ]
    out["reference/index.md"] = "\n".join(index)
    return out
