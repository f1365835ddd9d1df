"""``salesbot import KIND FILE [--mapping M]``: load CRM/ERP exports into the store.

The tabular kinds (``store.importer.KINDS``: reps, accounts, contacts, products,
orders, opportunities, stage_history, leads, activities, targets) are imported by
``store.importer.import_file``. Other kinds are delegated to the command module that
owns them, through :data:`DELEGATED_KINDS` (kind -> ``"module:function"``, resolved
when the command runs). A delegated function is called as::

    function(path, mapping=mapping_path_or_None, today=date, as_json=bool, quiet=bool)

prints its own summary, and raises ``typer.Exit`` with a non-zero code on failure.
To hand a new kind to another module, add one entry to :data:`DELEGATED_KINDS`.

Output: a summary (rows created/updated per table, time) on stdout, or with ``--json``
one JSON object (``{"ok": true, ...report}`` or ``{"ok": false, "errors": [...]}``).
Errors go to stderr as ``file line N, column C: message``; the exit code is 1 and
nothing is written. A progress bar is drawn on stderr for large files when stderr
is a terminal (never with ``--json`` or ``--quiet``).
"""

from __future__ import annotations

import datetime as dt
import glob
import importlib
import json
import sys
from pathlib import Path
from typing import Any, Protocol

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.cli.common import fail, store_engine
from store.db import StoreUnavailableError
from store.importer import (
    CHUNK_ROWS,
    KINDS,
    DataImportError,
    ImportReport,
    ImportValidationError,
    import_files,
)

DELEGATED_KINDS: dict[str, str] = {
    "transcripts": "bot.cli.coach:import_transcripts",
}
"""Import kinds handled outside ``store.importer``: kind -> ``"module:function"``."""


class DelegatedImport(Protocol):
    def __call__(
        self, path: Path, *, mapping: Path | None, today: dt.date, as_json: bool, quiet: bool
    ) -> None: ...


def all_kinds() -> list[str]:
    return [*KINDS, *DELEGATED_KINDS]


def register(app: typer.Typer) -> None:
    app.command(
        "import",
        help=(
            "Import a CSV export into the store (all or nothing; re-importing updates). "
            f"KIND is one of: {', '.join(all_kinds())}. "
            "A mapping file renames columns, sets date formats, constants, value maps and "
            "lookups (see docs/import.md)."
        ),
    )(import_command)


def import_command(
    kind: str = typer.Argument(..., metavar="KIND", help=f"one of: {', '.join(all_kinds())}"),
    files: list[str] = typer.Argument(
        ...,
        metavar="FILE...",
        help="CSV files to import (.gz too), folders of them, or glob patterns; "
        "all go in one transaction",
    ),
    mapping: Path | None = typer.Option(
        None, "--mapping", "-m", help="YAML mapping of the file's columns to ours"
    ),
    encoding: str | None = typer.Option(
        None, "--encoding", help="the file's text encoding, e.g. cp1252 (overrides the mapping)"
    ),
    assign_owners_from_orders: bool = typer.Option(
        False,
        "--assign-owners-from-orders",
        help="give accounts without an owner the rep with the most order revenue "
        "(accounts and orders)",
    ),
    today: str | None = typer.Option(
        None, "--today", help="the day stamped on stage changes found by the import (YYYY-MM-DD)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print nothing on success"),
    max_errors: int = typer.Option(50, "--max-errors", min=1, help="errors to list at most"),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="write the rows skipped by the mapping's skip rules to this CSV"
    ),
) -> None:
    if kind not in all_kinds():
        fail(f"unknown kind {kind!r}; choose one of: {', '.join(all_kinds())}")
    if kind in DELEGATED_KINDS:
        file = Path(files[0])
        if len(files) != 1 or not (file.is_file() or file.is_dir()):
            fail(f"importing {kind} takes one file or folder")
    else:
        paths = expand_files(files)
    if mapping is not None and not mapping.is_file():
        fail(f"mapping file {mapping} not found")
    day = _day(today)
    if kind in DELEGATED_KINDS:
        delegate = _delegate(kind)
        delegate(file, mapping=mapping, today=day, as_json=as_json, quiet=quiet)
        return

    engine = store_engine()
    with _ProgressBar(enabled=not (as_json or quiet) and _is_terminal()) as bar:
        try:
            reports = import_files(
                engine,
                kind,
                paths,
                mapping,
                today=day,
                encoding=encoding,
                assign_owners_from_orders=assign_owners_from_orders,
                max_errors=max_errors,
                progress=bar.update,
                rejects=rejects,
            )
        except ImportValidationError as exc:
            bar.stop()
            _print_errors(exc, as_json=as_json)
            raise typer.Exit(1) from exc
        except StoreUnavailableError as exc:
            fail(f"the database is not reachable: {exc}")
        except DataImportError as exc:
            if as_json:
                typer.echo(json.dumps({"ok": False, "errors": [{"message": str(exc)}]}))
                raise typer.Exit(1) from exc
            fail(str(exc))
    for report in reports:
        _print_report(report, as_json=as_json, quiet=quiet)


def expand_files(arguments: list[str]) -> list[Path]:
    """Files named on the command line: a file as it is, a folder as its ``*.csv`` and
    ``*.csv.gz`` files, a glob pattern as its matches (each sorted by name)."""
    paths: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_file():
            paths.append(path)
        elif path.is_dir():
            found = sorted([*path.glob("*.csv"), *path.glob("*.csv.gz")])
            if not found:
                fail(f"{path} holds no .csv or .csv.gz files")
            paths += found
        elif glob.has_magic(argument):
            matches = sorted(Path(m) for m in glob.glob(argument) if Path(m).is_file())
            if not matches:
                fail(f"no file matches {argument}")
            paths += matches
        else:
            fail(f"{path} is not a file")
    return list(dict.fromkeys(paths))


def _day(text: str | None) -> dt.date:
    if text is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"--today must be a date like 2024-06-30 (got {text!r})")


def _delegate(kind: str) -> DelegatedImport:
    target = DELEGATED_KINDS[kind]
    module_name, _, function_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        fail(f"importing {kind} needs {module_name}, which this installation does not have")
    function = getattr(module, function_name, None)
    if not callable(function):
        fail(f"importing {kind} needs {target}, which this installation does not have")
    return function  # type: ignore[no-any-return]


def _is_terminal() -> bool:
    return sys.stderr.isatty()


def _print_report(report: ImportReport, *, as_json: bool, quiet: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"ok": True, **report.to_dict()}))
    elif not quiet:
        typer.echo(report.summary())


def _print_errors(exc: ImportValidationError, *, as_json: bool) -> None:
    if as_json:
        payload: dict[str, Any] = {
            "ok": False,
            "file": exc.file,
            "total": exc.total,
            "errors": [
                {"file": e.file, "line": e.line, "column": e.column, "message": e.message}
                for e in exc.errors
            ],
        }
        typer.echo(json.dumps(payload))
        return
    for error in exc.errors:
        typer.echo(str(error), err=True)
    more = exc.total - len(exc.errors)
    if more > 0:
        typer.echo(f"... and {more} more", err=True)
    noun = "error" if exc.total == 1 else "errors"
    typer.secho(
        f"error: {exc.file}: {exc.total} {noun}; nothing was imported",
        fg=typer.colors.RED,
        err=True,
    )


class _ProgressBar:
    """A rich progress bar on stderr, drawn only once a file proves large."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total <= CHUNK_ROWS:
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("rows", total=total)
        self._progress.update(self._task, completed=done)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
