"""Importing CRM/ERP CSV exports into the store.

``import_file(engine, kind, path, mapping, today=...)`` reads one file (see
``store.mapping`` for the mapping format), validates every row through the
pydantic ``XCreate`` model of its kind, resolves external ids to store ids and
upserts the rows in one transaction:

- **all or nothing**: on any error nothing is written, and
  :class:`ImportValidationError` lists the problems (file, line, column, message);
- **idempotent**: rows are matched on their external id (order lines on the order
  and the line's key, targets on rep + period start + metric, stage history on
  opportunity + stage + day), so a re-import updates rows and never duplicates
  them. An update only touches the fields the file provides. Nothing is deleted,
  except that a ``stage_history`` file replaces the stored history of the
  opportunities it names (it is taken as their full history);
- **checked references**: an account, product, rep, lead, contact or opportunity id
  must exist in the store (or, for a rep's manager, in the same file); one error per
  unknown id, on its first line, listing the other lines;
- **fast**: the file is parsed once, dates, enums and references are resolved once
  per distinct value, rows are validated with plain pydantic copies of the
  ``XCreate`` models (:func:`row_model`: same fields, constraints and validators) and
  written with executemany upserts (``INSERT .. ON CONFLICT`` on SQLite and
  PostgreSQL; on SQLite straight to the driver, with a large page cache, and with
  ``order_line``'s secondary indexes built once after large loads).

Kinds and what each row becomes (fields are those of the models in ``store.models``):

=============== ===================== =================================================
kind            model                 notes
=============== ===================== =================================================
reps            RepCreate             ``manager_external_id`` may name a rep of the file
accounts        AccountCreate         ``owner_external_id``; or ``assign_owners``
contacts        ContactCreate         ``account_external_id`` required
products        ProductCreate
orders          OrderLineCreate       one row per order line; headers are derived
opportunities   OpportunityCreate     plus ``stage_changed_date``; stage history derived
stage_history   StageHistoryCreate    explicit stage history of opportunities
leads           LeadCreate
activities      ActivityCreate
targets         TargetCreate          key: rep, period_start, metric
=============== ===================== =================================================

Orders: an order line's key is ``line_external_id`` when the mapping provides it,
else the product's external id. Every line of an order must agree on account, date
and rep; the header (``sales_order``) is written from them.

Opportunities: ``is_closed`` / ``is_won`` are derived from the stage when the file
does not provide them (stages listed in the mapping's ``won_stages`` /
``lost_stages``). Unless the mapping sets ``derive_stage_history: false``, an
opportunity that is new, or whose stage differs from the stored one, gets a stage
history entry dated by ``stage_changed_date`` when given, else the close date of a
closed deal, else its created date (new) or ``today`` (changed).

Accounts without an owner: ``assign_owners: from_orders`` in an accounts or orders
mapping (or ``assign_owners_from_orders=True``) gives each account that has no owner
the rep with the most order revenue on it (ties: more lines, then the lower rep id).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    PlainValidator,
    ValidationError,
    WrapValidator,
    create_model,
)
from pydantic_core import PydanticUndefined
from sqlalchemy import (
    Boolean,
    Date,
    Float,
    Index,
    Integer,
    String,
    Table,
    TypeDecorator,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Field, SQLModel

from store import sanity
from store.db import StoreUnavailableError
from store.mapping import (
    DEFAULT_MAX_ERRORS,
    DataImportError,
    ErrorLog,
    FieldSpec,
    ImportValidationError,
    Mapping,
    MappingError,
    RowError,
    SourceFrame,
    apply_mapping,
    field_specs,
    fold,
    load_mapping,
    per_unique,
    read_table,
    show,
)
from store.models import (
    Account,
    AccountCreate,
    Activity,
    ActivityCreate,
    Contact,
    ContactCreate,
    Lead,
    LeadCreate,
    Opportunity,
    OpportunityCreate,
    OpportunityStageHistory,
    Order,
    OrderLine,
    OrderLineCreate,
    Product,
    ProductCreate,
    Rep,
    RepCreate,
    Target,
    TargetCreate,
)
from store.sanity import stage_rule_warning

__all__ = [
    "KINDS",
    "DataImportError",
    "ImportReport",
    "ImportValidationError",
    "ImportWriteError",
    "MappingError",
    "RowError",
    "TableCounts",
    "UnknownKindError",
    "assign_owners_from_orders",
    "import_file",
]

CHUNK_ROWS = 20_000
LINE_COLUMNS = (
    "order_id",
    "line_key",
    "account_id",
    "product_id",
    "order_date",
    "quantity",
    "unit_price",
    "discount",
    "amount",
)
DEFER_INDEXES_MIN_ROWS = 100_000
SQLITE_IMPORT_CACHE_KIB = 256 * 1024

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(rows_done, rows_total)`` while rows are validated and written."""


class UnknownKindError(DataImportError):
    """The import kind is not one this module knows."""


class ImportWriteError(DataImportError):
    """The database refused the rows (a constraint the checks did not foresee);
    the transaction was rolled back."""


class UnsupportedDatabaseError(DataImportError):
    """Upserts are implemented for SQLite and PostgreSQL only."""


# ------------------------------------------------------------------ input models


class StageHistoryCreate(SQLModel):
    """One explicit stage history entry: the opportunity entered ``stage`` on a day."""

    opportunity_external_id: str = Field(max_length=128)
    stage: str = Field(max_length=64)
    entered_date: dt.date
    amount: float | None = Field(default=None, ge=0)


class OpportunityImport(OpportunityCreate):
    """An opportunity row, plus the day its current stage was entered (when known)."""

    stage_changed_date: dt.date | None = None


# ------------------------------------------------------------------------ report


@dataclass(frozen=True)
class TableCounts:
    created: int
    updated: int


@dataclass
class ImportReport:
    """What an import did: rows read, rows created/updated per table, notes."""

    kind: str
    file: str
    rows: int
    tables: dict[str, TableCounts]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    facts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "rows": self.rows,
            "tables": {name: asdict(counts) for name, counts in self.tables.items()},
            "notes": list(self.notes),
            "facts": list(self.facts),
            "warnings": list(self.warnings),
            "skipped": dict(self.skipped),
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        parts = [
            f"{name}: {counts.created:,} created, {counts.updated:,} updated"
            for name, counts in self.tables.items()
        ]
        lines = [
            f"imported {self.rows:,} rows of {self.kind} from {self.file} in {self.seconds:.1f} s",
            *(f"  {part}" for part in parts),
            *(f"  {note}" for note in self.notes),
        ]
        if self.skipped:
            total = sum(self.skipped.values())
            reasons = ", ".join(f"{count:,} {reason}" for reason, count in self.skipped.items())
            lines.append(f"  skipped {total:,} rows: {reasons}")
        lines += [f"  {fact}" for fact in self.facts]
        lines += [f"warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


# ------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Ref:
    """A reference by external id from an imported field to another table."""

    field: str
    table: Table
    column: str
    noun: str
    kind: str


@dataclass(frozen=True)
class KindSpec:
    kind: str
    model: type[BaseModel]
    table_model: type[SQLModel]
    key: tuple[str, ...]
    conflict: tuple[str, ...]
    refs: tuple[Ref, ...] = ()

    @property
    def table(self) -> Table:
        return self.table_model.__table__  # type: ignore[attr-defined,no-any-return]

    def field_specs(self) -> dict[str, FieldSpec]:
        return field_specs(self.model)


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def _ref(field_name: str, model: type[SQLModel], column: str, noun: str, kind: str) -> Ref:
    return Ref(field_name, _table(model), column, noun, kind)


def _specs() -> dict[str, KindSpec]:
    rep = ("rep", "reps")
    return {
        spec.kind: spec
        for spec in (
            KindSpec(
                "reps",
                RepCreate,
                Rep,
                ("external_id",),
                ("external_id",),
                (_ref("manager_external_id", Rep, "manager_id", "manager", "reps"),),
            ),
            KindSpec(
                "accounts",
                AccountCreate,
                Account,
                ("external_id",),
                ("external_id",),
                (_ref("owner_external_id", Rep, "owner_id", *rep),),
            ),
            KindSpec(
                "contacts",
                ContactCreate,
                Contact,
                ("external_id",),
                ("external_id",),
                (_ref("account_external_id", Account, "account_id", "account", "accounts"),),
            ),
            KindSpec("products", ProductCreate, Product, ("external_id",), ("external_id",)),
            KindSpec(
                "orders",
                OrderLineCreate,
                OrderLine,
                ("order_external_id", "line_key"),
                ("order_id", "line_key"),
                (
                    _ref("account_external_id", Account, "account_id", "account", "accounts"),
                    _ref("product_external_id", Product, "product_id", "product", "products"),
                    _ref("rep_external_id", Rep, "rep_id", *rep),
                ),
            ),
            KindSpec(
                "opportunities",
                OpportunityImport,
                Opportunity,
                ("external_id",),
                ("external_id",),
                (
                    _ref("account_external_id", Account, "account_id", "account", "accounts"),
                    _ref("owner_external_id", Rep, "owner_id", *rep),
                    _ref("lead_external_id", Lead, "lead_id", "lead", "leads"),
                ),
            ),
            KindSpec(
                "stage_history",
                StageHistoryCreate,
                OpportunityStageHistory,
                ("opportunity_external_id", "stage", "entered_date"),
                ("opportunity_id", "stage", "entered_date"),
                (
                    _ref(
                        "opportunity_external_id",
                        Opportunity,
                        "opportunity_id",
                        "opportunity",
                        "opportunities",
                    ),
                ),
            ),
            KindSpec(
                "leads",
                LeadCreate,
                Lead,
                ("external_id",),
                ("external_id",),
                (
                    _ref("owner_external_id", Rep, "owner_id", *rep),
                    _ref("account_external_id", Account, "account_id", "account", "accounts"),
                ),
            ),
            KindSpec(
                "activities",
                ActivityCreate,
                Activity,
                ("external_id",),
                ("external_id",),
                (
                    _ref("rep_external_id", Rep, "rep_id", *rep),
                    _ref("account_external_id", Account, "account_id", "account", "accounts"),
                    _ref(
                        "opportunity_external_id",
                        Opportunity,
                        "opportunity_id",
                        "opportunity",
                        "opportunities",
                    ),
                    _ref("lead_external_id", Lead, "lead_id", "lead", "leads"),
                    _ref("contact_external_id", Contact, "contact_id", "contact", "contacts"),
                ),
            ),
            KindSpec(
                "targets",
                TargetCreate,
                Target,
                ("rep_external_id", "period_start", "metric"),
                ("rep_id", "period_start", "metric"),
                (_ref("rep_external_id", Rep, "rep_id", *rep),),
            ),
        )
    }


KINDS: tuple[str, ...] = (
    "reps",
    "accounts",
    "contacts",
    "products",
    "orders",
    "opportunities",
    "stage_history",
    "leads",
    "activities",
    "targets",
)


def _spec(kind: str) -> KindSpec:
    specs = _specs()
    if kind not in specs:
        raise UnknownKindError(f"unknown import kind {kind!r}; kinds: {', '.join(KINDS)}")
    return specs[kind]


# ---------------------------------------------------------------- entry point


def import_file(
    engine: Engine,
    kind: str,
    path: str | Path,
    mapping: Mapping | str | Path | None = None,
    *,
    today: dt.date,
    encoding: str | None = None,
    assign_owners_from_orders: bool = False,
    max_errors: int = DEFAULT_MAX_ERRORS,
    progress: ProgressCallback | None = None,
    rejects: Path | None = None,
) -> ImportReport:
    """Import one CSV file of ``kind`` into the store behind ``engine``.

    ``mapping`` is a :class:`Mapping`, a path to a mapping file or ``None`` (columns
    already named like our fields). ``today`` dates derived stage changes.
    ``encoding`` overrides the mapping's. Raises :class:`ImportValidationError`
    (nothing written), :class:`MappingError`, :class:`UnknownKindError`,
    :class:`ImportWriteError` or ``StoreUnavailableError``.
    """
    (report,) = import_files(
        engine,
        kind,
        [path],
        mapping,
        today=today,
        encoding=encoding,
        assign_owners_from_orders=assign_owners_from_orders,
        max_errors=max_errors,
        progress=progress,
        rejects=rejects,
    )
    return report


DERIVED_ORDER = ("reps", "accounts", "products")
"""Kinds a mapping may derive from repeated columns, in the order they are written."""


def import_files(
    engine: Engine,
    kind: str,
    paths: Sequence[str | Path],
    mapping: Mapping | str | Path | None = None,
    *,
    today: dt.date,
    encoding: str | None = None,
    assign_owners_from_orders: bool = False,
    max_errors: int = DEFAULT_MAX_ERRORS,
    progress: ProgressCallback | None = None,
    rejects: Path | None = None,
) -> list[ImportReport]:
    """Import several files of ``kind`` (``.gz`` too) in **one** transaction: if any
    file is rejected, nothing of any of them is written. The master rows a mapping's
    ``derive:`` section names (reps, accounts, products from repeated columns) are
    written first, from each file, in the same transaction. One report per file."""
    started = time.perf_counter()
    spec = _spec(kind)
    mapping = _load(mapping)
    if mapping.kind is not None and mapping.kind != kind:
        raise MappingError(f"the mapping is for kind {mapping.kind!r}, not {kind!r}")
    if encoding:
        mapping = mapping.model_copy(update={"encoding": encoding})
    assign = assign_owners_from_orders or mapping.assign_owners == "from_orders"
    if assign and kind not in ("accounts", "orders"):
        raise MappingError("assigning account owners from orders applies to accounts and orders")
    unknown = [k for k in mapping.derive if k not in DERIVED_ORDER]
    if unknown:
        raise MappingError(
            f"derive: {', '.join(unknown)} cannot be derived; choose from {', '.join(DERIVED_ORDER)}"
        )
    reports: list[ImportReport] = []
    rejected: list[pd.DataFrame] = []
    name = ", ".join(Path(p).name for p in paths)
    try:
        with engine.begin() as conn, _large_sqlite_cache(conn):
            for path in paths:
                report, skipped = _import_one(
                    conn, spec, Path(path), mapping, today, max_errors, progress
                )
                reports.append(report)
                if skipped is not None:
                    rejected.append(skipped.assign(file=Path(path).name))
            if assign:
                assigned = assign_owners_from_orders_in(conn)
                reports[-1].notes.append(
                    f"{assigned} accounts without an owner got the rep with the most order revenue"
                )
    except IntegrityError as exc:
        raise ImportWriteError(
            f"{name}: the database refused the rows, nothing was imported: {exc.orig}"
        ) from exc
    except OperationalError as exc:
        raise StoreUnavailableError(str(exc.orig) if exc.orig else str(exc)) from exc
    rejects_path = rejects or (Path(mapping.rejects) if mapping.rejects else None)
    if rejects_path is not None and rejected:
        pd.concat(rejected, ignore_index=True).to_csv(rejects_path, index=False)
        reports[-1].notes.append(f"skipped rows written to {rejects_path}")
    reports[-1].seconds = time.perf_counter() - started
    return reports


def _import_one(
    conn: Connection,
    spec: KindSpec,
    path: Path,
    mapping: Mapping,
    today: dt.date,
    max_errors: int,
    progress: ProgressCallback | None,
) -> tuple[ImportReport, pd.DataFrame | None]:
    started = time.perf_counter()
    log = ErrorLog(max_errors)
    raw = read_table(
        path,
        log=log,
        encoding=mapping.encoding,
        delimiter=mapping.delimiter,
        max_field_size=mapping.max_field_size,
    )
    derived_reports = []
    for kind in DERIVED_ORDER:
        rule = mapping.derive.get(kind)
        if rule is None:
            continue
        derived_spec = _spec(kind)
        fields = derived_spec.field_specs()
        sub = mapping.model_copy(
            update={
                # a date format given for the file's own kind (e.g. order_date) is not
                # one of the derived kind's fields
                "dates": {k: v for k, v in mapping.dates.items() if k in fields},
                "columns": rule.columns,
                "templates": rule.templates,
                "fields": rule.fields,
                "constants": rule.constants,
                "values": rule.values,
                "derive": {},
                "kind": None,
            }
        )
        frame = apply_mapping(raw, sub, fields, base_dir=path.parent, log=log)
        masters = distinct_rows(frame, pick=rule.pick)
        job = _Import(derived_spec, masters, sub, log, today=today, progress=None)
        derived_reports.append(job.run(conn))
    frame = apply_mapping(raw, mapping, spec.field_specs(), base_dir=path.parent, log=log)
    job = _Import(spec, frame, mapping, log, today=today, progress=progress)
    report = job.run(conn)
    for derived in derived_reports:
        report.tables = {**derived.tables, **report.tables}
        report.warnings = derived.warnings + report.warnings
    report.seconds = time.perf_counter() - started
    return report, frame.rejects


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def distinct_rows(frame: SourceFrame, *, pick: str) -> SourceFrame:
    """One row per distinct ``external_id`` of ``frame`` (rows without one are left
    out): each field takes the group's first non-empty value, or with
    ``pick="most_frequent"`` its most frequent one (ties: the first seen). The line of
    a row is the first line the id is on."""
    ids = frame.values["external_id"]
    present = np.flatnonzero(~pd.isna(ids))
    codes, uniques = pd.factorize(ids[present])
    data = pd.DataFrame(
        {name: cells[present] for name, cells in frame.values.items()}, dtype=object
    )
    data["__group"] = codes
    groups = data.groupby("__group", sort=True)
    if pick == "most_frequent":

        def most_frequent(cells: pd.Series) -> Any:
            counts = cells.dropna().value_counts(sort=False)
            return None if counts.empty else counts.index[int(np.argmax(counts.to_numpy()))]

        chosen = groups.agg(most_frequent)
    else:
        chosen = groups.first()
    first_rows = present[np.unique(codes, return_index=True)[1]]
    values: dict[str, np.ndarray] = {}
    for name in frame.values:
        cells = chosen[name].tolist()
        values[name] = np.array([None if _empty(v) else v for v in cells] or [], dtype=object)
    values["external_id"] = np.asarray(uniques, dtype=object)
    return SourceFrame(
        file=frame.file,
        lines=frame.lines[first_rows],
        values=values,
        sources=frame.sources,
        warnings=frame.warnings,
    )


@contextmanager
def _large_sqlite_cache(conn: Connection) -> Iterator[None]:
    """Give SQLite a large page cache while it maintains the indexes of big tables
    (with the default 2 MiB, random-key index updates keep re-reading pages)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    previous = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(previous or -2000)}")


def _load(mapping: Mapping | str | Path | None) -> Mapping:
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping):
        return mapping
    return load_mapping(mapping)


def assign_owners_from_orders(engine: Engine) -> int:
    """Give every account without an owner the rep with the most order revenue on it.
    Returns the number of accounts that got an owner."""
    with engine.begin() as conn:
        return assign_owners_from_orders_in(conn)


def assign_owners_from_orders_in(conn: Connection) -> int:
    rows = conn.execute(
        text(
            "SELECT o.account_id, o.rep_id, SUM(l.amount) AS revenue, COUNT(*) AS line_count "
            "FROM order_line l JOIN sales_order o ON o.id = l.order_id "
            "JOIN account a ON a.id = o.account_id "
            "WHERE o.rep_id IS NOT NULL AND a.owner_id IS NULL "
            "GROUP BY o.account_id, o.rep_id"
        )
    ).fetchall()
    if not rows:
        return 0
    sales = pd.DataFrame.from_records(
        rows, columns=["account_id", "rep_id", "revenue", "line_count"]
    )
    best = sales.sort_values(
        ["account_id", "revenue", "line_count", "rep_id"], ascending=[True, False, False, True]
    ).drop_duplicates("account_id")
    account = _table(Account)
    statement = (
        account.update()
        .where(account.c.id == bindparam("account"), account.c.owner_id.is_(None))
        .values(owner_id=bindparam("owner"))
    )
    conn.execute(
        statement,
        [
            {"account": int(a), "owner": int(r)}
            for a, r in zip(best["account_id"], best["rep_id"], strict=True)
        ],
    )
    return len(best)


# ------------------------------------------------------------------ validation

_FIELD_VALIDATORS: dict[str, Any] = {
    "after": AfterValidator,
    "before": BeforeValidator,
    "wrap": WrapValidator,
    "plain": PlainValidator,
}


@lru_cache(maxsize=32)
def row_model(model: type[BaseModel]) -> type[BaseModel]:
    """A plain pydantic copy of an ``XCreate`` model: the same fields, constraints and
    field validators, without SQLModel's ``__init__`` (which costs more than the
    validation itself). Models with model-level validators are used as they are."""
    decorators = model.__pydantic_decorators__
    if decorators.model_validators or decorators.root_validators:
        return model
    extra: dict[str, list[Any]] = {}
    for decorator in decorators.field_validators.values():
        bound = getattr(model, decorator.cls_var_name)
        for name in decorator.info.fields:
            extra.setdefault(name, []).append(_FIELD_VALIDATORS[decorator.info.mode](bound))
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        if name in extra:
            annotation = Annotated[(annotation, *extra[name])]
        fields[name] = (annotation, info)
    return create_model(f"{model.__name__}Row", **fields)  # type: ignore[call-overload,no-any-return]


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def describe_error(error: Any) -> str:
    """A pydantic error as a sentence about the cell."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    messages = {
        "missing": "is required but empty",
        "greater_than": f"must be greater than {_number(ctx.get('gt'))}",
        "greater_than_equal": f"must be at least {_number(ctx.get('ge'))}",
        "less_than": f"must be less than {_number(ctx.get('lt'))}",
        "less_than_equal": f"must be at most {_number(ctx.get('le'))}",
        "string_too_long": f"is longer than {ctx.get('max_length')} characters",
        "string_too_short": f"is shorter than {ctx.get('min_length')} characters",
        "float_parsing": "is not a number",
        "float_type": "is not a number",
        "finite_number": "must be a finite number",
        "int_parsing": "is not a whole number",
        "int_from_float": "is not a whole number",
        "int_type": "is not a whole number",
        "bool_parsing": "is not a yes/no value (use true/false, yes/no or 1/0)",
        "bool_type": "is not a yes/no value (use true/false, yes/no or 1/0)",
        "enum": f"is not one of {ctx.get('expected')}",
    }
    message = messages.get(kind) or str(error.get("msg", "is not valid")).removeprefix(
        "Value error, "
    )
    if kind != "missing" and "input" in error and not isinstance(error["input"], dict):
        message += f" (got {show(error['input'])})"
    return message


def defer_indexes(conn: Connection, table: Table, *, rows: int, stored: int) -> list[Index]:
    """Drop ``table``'s non-unique indexes before a large load into SQLite, so that they
    are built once from the loaded rows instead of updated row by row; the caller
    re-creates the returned indexes. Only inside an open transaction (SQLite's DDL is
    transactional, so a rollback restores them) and only when the load is at least
    ``DEFER_INDEXES_MIN_ROWS`` rows and as large as the table already is."""
    if conn.dialect.name != "sqlite" or rows < DEFER_INDEXES_MIN_ROWS or rows < stored:
        return []
    if not conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        return []
    dropped = sorted((i for i in table.indexes if not i.unique), key=lambda i: str(i.name))
    for index in dropped:
        index.drop(bind=conn)
    return dropped


_DRIVER_TYPES = (Integer, Float, String, Date, Boolean)


def _driver_ready(column_type: Any) -> bool:
    """True for types the sqlite3 driver stores exactly as SQLAlchemy would."""
    if isinstance(column_type, TypeDecorator):
        overridden = type(column_type).process_bind_param is not TypeDecorator.process_bind_param
        return not overridden and _driver_ready(column_type.impl_instance)
    return isinstance(column_type, _DRIVER_TYPES)


def execute_many(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """``conn.execute(statement, rows)``, faster on SQLite (see :func:`execute_rows`)."""
    if rows:
        keys = list(rows[0])
        execute_rows(conn, statement, keys, [tuple(row[k] for k in keys) for row in rows])


def execute_rows(
    conn: Connection, statement: Any, keys: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Execute ``statement`` once per row of values for ``keys``. On SQLite, for tables
    whose columns are numbers, text, dates and booleans, the compiled statement goes to
    the driver's executemany with the values SQLAlchemy would have bound (dates as
    ``YYYY-MM-DD``), skipping SQLAlchemy's per-row parameter processing; elsewhere it is
    ``conn.execute(statement, [dict, ...])``."""
    if not rows:
        return
    table: Table = statement.table
    plain = conn.dialect.name == "sqlite" and all(_driver_ready(table.c[key].type) for key in keys)
    if not plain:
        conn.execute(statement, [dict(zip(keys, row, strict=True)) for row in rows])
        return
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys))
    order = list(compiled.positiontup or ())
    dates = [i for i, key in enumerate(order) if table.c[key].type._type_affinity is Date]
    if order != list(keys):
        position = [list(keys).index(key) for key in order]
        rows = [tuple(row[i] for i in position) for row in rows]
    if dates:
        converted = []
        for row in rows:
            values = list(row)
            for i in dates:
                if values[i] is not None:
                    values[i] = values[i].isoformat()
            converted.append(tuple(values))
        rows = converted
    conn.exec_driver_sql(str(compiled), rows)


def _disagreement(
    orders: np.ndarray, cells: np.ndarray, noun: str, lines: np.ndarray, expected_row: np.ndarray
) -> Callable[[int], str]:
    def message(row: int) -> str:
        first = int(expected_row[row])
        return (
            f"order {show(orders[row])} has {noun} {show(cells[first])} on line "
            f"{int(lines[first])}, not {show(cells[row])}; all lines of an order must agree"
        )

    return message


def _membership(members: set[str]) -> Callable[[Any], str]:
    """``"true"`` for a stage in ``members``, compared ignoring case and blanks."""
    folded = {fold(m) for m in members}

    def flag(stage: Any) -> str:
        return "true" if isinstance(stage, str) and fold(stage) in folded else "false"

    return flag


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class _Import:
    """One file's import: checks, validation and writes inside one transaction."""

    def __init__(
        self,
        spec: KindSpec,
        frame: SourceFrame,
        mapping: Mapping,
        log: ErrorLog,
        *,
        today: dt.date,
        progress: ProgressCallback | None,
    ) -> None:
        self.spec = spec
        self.frame = frame
        self.mapping = mapping
        self.log = log
        self.today = today
        self.progress = progress
        self.schema = spec.field_specs()
        self.report = ImportReport(kind=spec.kind, file=frame.file, rows=len(frame), tables={})
        self.line_products: list[int | None] = []
        self.deals: tuple[int, int, int, list[str]] | None = None

    # ----------------------------------------------------------- shared helpers

    def cells(self, name: str) -> np.ndarray:
        values = self.frame.values.get(name)
        if values is None:
            return np.full(len(self.frame), None, dtype=object)
        return values

    def provided(self, name: str) -> bool:
        return name in self.frame.values

    def id_map(self, conn: Connection, table: Table) -> dict[str, int]:
        rows = conn.execute(select(table.c.external_id, table.c.id)).fetchall()
        return {external_id: ident for external_id, ident in rows}

    def resolve(
        self,
        conn: Connection,
        ref: Ref,
        *,
        also: Iterable[str] = (),
        known: dict[str, int] | None = None,
    ) -> list[int | None]:
        """Store ids for ``ref``'s column (None where empty); unknown ids are errors.
        ``also`` lists external ids that are fine although not stored yet."""
        if not self.provided(ref.field):
            return [None] * len(self.frame)
        known = self.id_map(conn, ref.table) if known is None else known
        cells = self.frame.values[ref.field]
        codes, uniques = pd.factorize(cells, use_na_sentinel=True)
        pending = set(also)
        ids: list[int | None] = []
        bad: list[int] = []
        for position, external_id in enumerate(uniques.tolist()):
            ident = known.get(external_id)
            ids.append(ident)
            if ident is None and external_id not in pending:
                bad.append(position)
        if bad:
            rows = np.flatnonzero(np.isin(codes, bad))
            self.frame.mark_invalid(ref.field, rows)
            where = "in the store or in this file" if pending else "in the store"
            lines = self.frame.lines
            # one error per unknown id, on its first line, naming the other lines
            order = np.argsort(codes[rows], kind="stable")
            grouped = np.split(rows[order], np.flatnonzero(np.diff(codes[rows][order])) + 1)
            grouped.sort(key=lambda group: int(group[0]))
            for group in grouped:
                row = int(group[0])
                others = [str(int(lines[r])) for r in group[1:6]]
                also = ""
                if others:
                    more = len(group) - 1 - len(others)
                    also = f"; also on line{'s' if len(group) > 2 else ''} {', '.join(others)}"
                    also += f" and {more} more" if more > 0 else ""
                self.log.add(
                    self.frame.file,
                    int(lines[row]),
                    self.frame.column(ref.field),
                    f"unknown {ref.noun} {show(cells[row])}: no {ref.noun} has this id "
                    f"{where} (import {ref.kind} first, or fix the id){also}",
                )
        lookup = np.array([*ids, None], dtype=object)
        return lookup[codes].tolist()  # type: ignore[no-any-return]

    def key_cells(self, name: str) -> np.ndarray:
        cells = self.cells(name)
        info = self.spec.model.model_fields.get(name)
        if info is not None and info.default not in (None, PydanticUndefined):
            cells = np.where(pd.isna(cells), info.default, cells).astype(object)
        return cells

    def check_duplicates(
        self, names: Sequence[str], describe: Callable[[int, int], str], column: str
    ) -> None:
        """Rows whose key repeats an earlier row's are errors naming the first line."""
        keys = pd.DataFrame({f"k{i}": self.key_cells(n) for i, n in enumerate(names)})
        complete = ~keys.isna().any(axis=1).to_numpy()
        repeated = keys.duplicated(keep="first").to_numpy() & complete
        if not repeated.any():
            return
        group = keys.groupby(list(keys.columns), dropna=False, sort=False).ngroup().to_numpy()
        first_of_group = np.full(int(group.max()) + 1, -1, dtype=np.int64)
        firsts = np.flatnonzero(~repeated)
        first_of_group[group[firsts[::-1]]] = firsts[::-1]
        rows = np.flatnonzero(repeated)
        lines = self.frame.lines
        self.log.add_rows(
            self.frame.file,
            lines,
            rows,
            column,
            lambda row: describe(row, int(lines[first_of_group[group[row]]])),
        )
        self.frame.mark_invalid(names[0], rows)

    def check_unique_in_store(
        self, conn: Connection, name: str, *, normalise: Callable[[str], str] = str
    ) -> None:
        """A unique column (e.g. a rep's e-mail) must not repeat within the file, nor
        belong to another record in the store."""
        if not self.provided(name):
            return
        table = self.spec.table
        cells = per_unique(self.frame.values[name], normalise)
        owners = {
            normalise(value): external_id
            for external_id, value in conn.execute(
                select(table.c.external_id, table.c[name]).where(table.c[name].is_not(None))
            ).fetchall()
        }
        ids = self.cells("external_id")
        label = name.replace("_", " ")
        clash = [
            row
            for row, (value, external_id) in enumerate(
                zip(cells.tolist(), ids.tolist(), strict=True)
            )
            if value is not None and owners.get(value, external_id) != external_id
        ]
        if clash:
            self.log.add_rows(
                self.frame.file,
                self.frame.lines,
                np.array(clash, dtype=np.int64),
                self.frame.column(name),
                lambda row: (
                    f"{label} {show(cells[row])} already belongs to {self.spec.kind[:-1]} "
                    f"{show(owners[cells[row]])} in the store"
                ),
            )
        self.frame.values[f"__{name}_normalised"] = cells
        self.check_duplicates(
            [f"__{name}_normalised"],
            lambda row, first: f"{label} {show(cells[row])} is also on line {first}",
            self.frame.column(name),
        )
        del self.frame.values[f"__{name}_normalised"]

    def validate(self, start: int, stop: int) -> tuple[list[int], list[dict[str, Any]]]:
        """Run rows ``start:stop`` through the kind's pydantic model."""
        validator = row_model(self.spec.model).__pydantic_validator__
        names = [n for n in self.schema if n in self.frame.values]
        arrays = [self.frame.values[n][start:stop].tolist() for n in names]
        invalid = {
            n: mask[start:stop] for n, mask in self.frame.invalid.items() if mask[start:stop].any()
        }
        rows: list[int] = []
        values: list[dict[str, Any]] = []
        file, lines = self.frame.file, self.frame.lines
        sparse = [n for n, column in zip(names, arrays, strict=True) if None in column]
        for offset, cells in enumerate(zip(*arrays, strict=True)):
            data = dict(zip(names, cells, strict=False))
            for empty in sparse:  # an empty cell is a missing value, so defaults apply
                if data[empty] is None:
                    del data[empty]
            try:
                instance = validator.validate_python(data)
            except ValidationError as exc:
                row = start + offset
                for error in exc.errors(include_url=False):
                    name = str(error["loc"][0]) if error["loc"] else None
                    if name in invalid and invalid[name][offset]:
                        continue  # this cell's problem is already reported
                    column = self.frame.column(name) if name else None
                    self.log.add(file, int(lines[row]), column, describe_error(error))
                continue
            record = instance.__dict__
            infinite = [
                n for n, v in record.items() if isinstance(v, float) and not math.isfinite(v)
            ]
            if infinite:  # e.g. a number past float range after a computed field
                for name in infinite:
                    self.log.add(
                        file,
                        int(lines[start + offset]),
                        self.frame.column(name),
                        f"must be a finite number (got {record[name]})",
                    )
                continue
            rows.append(start + offset)
            values.append(record)
        return rows, values

    def chunks(self) -> Iterable[tuple[int, int]]:
        total = len(self.frame)
        if self.progress is not None:
            self.progress(0, total)
        for start in range(0, total, CHUNK_ROWS):
            yield start, min(total, start + CHUNK_ROWS)
            if self.progress is not None:
                self.progress(min(total, start + CHUNK_ROWS), total)

    def table_columns(self) -> list[str]:
        table = self.spec.table
        return [n for n in self.schema if n in table.c and n != "id"]

    def insert_defaults(self, present: Iterable[str]) -> dict[str, Any]:
        """Values for NOT NULL table columns the input model does not carry
        (e.g. ``created_at``), from the table model's defaults."""
        defaults: dict[str, Any] = {}
        present = set(present)
        for name, info in self.spec.table_model.model_fields.items():
            if name in present or name == "id" or name not in self.spec.table.c:
                continue
            if info.default_factory is not None:
                defaults[name] = info.default_factory()  # type: ignore[call-arg]
        return defaults

    def update_columns(self, columns: Iterable[str]) -> list[str]:
        chosen = [c for c in columns if self.provided(c)]
        chosen += [ref.column for ref in self.spec.refs if self.provided(ref.field)]
        return [c for c in dict.fromkeys(chosen) if c not in self.spec.conflict]

    def count(self, conn: Connection, table: Table) -> int:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def fail_if_errors(self) -> None:
        if self.log:
            raise self.log.fail(self.frame.file)

    # ------------------------------------------------------------------ running

    def run(self, conn: Connection) -> ImportReport:
        if self.spec.kind == "orders":
            self.run_orders(conn)
        else:
            self.run_records(conn)
        self.check_sanity(conn)
        return self.report

    def check_sanity(self, conn: Connection) -> None:
        """Facts about what went in, and warnings naming likely mapping mistakes."""
        report, frame = self.report, self.frame
        report.warnings[:0] = frame.warnings
        report.skipped.update(frame.skipped)
        for name, spec in self.schema.items():
            if spec.type != "date" or not self.provided(name):
                continue
            dates = sanity.dates_of(frame.values[name])
            label = name.replace("_", " ")
            fact = sanity.date_range_fact(label, dates)
            if fact:
                report.facts.append(fact)
            warning = sanity.first_of_month_warning(name, frame.column(name), dates)
            if warning:
                report.warnings.append(warning)
        for name in ("unit_price",) if self.spec.kind == "orders" else ():
            # list prices and deal values are often whole sums; line prices rarely
            if self.provided(name):
                warning = sanity.cents_warning(
                    name, frame.column(name), sanity.numbers_of(frame.values[name])
                )
                if warning:
                    report.warnings.append(warning)
        if self.spec.kind == "products" and self.provided("category"):
            warning = sanity.one_category_warning("product", frame.values["category"].tolist())
            if warning:
                report.warnings.append(warning)
        if self.spec.kind == "orders" and self.line_products:
            product = _table(Product)
            category = dict(conn.execute(select(product.c.id, product.c.category)).fetchall())
            warning = sanity.one_category_warning(
                "order line", [category.get(p) for p in self.line_products if p is not None]
            )
            if warning:
                report.warnings.append(warning)
        if self.deals is not None:
            outcome = sanity.deal_outcome(*self.deals)
            report.facts += outcome.facts
            report.warnings += outcome.warnings
        counts = []
        for table_model, noun in (
            (Rep, "reps"),
            (Account, "accounts"),
            (Product, "products"),
            (Order, "orders"),
            (OrderLine, "order lines"),
            (Opportunity, "deals"),
        ):
            counts.append(f"{self.count(conn, _table(table_model)):,} {noun}")
        report.facts.append(f"the store now holds {', '.join(counts)}")

    def run_records(self, conn: Connection) -> None:
        spec = self.spec
        kind = spec.kind
        key_label = self.frame.column(spec.key[0])
        if spec.key == ("external_id",):
            self.check_duplicates(
                spec.key,
                lambda row, first: (
                    f"duplicate id {show(self.cells('external_id')[row])} (first on line {first})"
                ),
                key_label,
            )
        else:
            shown = ", ".join(spec.key)
            self.check_duplicates(
                spec.key,
                lambda row, first: f"duplicate row: the same {shown} as line {first}",
                key_label,
            )
        if kind == "reps":
            self.check_unique_in_store(conn, "email", normalise=str.lower)
            self.check_unique_in_store(conn, "slack_user_id")
        if kind == "opportunities":
            self.derive_closed_flags()
            self.fill_created_dates(conn)

        ref_ids: dict[str, list[int | None]] = {}
        for ref in spec.refs:
            if kind == "reps":
                continue  # managers are linked after the reps are written
            ref_ids[ref.field] = self.resolve(conn, ref)
        manager_links: list[tuple[int, str | None]] = []
        if kind == "reps":
            self.check_managers(conn)

        table = spec.table
        columns = self.table_columns()
        refs = [ref for ref in spec.refs if kind != "reps"]
        before = self.count(conn, table)
        existing_stages = self.stored_stages(conn) if kind == "opportunities" else {}
        replaced: set[tuple[Any, ...]] = set()
        if kind == "stage_history" and not self.log:
            replaced = self.clear_history(conn, ref_ids["opportunity_external_id"])
        written: list[tuple[int, dict[str, Any]]] = []
        statement = None
        defaults: dict[str, Any] = {}
        for start, stop in self.chunks():
            rows, values = self.validate(start, stop)
            self.check_rows(rows, values)
            if self.log:
                continue
            params = []
            for row, record in zip(rows, values, strict=True):
                param = {c: _plain(record[c]) for c in columns}
                for ref in refs:
                    param[ref.column] = ref_ids[ref.field][row]
                params.append(param)
                if kind == "reps" and self.provided("manager_external_id"):
                    manager_links.append((row, record["manager_external_id"]))
                if kind == "opportunities":
                    written.append((row, record))
                elif kind == "stage_history":
                    written.append((row, param))
            if params:
                if statement is None:
                    statement = self.upsert_statement(
                        conn, table, spec.conflict, self.update_columns(columns)
                    )
                    defaults = self.insert_defaults(params[0])
                if defaults:
                    for param in params:
                        param.update(defaults)
                execute_many(conn, statement, params)
        self.fail_if_errors()
        after = self.count(conn, table)
        self.report.tables[table.name] = TableCounts(
            after - before, len(self.frame) - (after - before)
        )
        if kind == "reps" and manager_links:
            self.link_managers(conn, manager_links)
        if kind == "opportunities":
            won = sum(1 for _r, record in written if record["is_won"])
            lost = sum(1 for _r, r in written if r["is_closed"] and not r["is_won"])
            stages = sorted({str(record["stage"]) for _r, record in written})
            self.deals = (won, lost, len(written) - won - lost, stages)
        if kind == "opportunities" and self.mapping.derive_stage_history:
            self.derive_stage_history(conn, written, existing_stages)
        if kind == "stage_history":
            entries = {(p["opportunity_id"], p["stage"], p["entered_date"]) for _r, p in written}
            self.report.tables[table.name] = TableCounts(
                len(entries - replaced), len(entries & replaced)
            )
            removed = len(replaced - entries)
            if removed:
                self.report.notes.append(
                    f"{removed} stage history entries of these opportunities were not in the "
                    "file and were removed (a history file is the full history of the "
                    "opportunities it names)"
                )

    def upsert_statement(
        self, conn: Connection, table: Table, conflict: Sequence[str], update: Sequence[str]
    ) -> Any:
        dialect = conn.dialect.name
        if dialect == "sqlite":
            insert: Any = sqlite.insert(table)
        elif dialect == "postgresql":
            insert = postgresql.insert(table)
        else:
            raise UnsupportedDatabaseError(
                f"imports need SQLite or PostgreSQL; this database is {dialect}"
            )
        if update:
            return insert.on_conflict_do_update(
                index_elements=list(conflict), set_={c: insert.excluded[c] for c in update}
            )
        return insert.on_conflict_do_nothing(index_elements=list(conflict))

    # ------------------------------------------------------------- kind details

    def check_rows(self, rows: list[int], values: list[dict[str, Any]]) -> None:
        """Checks across fields of one validated row."""
        if self.spec.kind != "targets":
            return
        for row, record in zip(rows, values, strict=True):
            if record["period_end"] < record["period_start"]:
                self.log.add(
                    self.frame.file,
                    int(self.frame.lines[row]),
                    self.frame.column("period_end"),
                    f"period end {record['period_end']} is before period start "
                    f"{record['period_start']}",
                )

    def check_managers(self, conn: Connection) -> None:
        """Managers must exist (in the store or the file), and the reporting lines of
        store and file together must not loop."""
        if not self.provided("manager_external_id"):
            return
        rep = _table(Rep)
        ref = self.spec.refs[0]
        file_ids = [i for i in self.cells("external_id").tolist() if i is not None]
        self.resolve(conn, ref, also=file_ids)
        boss = rep.alias("boss")
        managers: dict[str, str | None] = {
            external_id: manager
            for external_id, manager in conn.execute(
                select(rep.c.external_id, boss.c.external_id).select_from(
                    rep.outerjoin(boss, boss.c.id == rep.c.manager_id)
                )
            ).fetchall()
        }
        ids = self.cells("external_id").tolist()
        chosen = self.cells("manager_external_id").tolist()
        for external_id, manager in zip(ids, chosen, strict=True):
            if external_id is not None:
                managers[external_id] = manager
        for row, (external_id, manager) in enumerate(zip(ids, chosen, strict=True)):
            if external_id is None or manager is None:
                continue
            seen = {external_id}
            current: str | None = manager
            while current is not None and current not in seen:
                seen.add(current)
                current = managers.get(current)
            if current == external_id:
                message = (
                    "a rep cannot be their own manager"
                    if manager == external_id
                    else f"manager {show(manager)} makes a reporting loop back to "
                    f"{show(external_id)}"
                )
                self.log.add(
                    self.frame.file,
                    int(self.frame.lines[row]),
                    self.frame.column("manager_external_id"),
                    message,
                )

    def link_managers(self, conn: Connection, links: list[tuple[int, str | None]]) -> None:
        rep = _table(Rep)
        ids = self.id_map(conn, rep)
        external = self.cells("external_id")
        statement = (
            rep.update().where(rep.c.id == bindparam("rep")).values(manager_id=bindparam("manager"))
        )
        conn.execute(
            statement,
            [
                {"rep": ids[external[row]], "manager": ids[manager] if manager else None}
                for row, manager in links
            ],
        )

    def derive_closed_flags(self) -> None:
        """is_closed / is_won from the stage when the file does not carry them."""
        if not self.provided("stage"):
            return
        won = set(self.mapping.won_stages)
        lost = set(self.mapping.lost_stages)
        stages = self.frame.values["stage"]
        if not self.provided("is_closed") or not self.provided("is_won"):
            seen = [s for s in pd.unique(stages[~pd.isna(stages)]).tolist()]
            for rule, members in (("won_stages", won), ("lost_stages", lost)):
                folded = {fold(m) for m in members}
                if not any(fold(stage) in folded for stage in seen):
                    warning = stage_rule_warning(rule, seen, sorted(members))
                    if warning:
                        self.report.warnings.append(warning)
        for name, members in (("is_closed", won | lost), ("is_won", won)):
            if self.provided(name):
                continue
            self.frame.values[name] = per_unique(stages, _membership(members))
            self.frame.sources[name] = f"{self.frame.column('stage')} (stage)"

    def fill_created_dates(self, conn: Connection) -> None:
        """Deals without a created date (e.g. prospects never engaged) are kept: they
        keep the date stored by an earlier import, else take their close date, else
        the day of the import; a warning says how many."""
        if not self.provided("created_date"):
            return
        created = self.frame.values["created_date"]
        invalid = self.frame.invalid.get("created_date")
        missing = pd.isna(created)
        if invalid is not None:
            missing &= ~invalid  # a cell that did not parse is reported, not filled
        rows = np.flatnonzero(missing)
        if not len(rows):
            return
        table = _table(Opportunity)
        stored = dict(conn.execute(select(table.c.external_id, table.c.created_date)).fetchall())
        ids = self.cells("external_id")
        closes = self.cells("close_date")
        by_close = 0
        by_today = 0
        for row in rows.tolist():
            date = stored.get(ids[row])
            if date is None and not _empty(closes[row]):
                date = closes[row]
                by_close += 1
            if date is None:
                date = self.today
                by_today += 1
            created[row] = date
        column = self.frame.column("created_date")
        kept = len(rows) - by_close - by_today
        how = [
            f"{count:,} {what}"
            for count, what in (
                (by_close, "dated by their close date"),
                (by_today, f"dated by the day of the import ({self.today})"),
                (kept, "kept the date stored earlier"),
            )
            if count
        ]
        self.report.warnings.append(
            f"{len(rows):,} deal{'s' if len(rows) > 1 else ''} without a created date "
            f"(column {column}) kept: {', '.join(how)}"
        )

    def clear_history(
        self, conn: Connection, opportunity_ids: list[int | None]
    ) -> set[tuple[Any, ...]]:
        """Remove the stored history of the opportunities the file names (the file
        replaces it); returns the removed (opportunity_id, stage, entered_date) keys."""
        history = _table(OpportunityStageHistory)
        named = sorted({i for i in opportunity_ids if i is not None})
        removed: set[tuple[Any, ...]] = set()
        for start in range(0, len(named), 500):
            batch = named[start : start + 500]
            where = history.c.opportunity_id.in_(batch)
            removed.update(
                tuple(row)
                for row in conn.execute(
                    select(history.c.opportunity_id, history.c.stage, history.c.entered_date).where(
                        where
                    )
                ).fetchall()
            )
            conn.execute(history.delete().where(where))
        return removed

    def stored_stages(self, conn: Connection) -> dict[str, str]:
        table = _table(Opportunity)
        return {
            external_id: stage
            for external_id, stage in conn.execute(
                select(table.c.external_id, table.c.stage)
            ).fetchall()
        }

    def derive_stage_history(
        self,
        conn: Connection,
        written: list[tuple[int, dict[str, Any]]],
        stored_stages: dict[str, str],
    ) -> None:
        ids = self.id_map(conn, _table(Opportunity))
        entries = []
        for _row, record in written:
            external_id = record["external_id"]
            previous = stored_stages.get(external_id)
            if previous == record["stage"]:
                continue
            entered = record["stage_changed_date"]
            if entered is None and record["is_closed"] and record["close_date"] is not None:
                entered = record["close_date"]
            if entered is None:
                entered = record["created_date"] if previous is None else self.today
            opened = self.mapping.open_stage
            if (
                previous is None
                and opened is not None
                and fold(record["stage"]) != fold(opened)
                and record["created_date"] < entered
            ):  # a one-row-per-deal export: the deal was open from its created date
                entries.append(
                    {
                        "opportunity_id": ids[external_id],
                        "stage": opened,
                        "entered_date": record["created_date"],
                        "amount": record["amount"],
                    }
                )
            entries.append(
                {
                    "opportunity_id": ids[external_id],
                    "stage": record["stage"],
                    "entered_date": entered,
                    "amount": record["amount"],
                }
            )
        history = _table(OpportunityStageHistory)
        before = self.count(conn, history)
        if entries:
            conn.execute(
                self.upsert_statement(
                    conn, history, ("opportunity_id", "stage", "entered_date"), ()
                ),
                entries,
            )
        added = self.count(conn, history) - before
        self.report.tables[history.name] = TableCounts(added, 0)

    # ------------------------------------------------------------------ orders

    def run_orders(self, conn: Connection) -> None:
        frame = self.frame
        orders = self.cells("order_external_id")
        if self.mapping.line_numbers and not self.provided("line_external_id"):
            numbers = pd.Series(orders, dtype=object).groupby(orders, sort=False).cumcount() + 1
            frame.values["line_external_id"] = numbers.astype(str).to_numpy(dtype=object)
            frame.sources["line_external_id"] = "line number (counted within the order)"
        if self.provided("line_external_id"):
            line_keys = self.cells("line_external_id")
            empty = np.flatnonzero(pd.isna(line_keys) & ~pd.isna(orders))
            if len(empty):
                self.log.add_rows(
                    frame.file,
                    frame.lines,
                    empty,
                    frame.column("line_external_id"),
                    lambda row: "is empty; when line ids are mapped every line needs one",
                )
                frame.mark_invalid("line_external_id", empty)
        else:
            line_keys = self.cells("product_external_id")
        frame.values["line_key"] = line_keys
        key_column = frame.column(
            "line_external_id" if self.provided("line_external_id") else "product_external_id"
        )
        self.check_duplicates(
            ("order_external_id", "line_key"),
            lambda row, first: (
                f"order {show(orders[row])} has line {show(line_keys[row])} "
                f"twice (first on line {first})"
            ),
            key_column,
        )
        del frame.values["line_key"]
        self.check_order_headers(orders)
        dates = self.cells("order_date")
        undated = np.flatnonzero(pd.isna(dates) & ~pd.isna(orders))
        invalid = frame.invalid.get("order_date")
        if invalid is not None:
            undated = undated[~invalid[undated]]
        if len(undated):  # caught before the order headers are written
            self.log.add_rows(
                frame.file,
                frame.lines,
                undated,
                frame.column("order_date"),
                lambda row: "is required but empty",
            )
            frame.mark_invalid("order_date", undated)

        account_ref, product_ref, rep_ref = self.spec.refs
        account_ids = self.resolve(conn, account_ref)
        product_ids = self.resolve(conn, product_ref)
        rep_ids = self.resolve(conn, rep_ref)
        self.line_products = product_ids

        header_table = _table(Order)
        line_table = _table(OrderLine)
        orders_before = self.count(conn, header_table)
        lines_before = self.count(conn, line_table)
        order_codes, order_values = pd.factorize(orders, use_na_sentinel=True)
        order_ids: list[int | None] = []
        deferred: list[Index] = []
        if not self.log:
            order_ids = self.write_order_headers(
                conn, order_codes, order_values.tolist(), account_ids, rep_ids
            )
            deferred = defer_indexes(conn, line_table, rows=len(frame), stored=lines_before)
        line_statement = self.upsert_statement(
            conn,
            line_table,
            ("order_id", "line_key"),
            [
                "account_id",
                "product_id",
                "order_date",
                "quantity",
                "unit_price",
                "discount",
                "amount",
            ],
        )
        keys = line_keys.tolist()
        for start, stop in self.chunks():
            rows, values = self.validate(start, stop)
            if self.log:
                continue
            lines = []
            for row, record in zip(rows, values, strict=True):
                quantity = record["quantity"]
                unit_price = record["unit_price"]
                discount = record["discount"]
                if not math.isfinite(quantity * unit_price):
                    self.log.add(
                        frame.file,
                        int(frame.lines[row]),
                        frame.column("quantity"),
                        f"quantity {quantity:g} times unit price {unit_price:g} is beyond "
                        "the range of numbers the store holds",
                    )
                    continue
                lines.append(
                    (
                        order_ids[row],
                        keys[row],
                        account_ids[row],
                        product_ids[row],
                        record["order_date"],
                        quantity,
                        unit_price,
                        discount,
                        quantity * unit_price * (1.0 - discount),
                    )
                )
            if not self.log:
                execute_rows(conn, line_statement, LINE_COLUMNS, lines)
        self.fail_if_errors()
        for index in deferred:
            index.create(bind=conn)
        orders_created = self.count(conn, header_table) - orders_before
        lines_created = self.count(conn, line_table) - lines_before
        self.report.tables[header_table.name] = TableCounts(
            orders_created, len(order_values) - orders_created
        )
        self.report.tables[line_table.name] = TableCounts(lines_created, len(frame) - lines_created)

    def check_order_headers(self, orders: np.ndarray) -> None:
        """All lines of one order must name the same account, date and rep."""
        codes, _ = pd.factorize(orders, use_na_sentinel=True)
        if not len(codes):
            return
        present = codes >= 0
        _, first_rows = np.unique(codes[present], return_index=True)
        first_row_of_order = np.flatnonzero(present)[first_rows]
        lines = self.frame.lines
        for name, noun in (
            ("account_external_id", "account"),
            ("order_date", "date"),
            ("rep_external_id", "rep"),
        ):
            if not self.provided(name):
                continue
            cells = self.frame.values[name]
            value_codes, _ = pd.factorize(cells, use_na_sentinel=True)
            expected_row = np.full(len(codes), -1, dtype=np.int64)
            expected_row[present] = first_row_of_order[codes[present]]
            expected = np.where(present, value_codes[expected_row], -1)
            rows = np.flatnonzero(
                present & (value_codes >= 0) & (expected >= 0) & (value_codes != expected)
            )
            if len(rows):
                self.log.add_rows(
                    self.frame.file,
                    lines,
                    rows,
                    self.frame.column(name),
                    _disagreement(orders, cells, noun, lines, expected_row),
                )
                self.frame.mark_invalid(name, rows)

    def write_order_headers(
        self,
        conn: Connection,
        order_codes: np.ndarray,
        order_values: list[str],
        account_ids: list[int | None],
        rep_ids: list[int | None],
    ) -> list[int | None]:
        """Upsert one ``sales_order`` per order of the file; realign the stored lines
        of orders whose account or date changed. Returns each row's order id."""
        header = _table(Order)
        line_table = _table(OrderLine)
        dates = self.cells("order_date")
        present = order_codes >= 0
        _, first_rows = np.unique(order_codes[present], return_index=True)
        first_row_of_order = np.flatnonzero(present)[first_rows].tolist()
        with_rep = self.provided("rep_external_id")
        stored = {
            external_id: (ident, account_id, order_date)
            for external_id, ident, account_id, order_date in conn.execute(
                select(header.c.external_id, header.c.id, header.c.account_id, header.c.order_date)
            ).fetchall()
        }
        params = []
        moved: list[dict[str, Any]] = []
        for code, row in enumerate(first_row_of_order):
            external_id = order_values[code]
            param = {
                "external_id": external_id,
                "account_id": account_ids[row],
                "order_date": dates[row],
                "rep_id": rep_ids[row],
            }
            params.append(param)
            previous = stored.get(external_id)
            if previous is not None and previous[1:] != (param["account_id"], param["order_date"]):
                moved.append(
                    {
                        "order": previous[0],
                        "account": param["account_id"],
                        "day": param["order_date"],
                    }
                )
        update = ["account_id", "order_date"] + (["rep_id"] if with_rep else [])
        statement = self.upsert_statement(conn, header, ("external_id",), update)
        for start in range(0, len(params), CHUNK_ROWS):
            execute_many(conn, statement, params[start : start + CHUNK_ROWS])
        if moved:
            conn.execute(
                line_table.update()
                .where(line_table.c.order_id == bindparam("order"))
                .values(account_id=bindparam("account"), order_date=bindparam("day")),
                moved,
            )
        ids = self.id_map(conn, header)
        by_code = [ids[external_id] for external_id in order_values]
        lookup = np.array([*by_code, None], dtype=object)
        return lookup[order_codes].tolist()  # type: ignore[no-any-return]
