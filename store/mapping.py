"""Reading CRM/ERP CSV exports and mapping their columns onto salesbot fields.

This module is the *source* half of the import (``store.importer`` is the *store*
half): it reads a CSV file strictly, joins lookup files, applies a mapping file and
parses dates, timestamps and enum values. Every problem it finds is reported with
the file name, the line number in the file and the column name.

Mapping files (YAML)
====================

A mapping turns one export file into rows of one import kind. Every key is optional;
a file whose columns already carry our field names needs no mapping at all (column
names are matched exactly, then ignoring case, spaces and hyphens).

.. code-block:: yaml

    kind: orders                 # optional guard: the mapping refuses other kinds
    encoding: cp1252             # default: UTF-8 (with or without a byte-order mark)
    delimiter: ";"               # default ","
    max_field_size: 1048576      # bytes per field and per line (default 1 MiB)
    date_format: "%d.%m.%Y"      # default for every date field (default: ISO 8601)
    dates:                       # per field, overrides date_format
      order_date: "%m/%d/%Y"
    timezone: Europe/Berlin      # zone of timestamps written without an offset (default UTC)
    decimal: ","                 # decimal mark of numbers (default ".")
    thousands: "."               # thousands separator to ignore in numbers (default none)
    columns:                     # source column -> our field (a list feeds several fields)
      OrderID: order_external_id
      Title: [title, role]
    templates:                   # our field -> text built from source columns
      name: "{FirstName} {LastName}"
    constants:                   # our field -> the same value on every row
      timezone: Europe/London
    values:                      # our field -> {source value: our value}; "*" catches the rest
      role: {"Sales Manager": manager, "*": rep}
      active: {"1": false, "0": true}
    lookups:                     # joins against other files of the same export
      - file: orders.csv         # relative to the imported file's folder
        match: order_id          # column of the imported file
        key: order_id            # column of orders.csv (default: same as match)
        add: [customer_id, order_date]      # or {lookup column: new column name}
        required: true           # every non-empty match value must be found (default)
        repeated: first          # several rows per key: take the first (default: an error)
        order_by: group_id       # ... first by this column (numbers as numbers), not file order

Kind options (read by ``store.importer``): ``assign_owners: from_orders`` (accounts and
orders), ``derive_stage_history``, ``won_stages``, ``lost_stages`` (opportunities).

Rules: cells are stripped of surrounding blanks and an empty cell means "no value".
Value maps apply to the stripped source text before any parsing, match keys ignoring
case and blanks (quote keys that YAML would read as numbers, e.g. ``"01"``) and leave
unmapped values as they are unless a ``"*"`` entry is present. Enum fields (role, buying role, lead
source, ...) also accept their values in any case with spaces for underscores
(``Decision Maker`` -> ``decision_maker``). In YAML only ``true``/``false`` are
booleans: ``yes``, ``no``, ``on`` and ``off`` stay text.
"""

from __future__ import annotations

import ast
import codecs
import csv
import datetime as dt
import difflib
import gc
import gzip
import math
import re
import shutil
import string
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

MIB = 1 << 20
DEFAULT_MAX_FIELD_SIZE = MIB
DEFAULT_MAX_ERRORS = 100
DEFAULT_ENCODING = "utf-8-sig"
_SCAN_BLOCK = 4 * MIB

Scalar = str | int | float | bool | None


# ------------------------------------------------------------------------ errors


class DataImportError(Exception):
    """Base class of every import failure (bad mapping, bad file, rows the store rejects)."""


@dataclass(frozen=True, order=True)
class RowError:
    """One problem in a source file. ``line`` is the file's line number (1 = header);
    ``column`` is the source column (or our field name when the column is missing)."""

    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.column is not None:
            where += (
                f", column {self.column}" if self.line is not None else f" column {self.column}"
            )
        return f"{where}: {self.message}"


class ImportValidationError(DataImportError):
    """The file was rejected; nothing was written. ``errors`` holds the first
    ``max_errors`` problems in line order, ``total`` how many were found."""

    def __init__(self, file: str, errors: Sequence[RowError], total: int | None = None) -> None:
        self.file = file
        self.errors = list(errors)
        self.total = max(total if total is not None else len(self.errors), len(self.errors))
        shown = "\n".join(f"  {e}" for e in self.errors)
        more = self.total - len(self.errors)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        noun = "error" if self.total == 1 else "errors"
        super().__init__(f"{file}: {self.total} {noun}, nothing was imported\n{shown}{tail}")

    @property
    def truncated(self) -> bool:
        return self.total > len(self.errors)


class MappingError(DataImportError):
    """The mapping file is invalid or does not fit the file it is applied to."""


class ErrorLog:
    """Collects the row errors of one import: counts all of them and keeps the first
    ``cap`` in file and line order, whatever order the checks find them in."""

    def __init__(self, cap: int = DEFAULT_MAX_ERRORS) -> None:
        self.cap = max(1, cap)
        self.total = 0
        self._kept: list[RowError] = []

    def __bool__(self) -> bool:
        return self.total > 0

    def add(self, file: str, line: int | None, column: str | None, message: str) -> None:
        self.total += 1
        self._kept.append(RowError(file, line, column, message))
        if len(self._kept) > 4 * self.cap:
            self._kept = self.errors()

    def add_rows(
        self,
        file: str,
        lines: np.ndarray,
        rows: np.ndarray,
        column: str | Callable[[int], str | None] | None,
        message: Callable[[int], str],
    ) -> None:
        """Report ``message(row)`` for each row index in ``rows`` (ascending); only the
        first ``cap`` are formatted, the rest are counted."""
        for row in rows[: self.cap].tolist():
            name = column(row) if callable(column) else column
            self.add(file, int(lines[row]), name, message(row))
        self.total += max(0, len(rows) - self.cap)

    @property
    def full(self) -> bool:
        """True when ``cap`` errors are known, so slow per-row checks may stop early."""
        return self.total >= self.cap

    def errors(self) -> list[RowError]:
        def order(e: RowError) -> tuple[str, int, str, str]:
            return (e.file, e.line if e.line is not None else 0, e.column or "", e.message)

        return sorted(self._kept, key=order)[: self.cap]

    def fail(self, file: str) -> ImportValidationError:
        return ImportValidationError(file, self.errors(), self.total)


def show(value: Any, limit: int = 40) -> str:
    """A cell value as it should appear in an error message."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if text and re.fullmatch(r"[\w.:+\-/@]+", text):
        return text
    return repr(text)


# ----------------------------------------------------------------------- mapping


class Lookup(BaseModel):
    """A join of the imported file against another file of the same export."""

    model_config = ConfigDict(extra="forbid")

    file: str
    match: str = Field(description="column of the imported file holding the key")
    key: str | None = Field(default=None, description="column of the lookup file (default: match)")
    add: list[str] | dict[str, str] = Field(
        description="lookup columns to add; a dict renames them (lookup column -> new name)"
    )
    required: bool = True
    repeated: Literal["error", "first"] = Field(
        default="error",
        description="several rows with one key: an error (default), or take the first one",
    )
    order_by: str | None = Field(
        default=None,
        description="with repeated: first, the lookup column whose smallest value wins "
        "(compared as numbers when every value is one); default: the file's order",
    )
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def key_column(self) -> str:
        return self.key or self.match

    def added(self) -> dict[str, str]:
        """Lookup column -> name it gets in the imported file."""
        if isinstance(self.add, dict):
            return dict(self.add)
        return {name: name for name in self.add}


class SkipRule(BaseModel):
    """Rows to leave out of the import (e.g. cancellations, returns, lines without a
    customer), counted per reason in the summary. A rule on a column added by a lookup
    is applied after the join; a rule on the file's own column before it."""

    model_config = ConfigDict(extra="forbid")

    column: str
    reason: str | None = None
    empty: bool = False
    equals: str | list[str] | None = None
    starts_with: str | list[str] | None = None
    matches: str | None = None
    below: float | None = None
    above: float | None = None

    @field_validator("equals", "starts_with", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_scalar_key(v) for v in value]
        return None if value is None else _scalar_key(value)

    @field_validator("matches")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"is not a valid regular expression: {exc}") from None
        return value

    def describe(self) -> str:
        if self.reason:
            return self.reason
        if self.empty:
            return f"{self.column} empty"
        if self.equals is not None:
            return f"{self.column} is {self.equals}"
        if self.starts_with is not None:
            return f"{self.column} starts with {self.starts_with}"
        if self.matches is not None:
            return f"{self.column} matches {self.matches}"
        if self.below is not None:
            return f"{self.column} below {self.below:g}"
        return f"{self.column} above {self.above:g}"

    def hits(self, cells: np.ndarray) -> np.ndarray:
        """Boolean mask of the cells (clean text, None = empty) this rule skips."""
        empty = pd.isna(cells)
        text = pd.Series(cells, dtype=object)
        if self.empty:
            return np.asarray(empty, dtype=bool)
        if self.equals is not None:
            wanted = {
                fold(v) for v in ([self.equals] if isinstance(self.equals, str) else self.equals)
            }
            return per_unique(cells, lambda v: fold(v) in wanted).astype(bool) & ~empty
        if self.starts_with is not None:
            prefixes = tuple(
                [self.starts_with] if isinstance(self.starts_with, str) else self.starts_with
            )
            return per_unique(cells, lambda v: str(v).startswith(prefixes)).astype(bool) & ~empty
        if self.matches is not None:
            pattern = re.compile(self.matches)
            return per_unique(cells, lambda v: bool(pattern.search(str(v)))).astype(bool) & ~empty
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            if self.below is not None:
                return np.asarray(numbers < self.below, dtype=bool)
            return np.asarray(numbers > (self.above if self.above is not None else np.inf))

    @model_validator(mode="after")
    def _one_condition(self) -> SkipRule:
        given = [
            self.empty,
            self.equals is not None,
            self.starts_with is not None,
            self.matches is not None,
            self.below is not None,
            self.above is not None,
        ]
        if sum(given) != 1:
            raise ValueError(
                "a skip rule needs exactly one of empty, equals, starts_with, matches, below, above"
            )
        return self


class Computed(BaseModel):
    """A field computed from the file's columns: from one column, an arithmetic
    expression, the first non-empty of several columns or a template; then optionally
    case-changed, with text replaced (``replace: {" ": "."}`` for e-mail addresses
    built from names), written as a whole number, or scaled."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    expr: str | None = None
    first_of: list[str] | None = None
    template: str | None = None
    case: Literal["lower", "upper", "title"] | None = None
    replace: dict[str, str] = Field(default_factory=dict)
    format: Literal["integer"] | None = None
    scale: float | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Computed:
        given = [self.column, self.expr, self.first_of, self.template]
        if sum(v is not None for v in given) != 1:
            raise ValueError(
                "a computed field needs exactly one of column, expr, first_of, template"
            )
        return self


def _value_keys_as_text(value: Any) -> Any:
    """Value maps are looked up by the cell's text: their keys become text (YAML reads
    ``1:`` and ``yes:`` as numbers and booleans)."""
    if isinstance(value, dict):
        return {
            name: {_scalar_key(k): v for k, v in table.items()}
            if isinstance(table, dict)
            else table
            for name, table in value.items()
        }
    return value


class Derived(BaseModel):
    """Master rows (reps, accounts, products) taken from repeated columns of a lines
    file: one row per distinct ``external_id``; other fields take the first non-empty
    value of the id's rows, or the most frequent one."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str | list[str]] = Field(default_factory=dict)
    templates: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, Computed] = Field(default_factory=dict)
    constants: dict[str, Scalar] = Field(default_factory=dict)
    values: dict[str, dict[str, Scalar]] = Field(default_factory=dict)
    pick: Literal["first", "most_frequent"] = "first"

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        return _value_keys_as_text(value)


def _scalar_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


class Mapping(BaseModel):
    """A parsed mapping file; see the module docstring for the format."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    encoding: str | None = None
    delimiter: str = ","
    max_field_size: int = Field(default=DEFAULT_MAX_FIELD_SIZE, gt=0)
    date_format: str | None = None
    dates: dict[str, str] = Field(default_factory=dict)
    timezone: str | None = None
    decimal: str = "."
    thousands: str | None = None
    columns: dict[str, str | list[str]] = Field(default_factory=dict)
    templates: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, Scalar] = Field(default_factory=dict)
    values: dict[str, dict[str, Scalar]] = Field(default_factory=dict)
    lookups: list[Lookup] = Field(default_factory=list)
    fields: dict[str, Computed] = Field(default_factory=dict)
    skip: list[SkipRule] = Field(default_factory=list)
    rejects: str | None = None
    derive: dict[str, Derived] = Field(default_factory=dict)
    # kind options, read by store.importer
    line_numbers: bool = False
    assign_owners: Literal["from_orders"] | None = None
    derive_stage_history: bool = True
    won_stages: list[str] = Field(default_factory=lambda: ["closed_won", "won"])
    lost_stages: list[str] = Field(default_factory=lambda: ["closed_lost", "lost"])
    open_stage: str | None = None
    """One-row-per-deal exports: a new deal not in this stage also gets a history entry
    in it on its created date (e.g. ``Engaging`` on the engage date, then ``Won``)."""
    folder: Path | None = Field(default=None, exclude=True)
    """The mapping file's folder (set when read from a file): lookups are found there too."""

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        return _value_keys_as_text(value)

    @field_validator("columns", mode="before")
    @classmethod
    def _column_keys_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_scalar_key(k): v for k, v in value.items()}
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if value == "\\t":
            value = "\t"
        if len(value) != 1:
            raise ValueError(f"must be a single character (got {value!r})")
        return value

    @field_validator("decimal", "thousands")
    @classmethod
    def _separator(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f"must be a single character (got {value!r})")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def targets(self) -> list[tuple[str, str]]:
        """(source column, our field) pairs from ``columns``."""
        pairs: list[tuple[str, str]] = []
        for source, fields in self.columns.items():
            for name in [fields] if isinstance(fields, str) else fields:
                pairs.append((source, name))
        return pairs


class _MappingLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so ``yes``/``no``/``on``/``off``
    (common as values and as column names) stay text."""


_MappingLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_MappingLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file; raises :class:`MappingError` with the reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MappingError(f"cannot read mapping file {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.load(text, Loader=_MappingLoader) or {}
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError(f"mapping file {path} must be a YAML mapping of keys to values")
    mapping = parse_mapping(data, source=str(path))
    mapping.folder = path.resolve().parent
    return mapping


def parse_mapping(data: dict[str, Any], *, source: str = "mapping") -> Mapping:
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'mapping'}: "
            + (
                "unknown key"
                if err["type"] == "extra_forbidden"
                else err["msg"].removeprefix("Value error, ")
            )
            for err in exc.errors(include_url=False)
        )
        raise MappingError(f"{source}: {problems}") from exc


# ---------------------------------------------------------------- field schema


FieldType = Literal["str", "int", "float", "bool", "date", "datetime", "enum"]


@dataclass(frozen=True)
class FieldSpec:
    """What the importer expects of one of our fields."""

    name: str
    type: FieldType
    required: bool
    choices: tuple[str, ...] = ()


# ------------------------------------------------------------------ CSV reading


@dataclass
class RawTable:
    """A CSV file read strictly: header, one object array of text per column and the
    file line on which each row starts."""

    name: str
    header: list[str]
    header_line: int
    columns: dict[str, np.ndarray]
    lines: np.ndarray

    def __len__(self) -> int:
        return len(self.lines)


@contextmanager
def _bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small lists are built
    (it would otherwise rescan them again and again)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    previous = csv.field_size_limit()
    csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _codec(name: str) -> codecs.CodecInfo:
    try:
        return codecs.lookup(name)
    except LookupError:
        raise MappingError(f"unknown encoding {name!r}") from None


def _ascii_compatible(codec: codecs.CodecInfo) -> bool:
    return not codec.name.replace("_", "-").startswith(("utf-16", "utf-32"))


def _size_words(size: int) -> str:
    if size % MIB == 0:
        return f"{size // MIB} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


@dataclass
class _QuoteProblem:
    field_index: int
    kind: Literal["unclosed", "after_quote", "too_large", "none"]


def _locate_quote_problem(
    text: str, delimiter: str, limit: int | None = None, *, ended: bool = True
) -> _QuoteProblem:
    """Walk one CSV record (which may span lines) the way a strict reader does and say
    which field goes wrong: a quote that never closes, text after a closing quote, or
    a field longer than ``limit``. ``ended`` says whether ``text`` is the whole rest
    of the record (so an open quote at its end really is unclosed)."""
    index = 0
    length = 0
    state = "start"  # start | plain | quoted | quote_in_quoted
    for char in text:
        if state == "quoted":
            if char == '"':
                state = "quote_in_quoted"
            else:
                length += 1
        elif state == "quote_in_quoted":
            if char == '"':
                state = "quoted"
                length += 1
            elif char == delimiter:
                index, length, state = index + 1, 0, "start"
            elif char in "\r\n":
                return _QuoteProblem(index, "none")
            else:
                return _QuoteProblem(index, "after_quote")
        elif char == delimiter:
            index, length, state = index + 1, 0, "start"
        elif char in "\r\n":
            return _QuoteProblem(index, "none")
        elif state == "start" and char == '"':
            state = "quoted"
        else:
            state = "plain"
            length += 1
        if limit is not None and length > limit:
            return _QuoteProblem(index, "too_large")
    if state == "quoted" and ended:
        return _QuoteProblem(index, "unclosed")
    return _QuoteProblem(index, "none")


def _column_name(header: Sequence[str] | None, index: int) -> str:
    if header is not None and index < len(header):
        return header[index] or f"#{index + 1}"
    return f"#{index + 1} (beyond the header)"


def _header_of(path: Path, codec: str, delimiter: str) -> list[str] | None:
    try:
        with open(path, encoding=codec, errors="replace", newline="") as handle:
            first = handle.readline(DEFAULT_MAX_FIELD_SIZE)
    except OSError:
        return None
    if not first.strip():
        return None
    return [cell.strip() for cell in next(csv.reader([first], delimiter=delimiter), [])]


def _scan(path: Path, name: str, codec: codecs.CodecInfo, delimiter: str, max_size: int) -> None:
    """Check a file's bytes before parsing: every line decodes and is at most
    ``max_size`` bytes long. Reads in blocks cut at line breaks, so a gigabyte-long
    line is never held in memory."""
    first_codec = codec.name
    rest_codec = "utf-8" if codec.name == "utf-8-sig" else codec.name
    newlines = 0
    pending = b""
    pending_start = 0  # file offset of pending[0]
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_SCAN_BLOCK)
            data = pending + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            whole, pending = data[:cut], data[cut:]
            start = pending_start
            if whole:
                breaks = np.flatnonzero(np.frombuffer(whole, dtype=np.uint8) == 10)
                line_starts = np.concatenate(([0], breaks + 1))
                lengths = np.diff(np.concatenate((line_starts, [len(whole)])))
                too_long = np.flatnonzero(lengths > max_size + 2)
                if len(too_long):
                    first = int(too_long[0])
                    _raise_huge_line(
                        path,
                        name,
                        codec,
                        delimiter,
                        max_size,
                        newlines + first + 1,
                        start + int(line_starts[first]),
                    )
                try:
                    whole.decode(first_codec if start == 0 else rest_codec)
                except UnicodeDecodeError as exc:
                    _raise_undecodable(path, name, codec, delimiter, whole, exc, newlines)
                newlines += len(breaks)
            pending_start = start + len(whole)
            if len(pending) > max_size + 2:
                _raise_huge_line(
                    path, name, codec, delimiter, max_size, newlines + 1, pending_start
                )
            if not block:
                return


def _raise_huge_line(
    path: Path,
    name: str,
    codec: codecs.CodecInfo,
    delimiter: str,
    max_size: int,
    line: int,
    line_start: int,
) -> NoReturn:
    with open(path, "rb") as handle:
        handle.seek(line_start)
        prefix = handle.read(max_size + 1).decode(codec.name, errors="replace")
    header = None if line == 1 else _header_of(path, codec.name, delimiter)
    problem = _locate_quote_problem(prefix, delimiter, max_size, ended=False)
    column = None if line == 1 else _column_name(header, problem.field_index)
    what = "the header line" if line == 1 else "field"
    raise ImportValidationError(
        name,
        [
            RowError(
                name,
                line,
                column,
                f"{what} is larger than {_size_words(max_size)}, the limit for one field or line "
                "(raise `max_field_size` in the mapping if such values are intended)",
            )
        ],
    )


def _raise_undecodable(
    path: Path,
    name: str,
    codec: codecs.CodecInfo,
    delimiter: str,
    whole: bytes,
    exc: UnicodeDecodeError,
    newlines_before: int,
) -> NoReturn:
    line_offset = whole.rfind(b"\n", 0, exc.start) + 1
    line = newlines_before + whole.count(b"\n", 0, exc.start) + 1
    prefix = whole[line_offset : exc.start].decode(codec.name, errors="replace")
    header = None if line == 1 else _header_of(path, codec.name, delimiter)
    problem = _locate_quote_problem(prefix, delimiter, ended=False)
    column = None if line == 1 else _column_name(header, problem.field_index)
    bad = whole[exc.start : min(exc.end, exc.start + 4)]
    label = "UTF-8" if codec.name in ("utf-8", "utf-8-sig") else codec.name
    hint = (
        "the file is probably in another encoding: set `encoding:` in the mapping, "
        "e.g. `encoding: cp1252` for Windows or Latin-1 exports"
        if codec.name in ("utf-8", "utf-8-sig")
        else "set the file's real encoding with `encoding:` in the mapping"
    )
    raise ImportValidationError(
        name,
        [
            RowError(
                name,
                line,
                column,
                f"byte {bad.hex(' ').upper()} at position {exc.start - line_offset + 1} "
                f"of the line is not valid {label} text; {hint}",
            )
        ],
    ) from exc


def read_table(
    path: str | Path,
    *,
    log: ErrorLog,
    encoding: str | None = None,
    delimiter: str = ",",
    max_field_size: int = DEFAULT_MAX_FIELD_SIZE,
    name: str | None = None,
) -> RawTable:
    """Read a CSV file strictly.

    Fatal problems (unreadable, empty, undecodable, a field or line over
    ``max_field_size``, an unclosed quote or stray text after a closing quote) raise
    :class:`ImportValidationError` at once. Rows with more or fewer fields than the
    header are reported to ``log`` and left out.
    """
    path = Path(path)
    name = name or path.name
    if path.suffix == ".gz":
        with _gunzipped(path, name) as plain:
            return read_table(
                plain,
                log=log,
                encoding=encoding,
                delimiter=delimiter,
                max_field_size=max_field_size,
                name=name,
            )
    codec = _codec(encoding or DEFAULT_ENCODING)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImportValidationError(
            name, [RowError(name, None, None, f"cannot read the file: {exc.strerror or exc}")]
        ) from exc
    if size == 0:
        raise ImportValidationError(
            name,
            [
                RowError(
                    name, None, None, "the file is empty; expected a header line of column names"
                )
            ],
        )
    if _ascii_compatible(codec):
        _scan(path, name, codec, delimiter, max_field_size)
    records, line_num = _parse(path, name, codec, delimiter, max_field_size)

    lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    if line_num == len(records):
        starts = np.arange(1, len(records) + 1, dtype=np.int64)
    else:  # some value holds a line break: find the line each record starts on
        starts = _record_starts(path, codec, delimiter, max_field_size)
    # blank lines come back as [] (or [""] / ["  "]); they are skipped
    filled = lengths > 1
    single = np.flatnonzero(lengths == 1)
    filled[single] = [bool(records[r][0].strip()) for r in single.tolist()]
    present = np.flatnonzero(filled)
    if len(present) == 0:
        raise ImportValidationError(
            name,
            [
                RowError(
                    name, None, None, "the file is empty; expected a header line of column names"
                )
            ],
        )
    header_index = int(present[0])
    header_line = int(starts[header_index])
    header = _clean_header(records[header_index], name, header_line)
    width = len(header)
    data_rows = present[1:]
    if width == 1:  # a one-column file: an empty line is an empty value, not a blank line
        data_rows = np.flatnonzero(lengths > 0)
        data_rows = data_rows[data_rows > header_index]
    if len(data_rows) == 0:
        raise ImportValidationError(
            name, [RowError(name, header_line, None, "the file has a header but no data rows")]
        )
    wrong = data_rows[lengths[data_rows] != width]
    if len(wrong):
        _report_field_counts(log, name, header, starts, lengths, wrong)
        data_rows = data_rows[lengths[data_rows] == width]
    with _bulk_allocation():
        kept = [records[r] for r in data_rows.tolist()]
        del records
        transposed = list(zip(*kept, strict=True)) if kept else [() for _ in header]
        columns = {
            column: np.array(values, dtype=object)
            for column, values in zip(header, transposed, strict=True)
        }
    return RawTable(
        name=name,
        header=header,
        header_line=header_line,
        columns=columns,
        lines=starts[data_rows],
    )


@contextmanager
def _gunzipped(path: Path, name: str) -> Iterator[Path]:
    """A gzip-compressed file decompressed into a temporary file (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="salesbot-import-") as folder:
        plain = Path(folder) / path.stem
        try:
            with gzip.open(path, "rb") as source, open(plain, "wb") as target:
                shutil.copyfileobj(source, target, MIB)
        except (OSError, EOFError) as exc:
            raise ImportValidationError(
                name, [RowError(name, None, None, f"cannot decompress the file: {exc}")]
            ) from exc
        yield plain


def _parse(
    path: Path, name: str, codec: codecs.CodecInfo, delimiter: str, max_size: int
) -> tuple[list[list[str]], int]:
    with (
        _csv_field_limit(max_size),
        open(path, encoding=codec.name, newline="") as handle,
        _bulk_allocation(),
    ):
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            records = list(reader)
        except csv.Error as exc:
            failed_at = reader.line_num
            _raise_csv_problem(path, name, codec, delimiter, max_size, failed_at, exc)
        except UnicodeDecodeError as exc:  # only for encodings the byte scan cannot check
            label = codec.name
            raise ImportValidationError(
                name,
                [
                    RowError(
                        name,
                        reader.line_num + 1,
                        None,
                        f"the text is not valid {label}; set the file's real encoding "
                        "with `encoding:` in the mapping",
                    )
                ],
            ) from exc
    return records, reader.line_num


def _record_starts(
    path: Path, codec: codecs.CodecInfo, delimiter: str, max_size: int
) -> np.ndarray:
    starts: list[int] = []
    with _csv_field_limit(max_size), open(path, encoding=codec.name, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        previous = 0
        for _ in reader:
            starts.append(previous + 1)
            previous = reader.line_num
    return np.array(starts, dtype=np.int64)


def _raise_csv_problem(
    path: Path,
    name: str,
    codec: codecs.CodecInfo,
    delimiter: str,
    max_size: int,
    failed_at: int,
    exc: csv.Error,
) -> NoReturn:
    """Turn a csv module error into a message with the record's first line and column."""
    start = 1
    with _csv_field_limit(max_size), open(path, encoding=codec.name, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        previous = 0
        try:
            for _ in reader:
                previous = reader.line_num
        except csv.Error:
            start = previous + 1
    with open(path, encoding=codec.name, errors="replace", newline="") as handle:
        lines: list[str] = []
        size = 0
        number = 0
        for number, text in enumerate(handle, start=1):
            if number >= start:
                lines.append(text)
                size += len(text)
            if number >= max(failed_at, start) or size > max_size + 2:
                break
    record = "".join(lines)
    reached_end = number >= failed_at
    problem = _locate_quote_problem(record, delimiter, max_size, ended=reached_end)
    header = None if start == 1 else _header_of(path, codec.name, delimiter)
    column = None if start == 1 else _column_name(header, problem.field_index)
    if problem.kind == "too_large" or "field larger than field limit" in str(exc):
        message = (
            f"field is larger than {_size_words(max_size)}, the limit for one field "
            "(raise `max_field_size` in the mapping if such values are intended)"
        )
    elif problem.kind == "unclosed" or "unexpected end of data" in str(exc):
        message = (
            "a quoted value starts here and its closing quote is missing "
            f"(the reader ran to line {failed_at} looking for it); close the quote, "
            'or double quotes inside a quoted value ("")'
        )
    else:
        message = (
            "unexpected text after a closing quote; a quote inside a quoted value "
            'must be doubled ("")'
        )
    raise ImportValidationError(name, [RowError(name, start, column, message)]) from exc


def _clean_header(cells: list[str], name: str, line: int) -> list[str]:
    header = [cell.strip() for cell in cells]
    seen: dict[str, int] = {}
    for index, column in enumerate(header):
        if not column:
            header[index] = f"#{index + 1}"
            continue
        if column in seen:
            raise ImportValidationError(
                name,
                [
                    RowError(
                        name,
                        line,
                        column,
                        f"the header names column {column!r} twice "
                        f"(positions {seen[column] + 1} and {index + 1})",
                    )
                ],
            )
        seen[column] = index
    return header


def _report_field_counts(
    log: ErrorLog,
    name: str,
    header: list[str],
    starts: np.ndarray,
    lengths: np.ndarray,
    rows: np.ndarray,
) -> None:
    width = len(header)
    short = rows[lengths[rows] < width]
    long = rows[lengths[rows] > width]

    def few(row: int) -> str:
        count = int(lengths[row])
        return (
            f"the row has {count} fields but the header has {width}; columns from "
            f"{header[count]!r} on are missing (a value with a line break or a "
            "delimiter may lack its quotes)"
        )

    def many(row: int) -> str:
        count = int(lengths[row])
        return (
            f"the row has {count} fields but the header has {width}; quote values "
            "that contain the delimiter"
        )

    if len(short):
        log.add_rows(name, starts, short, lambda row: header[int(lengths[row])], few)
    if len(long):
        log.add_rows(name, starts, long, _column_name(header, width), many)


# ------------------------------------------------------------- applying a mapping


@dataclass
class SourceFrame:
    """Rows of one file expressed in our fields.

    ``values[field]`` is an object array (``None`` = empty) holding text, or
    ``datetime.date`` / aware ``datetime.datetime`` for date and timestamp fields, and
    canonical values for enum fields. ``sources[field]`` names where the field came
    from, for messages. ``invalid[field]`` marks cells already reported as wrong.
    """

    file: str
    lines: np.ndarray
    values: dict[str, np.ndarray]
    sources: dict[str, str]
    invalid: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    rejects: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> str:
        return self.sources.get(name, name)

    def mark_invalid(self, name: str, rows: np.ndarray) -> None:
        mask = self.invalid.get(name)
        if mask is None:
            mask = np.zeros(len(self), dtype=bool)
            self.invalid[name] = mask
        mask[rows] = True

    def invalid_rows(self) -> np.ndarray:
        """Boolean mask of rows with at least one reported problem."""
        mask = np.zeros(len(self), dtype=bool)
        for cells in self.invalid.values():
            mask |= cells
        return mask


def per_unique(values: np.ndarray, func: Callable[[Any], Any]) -> np.ndarray:
    """Apply ``func`` once per distinct value (``None`` stays ``None``)."""
    if len(values) == 0:
        return np.array([], dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = [func(v) for v in uniques.tolist()] if len(uniques) else []
    mapped[-1] = None
    return mapped[codes]


def _clean_text(value: Any) -> str | None:
    text = value.strip() if isinstance(value, str) else value
    return text if text else None


def _token(value: str) -> str:
    return re.sub(r"[\s\-]+", "_", value.strip().lower())


def _abbreviates(short: str, long: str) -> bool:
    """``qty`` abbreviates ``quantity``: same first letter, letters in order."""
    short, long = re.sub(r"[^a-z0-9]", "", short), re.sub(r"[^a-z0-9]", "", long)
    if len(short) < 2 or len(short) >= len(long) or short[0] != long[0]:
        return False
    rest = iter(long)
    return all(char in rest for char in short)


def _close(word: str, choices: Sequence[str]) -> str | None:
    """The choice most likely meant by ``word`` (typo or abbreviation), if any."""
    lowered = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if found:
        return lowered[found[0]]
    short = [c for c in lowered if _abbreviates(c, word.lower()) or _abbreviates(word.lower(), c)]
    return lowered[short[0]] if len(short) == 1 else None


class _Unparsable:
    """Marker for a cell whose text did not parse; carries the message."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _date_parser(fmt: str | None, field_name: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            if fmt:
                return dt.datetime.strptime(text, fmt).date()
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                return dt.datetime.fromisoformat(text).date()
        except ValueError:
            expected = f"the format {fmt!r}" if fmt else "YYYY-MM-DD"
            return _Unparsable(
                f"is not a date in {expected} (got {show(text)}); if the file writes dates "
                f"differently set `dates: {{{field_name}: '%d/%m/%Y'}}` (or the matching "
                "strftime format) in the mapping"
            )

    return parse


def _datetime_parser(fmt: str | None, zone: str | None, field_name: str) -> Callable[[str], Any]:
    local = ZoneInfo(zone) if zone else dt.UTC

    def parse(text: str) -> Any:
        try:
            moment = dt.datetime.strptime(text, fmt) if fmt else dt.datetime.fromisoformat(text)
        except ValueError:
            expected = f"the format {fmt!r}" if fmt else "ISO 8601 (YYYY-MM-DD HH:MM[:SS][+HH:MM])"
            return _Unparsable(
                f"is not a timestamp in {expected} (got {show(text)}); set "
                f"`dates: {{{field_name}: '%d/%m/%Y %H:%M'}}` (or the matching strftime "
                "format) in the mapping"
            )
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=local)
        return moment.astimezone(dt.UTC)

    return parse


def _enum_parser(
    choices: tuple[str, ...], field_name: str, has_value_map: bool
) -> Callable[[str], Any]:
    by_token = {_token(c): c for c in choices}

    def parse(text: str) -> Any:
        if text in choices:
            return text
        canonical = by_token.get(_token(text))
        if canonical is not None:
            return canonical
        hint = (
            f"add it to `values: {{{field_name}: ...}}` in the mapping"
            if has_value_map
            else f"map it with `values: {{{field_name}: {{{show(text)}: {choices[-1]}}}}}` in the mapping"
        )
        return _Unparsable(
            f"unknown {field_name.replace('_', ' ')} {show(text)}; allowed: "
            f"{', '.join(choices)} ({hint})"
        )

    return parse


def _number_normaliser(decimal: str, thousands: str | None) -> Callable[[Any], Any]:
    """Rewrite ``1.234,5`` (or ``1,234.5``) to ``1234.5`` for the number parser."""

    def normalise(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        if thousands:
            text = text.replace(thousands, "")
        return text.replace(decimal, ".") if decimal != "." else text

    return normalise


def fold(text: str) -> str:
    """The form value maps and stage rules compare: trimmed, case-folded, inner runs of
    blanks as one space."""
    return " ".join(text.split()).casefold()


class ValueMap:
    """A mapping's ``values`` table for one field: source text -> our value. Keys match
    ignoring case and surrounding or repeated blanks; ``"*"`` catches the rest. Remembers
    which cells a key matched, so a map that matched nothing can be reported."""

    def __init__(self, table: dict[str, Scalar]) -> None:
        self.fallback_set = "*" in table
        self.fallback = table.get("*")
        self.table = {fold(k): v for k, v in table.items() if k != "*"}
        self.keys = [k for k in table if k != "*"]
        self.matched = 0
        self.seen: list[str] = []

    @staticmethod
    def _convert(value: Scalar) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        text = str(value).strip()
        return text or None

    def __call__(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text
        self.seen.append(text)
        folded = fold(text)
        if folded in self.table:
            self.matched += 1
            return self._convert(self.table[folded])
        if self.fallback_set:
            return self._convert(self.fallback)
        return text

    def unmatched_warning(self, field_name: str, column: str) -> str | None:
        """A sentence when no key of the map matched any value of the file."""
        if not self.keys or self.matched or not self.seen:
            return None
        shown = ", ".join(show(v) for v in sorted(self.seen)[:8])
        more = ", ..." if len(self.seen) > 8 else ""
        return (
            f"the value map for {field_name} matched no value of column {column} "
            f"(its keys: {', '.join(show(k) for k in self.keys[:8])}; the file's values: "
            f"{shown}{more}); check the map's keys"
        )


class _Columns:
    """The columns a mapping may use: the file's own and those added by lookups.
    Cells are cleaned (stripped, empty -> None) on first use only."""

    def __init__(self, raw: RawTable) -> None:
        self._raw: dict[str, np.ndarray] = dict(raw.columns)
        self._clean: dict[str, np.ndarray] = {}
        self.labels: dict[str, str] = {column: column for column in raw.header}
        self.unmatched: dict[str, np.ndarray] = {}  # rows a lookup could not fill

    def __contains__(self, name: object) -> bool:
        return name in self._raw or name in self._clean

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._clean:
            self._clean[name] = per_unique(self._raw.pop(name), _clean_text)
        return self._clean[name]

    def add(self, name: str, cells: np.ndarray, label: str, unmatched: np.ndarray) -> None:
        self._clean[name] = cells
        self.labels[name] = label
        self.unmatched[name] = unmatched

    def names(self) -> list[str]:
        return list(self.labels)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows of ``mask`` (after skip rules)."""
        positions = np.flatnonzero(mask)
        self._raw = {k: v[positions] for k, v in self._raw.items()}
        self._clean = {k: v[positions] for k, v in self._clean.items()}
        index = np.full(len(mask), -1, dtype=np.int64)
        index[positions] = np.arange(len(positions))
        self.unmatched = {k: index[v][index[v] >= 0] for k, v in self.unmatched.items()}


def _apply_skip(rules: Sequence[SkipRule], available: _Columns, reasons: np.ndarray) -> None:
    for rule in rules:
        hits = rule.hits(available[rule.column]) & pd.isna(reasons)
        reasons[hits] = rule.describe()


_EXPR_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.USub,
    ast.UAdd,
    ast.Constant,
    ast.Name,
    ast.Load,
)


def _numbers(
    cells: np.ndarray, mapping: Mapping, log: ErrorLog, file: str, lines: np.ndarray, label: str
) -> np.ndarray:
    """Cells as floats (NaN = empty); cells that are not numbers are errors."""
    text = per_unique(cells, _number_normaliser(mapping.decimal, mapping.thousands))
    numbers = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    bad = np.flatnonzero(np.isnan(numbers) & ~pd.isna(cells))
    if len(bad):
        log.add_rows(
            file, lines, bad, label, lambda row: f"is not a number (got {show(cells[row])})"
        )
    return numbers


def _evaluate(
    expr: str, available: _Columns, mapping: Mapping, log: ErrorLog, file: str, lines: np.ndarray
) -> np.ndarray:
    """An arithmetic expression (+ - * / and parentheses) over columns, row by row;
    a column is named as it is (``Quantity * UnitPrice``) or in braces (``{Unit Price}``)."""
    names: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        key = f"__c{len(names)}"
        names[key] = match.group(1)
        return key

    source = re.sub(r"\{([^{}]+)\}", placeholder, expr)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise MappingError(f"expression {expr!r} is not valid arithmetic") from None
    for node in ast.walk(tree):
        if not isinstance(node, _EXPR_NODES):
            raise MappingError(
                f"expression {expr!r} may use only column names, numbers, + - * / and parentheses"
            )

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float) or isinstance(node.value, bool):
                raise MappingError(f"expression {expr!r}: {node.value!r} is not a number")
            return float(node.value)
        if isinstance(node, ast.Name):
            column = names.get(node.id, node.id)
            if column not in available:
                raise MappingError(
                    f"expression {expr!r} uses column {column!r}, which the file does not have"
                    + _suggest(column, available.names())
                )
            return _numbers(available[column], mapping, log, file, lines, available.labels[column])
        if isinstance(node, ast.UnaryOp):
            operand = value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        assert isinstance(node, ast.BinOp)
        left, right = value(node.left), value(node.right)
        with np.errstate(all="ignore"):
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            return left / right

    result = value(tree)
    return np.broadcast_to(np.asarray(result, dtype=float), (len(lines),)).copy()


def _computed_values(
    field_name: str,
    computed: Computed,
    available: _Columns,
    rows: int,
    mapping: Mapping,
    log: ErrorLog,
    file: str,
    lines: np.ndarray,
) -> np.ndarray:
    label = f"the computed field {field_name!r}"
    column_label = f"{field_name} (computed)"
    numbers: np.ndarray | None = None
    if computed.expr is not None:
        numbers = _evaluate(computed.expr, available, mapping, log, file, lines)
        values = np.array([None] * rows, dtype=object)
    elif computed.template is not None:
        values = _template_values(computed.template, available, rows, label)
    else:
        sources = [computed.column] if computed.column is not None else computed.first_of or []
        for column in sources:
            if column not in available:
                raise MappingError(
                    f"{label} uses column {column!r}, which the file does not have"
                    + _suggest(column, available.names())
                )
        values = np.full(rows, None, dtype=object)
        for column in sources:
            cells = available[column]
            fill = pd.isna(values) & ~pd.isna(cells)
            values[fill] = cells[fill]
    if computed.case is not None and numbers is None:
        change = {"lower": str.lower, "upper": str.upper, "title": str.title}[computed.case]
        values = per_unique(values, lambda v: change(str(v)))
    if computed.replace and numbers is None:
        values = per_unique(values, lambda v: _replaced(str(v), computed.replace))
    if computed.scale is not None and numbers is None:
        numbers = _numbers(values, mapping, log, file, lines, column_label)
    if numbers is not None:
        if computed.scale is not None:
            numbers = numbers * computed.scale
        broken = np.flatnonzero(~np.isfinite(numbers) & ~np.isnan(numbers))
        if len(broken):
            log.add_rows(
                file,
                lines,
                broken,
                column_label,
                lambda row: f"is not a finite number (got {numbers[row]})",
            )
        present = np.isfinite(numbers)
        values = np.full(rows, None, dtype=object)
        values[present] = numbers[present].tolist()
        if computed.format == "integer":
            values[present] = [_whole(v) for v in numbers[present].tolist()]
        return values
    if computed.format == "integer":
        values = per_unique(values, _whole_text)
    return values


def _replaced(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def _whole(number: float) -> Any:
    return str(int(number)) if number.is_integer() else number


def _whole_text(text: Any) -> Any:
    """``"17850.0"`` -> ``"17850"``; text that is not a whole number stays as it is."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        return text
    if math.isfinite(number) and number.is_integer() and re.fullmatch(r"[+-]?\d+\.0*", str(text)):
        return str(int(number))
    return text


def _template_values(template: str, available: _Columns, rows: int, label: str) -> np.ndarray:
    parts: list[np.ndarray | str] = []
    referenced: list[np.ndarray] = []
    for literal, column, spec, _conversion in string.Formatter().parse(template):
        if literal:
            parts.append(literal)
        if column is not None:
            if column not in available:
                raise MappingError(
                    f"{label} uses column {column!r}, which the file does not have"
                    + _suggest(column, available.names())
                )
            cells = available[column]
            if spec == "integer":  # "{CustomerID:integer}": 17850.0 -> 17850
                cells = per_unique(cells, _whole_text)
            elif spec:
                raise MappingError(f"{label}: unknown format {spec!r} (known: integer)")
            referenced.append(cells)
            parts.append(np.where(pd.isna(cells), "", cells).astype(object))
    result = np.full(rows, "", dtype=object)
    for part in parts:
        result = result + part
    result = per_unique(result, _clean_text)
    if referenced:
        empty = np.ones(rows, dtype=bool)
        for cells in referenced:
            empty &= pd.isna(cells)
        result[empty] = None
    return result


def _constant_text(value: Scalar) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip() or None


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = _close(word, choices)
    shown = ", ".join(choices[:30]) + (", ..." if len(choices) > 30 else "")
    if close:
        return f" (did you mean {close!r}? available: {shown})"
    return f" (available: {shown})"


def _normal_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _unknown_fields(mapping: Mapping, schema: dict[str, FieldSpec]) -> list[str]:
    named = [f for _source, f in mapping.targets()]
    named += [*mapping.templates, *mapping.constants, *mapping.values, *mapping.dates]
    named += list(mapping.fields)
    return [f for f in dict.fromkeys(named) if f not in schema]


def apply_mapping(
    raw: RawTable,
    mapping: Mapping,
    schema: dict[str, FieldSpec],
    *,
    base_dir: Path,
    log: ErrorLog,
    derived: Sequence[str] = (),
) -> SourceFrame:
    """Express ``raw`` in our fields: joins lookups, applies renames, templates,
    constants and value maps, and parses dates, timestamps and enums.

    ``derived`` names required fields the importer fills in itself. Raises
    :class:`MappingError` when the mapping names things that do not exist and
    :class:`ImportValidationError` when required columns are missing. Cell-level
    problems go to ``log``.
    """
    name = raw.name
    rows = len(raw)
    available = _Columns(raw)
    reasons = np.full(rows, None, dtype=object)
    own = [rule for rule in mapping.skip if rule.column in raw.header]
    _apply_skip(own, available, reasons)
    for lookup in mapping.lookups:
        _join(
            raw,
            lookup,
            mapping,
            available,
            base_dir=base_dir,
            log=log,
            skipped=~pd.isna(reasons),
        )
    later = [rule for rule in mapping.skip if rule.column not in raw.header]
    for rule in later:
        if rule.column not in available:
            raise MappingError(
                f"skip rule: {name} has no column {rule.column!r}"
                + _suggest(rule.column, available.names())
            )
    _apply_skip(later, available, reasons)
    lines = raw.lines
    skipped_rows = np.flatnonzero(~pd.isna(reasons))
    skipped: dict[str, int] = {}
    rejects = None
    if len(skipped_rows):
        keep = pd.isna(reasons)
        skipped = {
            str(k): int(v) for k, v in pd.Series(reasons[skipped_rows]).value_counts().items()
        }
        rejects = pd.DataFrame({c: raw.columns[c][skipped_rows] for c in raw.header})
        rejects.insert(0, "reason", reasons[skipped_rows])
        rejects.insert(0, "line", raw.lines[skipped_rows])
        available.keep(keep)
        lines = raw.lines[keep]
        rows = int(keep.sum())

    unknown = _unknown_fields(mapping, schema)
    if unknown:
        described = []
        for field_name in unknown:
            close = _close(field_name, list(schema))
            described.append(repr(field_name) + (f" (did you mean {close!r}?)" if close else ""))
        raise MappingError(
            "the mapping names fields that this kind does not have: "
            + ", ".join(described)
            + f"; its fields are: {', '.join(schema)}"
        )

    origin: dict[str, str] = {}
    values: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    fed_by: dict[str, str] = {}  # field -> column it was taken from

    def claim(field_name: str, rule: str) -> None:
        if field_name in origin:
            raise MappingError(
                f"field {field_name!r} is set twice by the mapping ({origin[field_name]} and {rule})"
            )
        origin[field_name] = rule

    for source, field_name in mapping.targets():
        claim(field_name, f"columns: {source}")
        if source not in available:
            raise MappingError(
                f"the mapping renames column {source!r}, which {name} does not have"
                + _suggest(source, available.names())
            )
        values[field_name] = available[source]
        sources[field_name] = available.labels[source]
        fed_by[field_name] = source
    for field_name, template in mapping.templates.items():
        claim(field_name, "templates")
        values[field_name] = _template_values(
            template, available, rows, f"the template for {field_name!r}"
        )
        sources[field_name] = f"{field_name} (template)"
    for field_name, computed in mapping.fields.items():
        claim(field_name, "fields")
        values[field_name] = _computed_values(
            field_name, computed, available, rows, mapping, log, name, lines
        )
        sources[field_name] = f"{field_name} (computed)"
    for field_name, constant in mapping.constants.items():
        claim(field_name, "constants")
        values[field_name] = np.full(rows, _constant_text(constant), dtype=object)
        sources[field_name] = f"{field_name} (constant)"

    by_normal: dict[str, str] = {}
    for column in available.names():
        by_normal.setdefault(_normal_name(column), column)
    for field_name in schema:
        if field_name in values:
            continue
        same = field_name if field_name in available else by_normal.get(field_name)
        if same is not None:
            values[field_name] = available[same]
            sources[field_name] = available.labels[same]
            fed_by[field_name] = same

    missing = [
        spec.name
        for spec in schema.values()
        if spec.required and spec.name not in values and spec.name not in derived
    ]
    if missing:
        unused = [c for c in raw.header if c not in sources.values()]
        problems = []
        for field_name in missing:
            close = _close(field_name, unused)
            if close:
                fix = f"if {close!r} holds it, add `columns: {{{close}: {field_name}}}` to the mapping"
            else:
                fix = f"add `columns: {{<your column>: {field_name}}}` to the mapping"
            problems.append(
                RowError(
                    name,
                    raw.header_line,
                    field_name,
                    f"required column {field_name!r} is missing; {fix} "
                    f"(the file's columns: {', '.join(raw.header)})",
                )
            )
        raise ImportValidationError(name, problems)

    frame = SourceFrame(
        file=name, lines=lines, values={}, sources=sources, skipped=skipped, rejects=rejects
    )
    for field_name, column in fed_by.items():
        unmatched = available.unmatched.get(column)
        if unmatched is not None and len(unmatched):
            frame.mark_invalid(field_name, unmatched)  # the lookup miss is already reported
    for field_name, cells in values.items():
        frame.values[field_name] = _parse_field(frame, schema[field_name], cells, mapping, log)
    return frame


def _parse_field(
    frame: SourceFrame, spec: FieldSpec, cells: np.ndarray, mapping: Mapping, log: ErrorLog
) -> np.ndarray:
    table = mapping.values.get(spec.name)
    if table is not None:
        value_map = ValueMap(table)
        cells = per_unique(cells, value_map)
        warning = value_map.unmatched_warning(spec.name, frame.column(spec.name))
        if warning:
            frame.warnings.append(warning)
    if spec.type in ("float", "int") and (mapping.thousands or mapping.decimal != "."):
        cells = per_unique(cells, _number_normaliser(mapping.decimal, mapping.thousands))
    cells = _reject(frame, spec, cells, per_unique(cells, _cell_check(spec)), log)
    parser: Callable[[Any], Any] | None = None
    if spec.type == "date":
        parser = _date_parser(mapping.dates.get(spec.name, mapping.date_format), spec.name)
    elif spec.type == "datetime":
        parser = _datetime_parser(mapping.dates.get(spec.name), mapping.timezone, spec.name)
    elif spec.type == "enum":
        parser = _enum_parser(spec.choices, spec.name, table is not None)
    if parser is None:
        return cells
    parsed = per_unique(cells, parser)
    return _reject(frame, spec, parsed, parsed, log)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C1 codes occur in real mojibake
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"\\]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W_](?:[\w-]*[^\W_])?")


def _cell_check(spec: FieldSpec) -> Callable[[Any], Any]:
    """Checks every cell of a field must pass whatever its type: no control characters;
    numbers finite; e-mail addresses shaped like one. Returns the cell, or an
    :class:`_Unparsable` with the reason."""
    number = spec.type in ("float", "int")
    email = spec.name == "email" or spec.name.endswith("_email")

    def check(value: Any) -> Any:
        if isinstance(value, float):
            if not math.isfinite(value):
                return _Unparsable(f"must be a finite number (got {value})")
            return value
        if not isinstance(value, str):
            return value
        control = _CONTROL.search(value)
        if control:
            return _Unparsable(
                f"contains the control character U+{ord(control.group()):04X} at position "
                f"{control.start() + 1}; remove it from the export (or set the file's real "
                "`encoding:`)"
            )
        if number:
            try:
                parsed = float(value)
            except ValueError:
                return value  # the type check names it
            if not math.isfinite(parsed):
                return _Unparsable(f"must be a finite number (got {show(value)})")
        if email and not _EMAIL.fullmatch(value):
            return _Unparsable(
                f"is not an e-mail address (got {show(value)}); an address has no spaces and "
                "looks like name@example.com"
            )
        return value

    return check


def _reject(
    frame: SourceFrame, spec: FieldSpec, cells: np.ndarray, checked: np.ndarray, log: ErrorLog
) -> np.ndarray:
    """Report the cells ``checked`` marks as unparsable; they become empty."""
    broken = np.flatnonzero([isinstance(v, _Unparsable) for v in checked.tolist()])
    if not len(broken):
        return cells
    log.add_rows(
        frame.file, frame.lines, broken, frame.column(spec.name), lambda row: checked[row].message
    )
    cells = cells.copy()
    cells[broken] = None
    frame.mark_invalid(spec.name, broken)
    return cells


def _join(
    raw: RawTable,
    lookup: Lookup,
    mapping: Mapping,
    available: _Columns,
    *,
    base_dir: Path,
    log: ErrorLog,
    skipped: np.ndarray,
) -> None:
    path = Path(lookup.file)
    if not path.is_absolute():
        folders = [base_dir] + ([mapping.folder] if mapping.folder is not None else [])
        found_in = [folder / path for folder in folders if (folder / path).exists()]
        if not found_in:
            raise MappingError(
                f"lookup file {lookup.file!r} not found (looked in "
                f"{' and '.join(str(f) for f in dict.fromkeys(folders))}); lookup paths are "
                "relative to the folder of the imported file, else of the mapping file"
            )
        path = found_in[0]
    if not path.exists():
        raise MappingError(f"lookup file {lookup.file!r} not found")
    other = read_table(
        path,
        log=log,
        encoding=lookup.encoding or mapping.encoding,
        delimiter=lookup.delimiter or mapping.delimiter,
        max_field_size=mapping.max_field_size,
    )
    if lookup.match not in available:
        raise MappingError(
            f"lookup {lookup.file}: {raw.name} has no column {lookup.match!r} to match on"
            + _suggest(lookup.match, available.names())
        )
    if lookup.key_column not in other.columns:
        raise MappingError(
            f"lookup {lookup.file}: it has no key column {lookup.key_column!r}"
            + _suggest(lookup.key_column, other.header)
        )
    added = lookup.added()
    for column, new_name in added.items():
        if column not in other.columns:
            raise MappingError(
                f"lookup {lookup.file}: it has no column {column!r} to add"
                + _suggest(column, other.header)
            )
        if new_name in available:
            raise MappingError(
                f"lookup {lookup.file}: column {new_name!r} already exists in {raw.name}; "
                f"give the added column another name, e.g. `add: {{{column}: {column}_{path.stem}}}`"
            )
    keys = per_unique(other.columns[lookup.key_column], _clean_text)
    present = ~pd.isna(keys)
    order = np.arange(len(keys))
    if lookup.order_by is not None:
        if lookup.order_by not in other.columns:
            raise MappingError(
                f"lookup {lookup.file}: it has no column {lookup.order_by!r} to order by"
                + _suggest(lookup.order_by, other.header)
            )
        by = pd.Series(per_unique(other.columns[lookup.order_by], _clean_text), dtype=object)
        numbers = pd.to_numeric(by, errors="coerce")
        rank = numbers if numbers.notna().sum() == by.notna().sum() else by.astype(str)
        ranks = rank.rank(method="first").fillna(len(keys) + 1).to_numpy()
        order = np.lexsort((np.arange(len(keys)), ranks))
    in_order = pd.Series(keys[order], dtype=object).duplicated(keep="first").to_numpy()
    repeated = np.zeros(len(keys), bool)
    repeated[order] = in_order
    repeated &= present
    first = present & ~repeated
    first_rows = np.flatnonzero(first)
    if repeated.any() and lookup.repeated == "error":
        first_line = dict(zip(keys[first].tolist(), other.lines[first].tolist(), strict=True))
        log.add_rows(
            other.name,
            other.lines,
            np.flatnonzero(repeated),
            lookup.key_column,
            lambda row: (
                f"key {show(keys[row])} appears again (first on line {first_line[keys[row]]}); "
                "a lookup file needs one row per key"
            ),
        )
    index = pd.Index(keys[first], dtype=object)
    wanted = available[lookup.match]
    position = index.get_indexer(pd.Index(wanted, dtype=object))
    found = position >= 0
    unmatched = np.flatnonzero(~found & ~pd.isna(wanted) & ~skipped)
    if lookup.required and len(unmatched):
        log.add_rows(
            raw.name,
            raw.lines,
            unmatched,
            available.labels[lookup.match],
            lambda row: f"no row of {other.name} has {lookup.key_column} = {show(wanted[row])}",
        )
    for column, new_name in added.items():
        source = per_unique(other.columns[column], _clean_text)[first_rows]
        cells = np.full(len(raw), None, dtype=object)
        cells[found] = source[position[found]]
        available.add(
            new_name,
            cells,
            f"{column} (from {other.name})",
            unmatched if lookup.required else np.array([], dtype=np.int64),
        )


def field_specs(
    model: type[BaseModel], *, extra: dict[str, FieldSpec] | None = None
) -> dict[str, FieldSpec]:
    """Describe the fields of a pydantic model for :func:`apply_mapping`."""
    specs: dict[str, FieldSpec] = {}
    for field_name, info in model.model_fields.items():
        annotation = info.annotation
        args = getattr(annotation, "__args__", None)
        if args:  # X | None
            annotation = next(a for a in args if a is not type(None))
        kind: FieldType = "str"
        choices: tuple[str, ...] = ()
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            kind, choices = "enum", tuple(str(m.value) for m in annotation)
        elif annotation is bool:
            kind = "bool"
        elif annotation is int:
            kind = "int"
        elif annotation is float:
            kind = "float"
        elif annotation is dt.datetime:
            kind = "datetime"
        elif annotation is dt.date:
            kind = "date"
        specs[field_name] = FieldSpec(field_name, kind, info.is_required(), choices)
    specs.update(extra or {})
    return specs
