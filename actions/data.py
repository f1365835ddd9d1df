"""What the pipeline answers are computed from, kept warm in the action server.

An answer must add little to Rasa's own turn (about 50 ms for one rep with 100k accounts
in the store), and reading a scope's rows through :mod:`store.frames` on every question
costs more than that (a rep's deals and their stage history: ~100 ms on SQLite; a
manager's team: ~800 ms). So the company-wide frames that the fitted models need anyway
are kept in memory once per process and store, and every answer slices its scope out of
them:

- :data:`DEALS`: all opportunities and their stage history, with the
  :class:`~analytics.pipeline.StageModel` (stage order, stage-to-win odds, typical days in
  stage) fitted on them as of the day.
- :data:`ACCOUNTS`: account id, name and owner (who owns which account, names to show).
- :data:`ACTIVITIES`: every activity (last touch on a deal or account, snoozes, contacts
  engaged, lead touches). Activities logged after the snapshot was loaded are read per
  question (:func:`activities_since_load`), so a call logged from Slack counts at once.
- :data:`LEAD_ROWS`: all leads (for conversion rates).
- :data:`LEADS`: all leads, the opportunities' lead links and the lead touches, with the
  :class:`~analytics.leads.LeadScorer` fitted on the company's closed leads and the ranking
  of every open lead; an answer takes its scope's rows of that ranking.
- :data:`INSIGHTS`: what the last finished ``salesbot score`` run stored: every account's
  health and each account's best pitch (for digests); rebuilt when another run finishes.
- :data:`COMPANY_ORDERS`: the purchase cycles of every account x category as of the day
  (for reorders) and the order days with their amounts (for CLV), read from the order
  lines in chunks of :data:`ORDER_CHUNK_ACCOUNTS` accounts; :data:`ORDERS` keeps each
  scope's (set of accounts) rows of it, with the answers computed from them.

Freshness. Each kept value is built the first time it is needed (that question waits);
the first question on a store also starts building the other company-wide values in the
background (:func:`warm_up`), so later questions of other kinds find them ready.
Afterwards it is rebuilt in a background thread, while the previous value keeps answering,
when the largest id of one of its tables changed (rows were added), when it is older than
its time to live (:data:`TTL_SECONDS`, catches rows edited in place) or when the day
changed. Whatever is rebuilt (frames and fitted models) is swapped in as one piece, so an
answer never mixes two versions. The small, per-question rows (reps, targets, contacts
of the deals shown, recent activities) are read fresh through :mod:`store.frames` filters.

The numbers are those of the analytics functions called on the company frames with the
scope's rep ids: slicing a scope first does not change them, because every deal, lead
and account x category is computed from its own rows (and the company-fitted model).

Values handed to answers go through :func:`json_value` / :func:`records` so that
``Answer.data`` is JSON-safe: no NaN (``None``), dates as ISO strings, plain ints and floats.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
from cachetools import LRUCache
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from analytics.errors import AnalyticsError
from analytics.jsonable import json_value
from analytics.leads import LeadScorer
from analytics.periods import Period
from analytics.pipeline import StageModel
from analytics.reorders import CYCLE_COLUMNS, purchase_cycles
from store import frames
from store.crud import AccountNames
from store.db import StoreUnavailableError
from store.team import team_account_health, team_recommendations

log = logging.getLogger(__name__)

T = TypeVar("T")

TTL_SECONDS = 600.0
"""A kept value older than this is rebuilt in the background even if no rows were added."""
ORDER_CHUNK_ACCOUNTS = 5000
"""Accounts whose order lines are read and reduced at a time (bounds memory)."""
REORDER_MIN_ORDER_DAYS = 3
"""Order days an account x category needs for a purchase cycle (reorders)."""
REORDER_MAX_GAPS = 6
"""Recent gaps between order days the cycle is the median of (reorders)."""
RECENT_MARGIN = dt.timedelta(minutes=5)
"""Activities since the snapshot load minus this margin are read fresh per question."""


# ----------------------------------------------------------------------- keeping


def _store_key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def table_fingerprint(engine: Engine, tables: Sequence[str]) -> tuple[Any, ...]:
    """Largest id of each table: changes whenever rows are added (cheap: an index lookup)."""
    if not tables:
        return ()
    sql = "SELECT " + ", ".join(f"(SELECT max(id) FROM {name})" for name in tables)
    with engine.connect() as conn:
        row = conn.execute(text(sql)).one()
    return tuple(row)


@dataclass
class _Entry(Generic[T]):
    value: T
    today: dt.date
    fingerprint: tuple[Any, ...]
    built_at: float
    refreshing: bool = False


class Kept(Generic[T]):
    """A value built from one store (frames, fitted models), kept per process.

    :meth:`get` returns the kept value for ``(store, key)``, building it on first use; it
    starts a background rebuild (and returns the current value meanwhile) when the
    fingerprint of ``tables`` (or what ``fingerprint(engine)`` returns) changed, the value is older than ``ttl_seconds`` or it was
    built for another day. At most ``maxsize`` keys are kept (least recently used go).
    """

    def __init__(
        self,
        name: str,
        *,
        tables: Sequence[str],
        ttl_seconds: float = TTL_SECONDS,
        maxsize: int = 8,
        fingerprint: Callable[[Engine], tuple[Any, ...]] | None = None,
    ) -> None:
        self.name = name
        self.tables = tuple(tables)
        self._fingerprint = fingerprint
        self.ttl_seconds = ttl_seconds
        self._entries: LRUCache[Hashable, _Entry[T]] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()
        self._build_locks: dict[Hashable, threading.Lock] = {}
        self._threads: list[threading.Thread] = []

    def get(self, engine: Engine, today: dt.date, build: Callable[[], T], key: Hashable = ()) -> T:
        full_key = (_store_key(engine), key)
        fingerprint = (
            self._fingerprint(engine)
            if self._fingerprint is not None
            else table_fingerprint(engine, self.tables)
        )
        with self._lock:
            entry = self._entries.get(full_key)
            build_lock = self._build_locks.setdefault(full_key, threading.Lock())
        if entry is None:
            with build_lock:
                with self._lock:
                    entry = self._entries.get(full_key)
                if entry is None:
                    started = time.perf_counter()
                    entry = _Entry(build(), today, fingerprint, time.monotonic())
                    log.info("built %s in %.2f s", self.name, time.perf_counter() - started)
                    with self._lock:
                        self._entries[full_key] = entry
            return entry.value
        stale = (
            entry.fingerprint != fingerprint
            or entry.today != today
            or time.monotonic() - entry.built_at > self.ttl_seconds
        )
        if stale:
            self._refresh(full_key, entry, build, today, fingerprint, build_lock)
        return entry.value

    def _refresh(
        self,
        full_key: Hashable,
        entry: _Entry[T],
        build: Callable[[], T],
        today: dt.date,
        fingerprint: tuple[Any, ...],
        build_lock: threading.Lock,
    ) -> None:
        with self._lock:
            if entry.refreshing:
                return
            entry.refreshing = True

        def rebuild() -> None:
            try:
                with build_lock:
                    fresh = _Entry(build(), today, fingerprint, time.monotonic())
                with self._lock:
                    self._entries[full_key] = fresh
            except (SQLAlchemyError, StoreUnavailableError, AnalyticsError) as exc:
                log.warning("could not refresh %s, keeping the previous one: %s", self.name, exc)
            finally:
                entry.refreshing = False

        thread = threading.Thread(target=rebuild, name=f"refresh-{self.name}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def has(self, engine: Engine, key: Hashable = ()) -> bool:
        """Whether a value for ``(store, key)`` is kept (built, possibly stale)."""
        with self._lock:
            return (_store_key(engine), key) in self._entries

    def prefetch(
        self, engine: Engine, today: dt.date, build: Callable[[], T], key: Hashable = ()
    ) -> None:
        """Build the value for ``(store, key)`` in a background thread unless it is kept."""
        full_key = (_store_key(engine), key)
        with self._lock:
            if full_key in self._entries:
                return

        def run() -> None:
            try:
                self.get(engine, today, build, key)
            except (SQLAlchemyError, StoreUnavailableError, AnalyticsError) as exc:
                log.warning("could not prepare %s ahead of use: %s", self.name, exc)

        thread = threading.Thread(target=run, name=f"prepare-{self.name}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for background builds to finish (tests, benchmarks, shutdown)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def clear(self) -> None:
        self.join()
        with self._lock:
            self._entries.clear()
            self._build_locks.clear()


# -------------------------------------------------------------------- snapshots


def _ids(values: pd.Series) -> np.ndarray:
    """Ids as int64 (missing: -1, which no record carries)."""
    return values.to_numpy(dtype="int64", na_value=-1)


def _members(values: np.ndarray, wanted: Iterable[Any]) -> np.ndarray:
    """Which of ``values`` are in ``wanted`` (a lookup table for compact id ranges)."""
    if isinstance(wanted, np.ndarray | pd.Series | pd.Index):
        ids = np.unique(_ids(pd.Series(wanted)) if not isinstance(wanted, np.ndarray) else wanted)
    else:
        ids = np.unique(np.fromiter((int(v) for v in wanted), dtype="int64"))
    if not len(ids) or not len(values):
        return np.zeros(len(values), dtype=bool)
    if int(ids[-1]) - int(ids[0]) < 50_000_000:
        return np.isin(values, ids, kind="table")
    return np.isin(values, ids)


def _ranges(sorted_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions of the rows of ``sorted_ids`` equal to one of ``wanted`` (binary search)."""
    wanted = np.unique(wanted)
    lo = np.searchsorted(sorted_ids, wanted, side="left")
    hi = np.searchsorted(sorted_ids, wanted, side="right")
    lengths = hi - lo
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + starts


@dataclass(frozen=True, eq=False)
class DealBook:
    """The company's deals on ``as_of`` and the stage model learned from them.

    Build with :meth:`of`, which also keeps the id arrays that :meth:`scope` slices with.
    """

    opportunities: pd.DataFrame
    stage_history: pd.DataFrame
    model: StageModel
    as_of: dt.date
    owners: np.ndarray
    closed: np.ndarray
    close_dates: np.ndarray
    history_ids: np.ndarray
    slices: LRUCache[Hashable, tuple[pd.DataFrame, pd.DataFrame]] = field(
        default_factory=lambda: LRUCache(maxsize=64)
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(
        cls, opportunities: pd.DataFrame, stage_history: pd.DataFrame, model: StageModel
    ) -> DealBook:
        opportunities = opportunities.sort_values("opportunity_id", kind="stable")
        history = stage_history.sort_values(
            ["opportunity_id", "entered_date"], kind="stable", ignore_index=True
        )
        return cls(
            opportunities=opportunities.reset_index(drop=True),
            stage_history=history,
            model=model,
            as_of=model.as_of_,
            owners=_ids(opportunities["owner_id"]),
            closed=opportunities["is_closed"].to_numpy(dtype=bool),
            close_dates=opportunities["close_date"].to_numpy(dtype="datetime64[ns]"),
            history_ids=_ids(history["opportunity_id"]),
        )

    def scope(
        self,
        rep_ids: Collection[int] | None,
        *,
        closed_after: dt.date | None = None,
        closing_in: Period | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Deals owned by ``rep_ids`` (all when ``None``) and their stage history.

        With ``closed_after``, deals that were closed on or before that day are left out:
        an answer about deals open today (``closed_after`` = today), moving since a day, or
        closing in a period never counts them, and no other deal's numbers depend on them.
        With ``closing_in``, only deals whose close date lies in that period are kept (for
        the deals expected to close in it). Slices are kept with the book (it never changes).
        """
        key = (
            None if rep_ids is None else frozenset(int(r) for r in rep_ids),
            closed_after,
            closing_in,
        )
        with self.lock:
            if key not in self.slices:
                self.slices[key] = self._slice(rep_ids, closed_after, closing_in)
            return self.slices[key]

    def _slice(
        self,
        rep_ids: Collection[int] | None,
        closed_after: dt.date | None,
        closing_in: Period | None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        keep = (
            np.ones(len(self.owners), dtype=bool)
            if rep_ids is None
            else _members(self.owners, rep_ids)
        )
        if closed_after is not None:
            cutoff = np.datetime64(pd.Timestamp(closed_after).to_datetime64(), "ns")
            keep &= ~(self.closed & (self.close_dates <= cutoff))
        if closing_in is not None:
            first = np.datetime64(pd.Timestamp(closing_in.start).to_datetime64(), "ns")
            last = np.datetime64(pd.Timestamp(closing_in.end).to_datetime64(), "ns")
            keep &= (self.close_dates >= first) & (self.close_dates <= last)
        deals = self.opportunities[keep]
        if rep_ids is None and closed_after is None and closing_in is None:
            return deals, self.stage_history
        rows = _ranges(self.history_ids, _ids(deals["opportunity_id"]))
        return deals, self.stage_history.iloc[rows]


@dataclass(frozen=True, eq=False)
class AccountBook:
    """Every account's id, name and owner (``owner_id`` nullable), and the names prepared
    for matching what a rep calls an account (``matcher``, :class:`store.crud.AccountNames`)."""

    accounts: pd.DataFrame
    owners: np.ndarray
    names_by_id: dict[int, str]
    matcher: AccountNames

    @classmethod
    def of(cls, accounts: pd.DataFrame) -> AccountBook:
        accounts = accounts.sort_values("account_id", kind="stable", ignore_index=True)
        ids = accounts["account_id"].astype(int).tolist()
        names = accounts["name"].astype(str).tolist()
        owners = _ids(accounts["owner_id"])
        matcher = AccountNames.of(
            zip(ids, names, [None if o < 0 else o for o in owners.tolist()], strict=True)
        )
        return cls(
            accounts=accounts,
            owners=owners,
            names_by_id=dict(zip(ids, names, strict=True)),
            matcher=matcher,
        )

    def owned_by(self, rep_ids: Collection[int] | None) -> pd.DataFrame:
        if rep_ids is None:
            return self.accounts
        return self.accounts[_members(self.owners, rep_ids)]

    def names(self, account_ids: Iterable[Any]) -> dict[int, str]:
        out = {}
        for value in account_ids:
            if value is None or pd.isna(value):
                continue
            name = self.names_by_id.get(int(value))
            if name is not None:
                out[int(value)] = name
        return out


@dataclass(frozen=True, eq=False)
class _SortedIds:
    """An id column sorted once, to find the rows with given ids by binary search."""

    order: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, ids: np.ndarray) -> _SortedIds:
        order = np.argsort(ids, kind="stable")
        return cls(order=order, values=ids[order])

    def rows(self, wanted: Iterable[Any]) -> np.ndarray:
        ids = np.fromiter((int(v) for v in wanted if v is not None and not pd.isna(v)), "int64")
        return self.order[_ranges(self.values, ids)]


@dataclass(frozen=True, eq=False)
class ActivityLog:
    """Every activity as loaded at ``loaded_at`` (UTC), indexed by deal, account and contact."""

    activities: pd.DataFrame
    loaded_at: dt.datetime
    deal_ids: np.ndarray
    account_ids: np.ndarray
    rep_ids: np.ndarray
    by_deal: _SortedIds
    by_account: _SortedIds
    by_contact: _SortedIds

    @classmethod
    def of(cls, activities: pd.DataFrame, loaded_at: dt.datetime) -> ActivityLog:
        activities = activities.reset_index(drop=True)
        deal_ids = _ids(activities["opportunity_id"])
        account_ids = _ids(activities["account_id"])
        return cls(
            activities=activities,
            loaded_at=loaded_at,
            deal_ids=deal_ids,
            account_ids=account_ids,
            rep_ids=_ids(activities["rep_id"]),
            by_deal=_SortedIds.of(deal_ids),
            by_account=_SortedIds.of(account_ids),
            by_contact=_SortedIds.of(_ids(activities["contact_id"])),
        )

    def of_team(
        self,
        rep_ids: Collection[int] | None,
        *,
        account_ids: Iterable[Any],
        deal_ids: Iterable[Any],
    ) -> pd.DataFrame:
        """Activities on one of ``account_ids`` or ``deal_ids``, or logged by one of
        ``rep_ids`` (every activity when ``rep_ids`` is ``None``): the rows
        :func:`store.team.team_activities` reads for a team."""
        if rep_ids is None:
            return self.activities
        keep = (
            _members(self.account_ids, account_ids)
            | _members(self.deal_ids, deal_ids)
            | _members(self.rep_ids, rep_ids)
        )
        return self.activities[keep]

    def about(
        self,
        *,
        deal_ids: Iterable[Any] = (),
        account_ids: Iterable[Any] = (),
        contact_ids: Iterable[Any] = (),
    ) -> pd.DataFrame:
        """Activities on one of ``deal_ids``, on one of ``account_ids`` without a deal, or
        with one of ``contact_ids``: everything the stalled-deal and buying-group rules read
        for those deals, accounts and contacts."""
        on_account = self.by_account.rows(account_ids)
        rows = np.concatenate(
            [
                self.by_deal.rows(deal_ids),
                on_account[self.deal_ids[on_account] < 0],
                self.by_contact.rows(contact_ids),
            ]
        )
        return self.activities.iloc[np.unique(rows)]


@dataclass(frozen=True, eq=False)
class LeadRows:
    """Every lead, with the owner ids as an array for slicing a scope."""

    leads: pd.DataFrame
    owners: np.ndarray

    @classmethod
    def of(cls, leads: pd.DataFrame) -> LeadRows:
        leads = leads.reset_index(drop=True)
        return cls(leads=leads, owners=_ids(leads["owner_id"]))

    def owned_by(self, rep_ids: Collection[int] | None) -> pd.DataFrame:
        if rep_ids is None:
            return self.leads
        return self.leads[_members(self.owners, rep_ids)]


@dataclass(frozen=True, eq=False)
class LeadBook:
    """The company's leads, the lead scorer fitted on its closed leads, and every open lead
    ranked (``ranking``: ``analytics.leads.LEAD_PRIORITY_COLUMNS``)."""

    scorer: LeadScorer
    ranking: pd.DataFrame
    as_of: dt.date

    def ranked(self, rep_ids: Collection[int] | None) -> pd.DataFrame:
        """The open leads of ``rep_ids`` best first, ``rank`` counted within the scope (as
        ``LeadScorer.rank(..., rep_ids=...)`` numbers them: score, then lead id)."""
        table = self.ranking
        if rep_ids is not None:
            table = table[_members(_ids(table["owner_id"]), rep_ids)]
        table = table.reset_index(drop=True)
        return table.assign(rank=np.arange(1, len(table) + 1, dtype="int64"))


@dataclass(frozen=True, eq=False)
class OrderHistory:
    """Order history of a set of accounts reduced to what the answers need.

    ``cycles``: :func:`analytics.reorders.purchase_cycles` as of ``as_of``.
    ``order_days``: one row per account and order day: ``account_id``, ``order_date``,
    ``amount`` (the day's total), ``order_id`` (the day's first order); the CLV definition
    only reads order days and amounts, so it gives the same answer as on the raw lines.
    ``answers`` memoises what is computed from it (keyed by the question).
    """

    cycles: pd.DataFrame
    order_days: pd.DataFrame
    as_of: dt.date
    accounts: int
    answers: LRUCache[Hashable, Any] = field(default_factory=lambda: LRUCache(maxsize=64))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per ``key`` for this history."""
        with self.lock:
            if key not in self.answers:
                self.answers[key] = compute()
            value: T = self.answers[key]
            return value


@dataclass(frozen=True, eq=False)
class Insights:
    """What the last finished scoring run stored: every account's health
    (``store.team.HEALTH_COLUMNS``) and each account's best pitch, the one of lowest rank
    (``store.team.RECOMMENDATION_COLUMNS``; a digest reads no other pitch)."""

    account_health: pd.DataFrame
    best_pitches: pd.DataFrame
    health_accounts: np.ndarray
    pitch_accounts: np.ndarray

    @classmethod
    def of(cls, account_health: pd.DataFrame, recommendations: pd.DataFrame) -> Insights:
        best = recommendations.sort_values(["account_id", "rank"], kind="stable")
        best = best.drop_duplicates("account_id", keep="first").reset_index(drop=True)
        account_health = account_health.reset_index(drop=True)
        return cls(
            account_health=account_health,
            best_pitches=best,
            health_accounts=_ids(account_health["account_id"]),
            pitch_accounts=_ids(best["account_id"]),
        )

    def of_accounts(self, account_ids: Any | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Health rows and best pitches of ``account_ids`` (everything when ``None``)."""
        if account_ids is None:
            return self.account_health, self.best_pitches
        return (
            self.account_health[_members(self.health_accounts, account_ids)],
            self.best_pitches[_members(self.pitch_accounts, account_ids)],
        )


def finished_run(engine: Engine) -> tuple[Any, ...]:
    """Id of the last finished scoring run: changes when a ``salesbot score`` run ends (not
    when it starts, while it is still replacing the insight tables)."""
    sql = "SELECT max(id) FROM score_run WHERE finished_at IS NOT NULL"
    with engine.connect() as conn:
        return (conn.execute(text(sql)).scalar_one(),)


DEALS: Kept[DealBook] = Kept("deals", tables=("opportunity", "opportunity_stage_history"))
ACCOUNTS: Kept[AccountBook] = Kept("accounts", tables=("account",))
ACTIVITIES: Kept[ActivityLog] = Kept("activities", tables=())
LEAD_ROWS: Kept[LeadRows] = Kept("lead rows", tables=("lead",))
LEADS: Kept[LeadBook] = Kept("leads", tables=("lead", "opportunity"))
ORDERS: Kept[OrderHistory] = Kept("orders", tables=(), maxsize=6)
COMPANY_ORDERS: Kept[CompanyOrders] = Kept("company orders", tables=("order_line",), maxsize=1)
INSIGHTS: Kept[Insights] = Kept("insights", tables=(), fingerprint=finished_run)
KEPT: tuple[Kept[Any], ...] = (
    DEALS,
    ACCOUNTS,
    ACTIVITIES,
    LEAD_ROWS,
    LEADS,
    ORDERS,
    COMPANY_ORDERS,
    INSIGHTS,
)


_WARMED: set[str] = set()
_WARM_LOCK = threading.Lock()


def warm_up(engine: Engine, today: dt.date) -> None:
    """Start building every company-wide value of this store in the background, once per
    store and process (on its first question), so that the first question of each kind
    does not wait for a load or a model fit."""
    store = _store_key(engine)
    with _WARM_LOCK:
        if store in _WARMED:
            return
        _WARMED.add(store)
    DEALS.prefetch(engine, today, lambda: _build_deals(engine, today))
    ACCOUNTS.prefetch(engine, today, lambda: _build_accounts(engine))
    LEAD_ROWS.prefetch(engine, today, lambda: _build_lead_rows(engine))
    ACTIVITIES.prefetch(engine, today, lambda: _build_activities(engine))
    LEADS.prefetch(engine, today, lambda: _build_leads(engine, today))
    INSIGHTS.prefetch(engine, today, lambda: _build_insights(engine))
    COMPANY_ORDERS.prefetch(engine, today, lambda: _build_company_orders(engine, today))


def reset() -> None:
    """Forget everything kept (tests; a store that was replaced)."""
    for kept in KEPT:
        kept.clear()
    with _WARM_LOCK:
        _WARMED.clear()


def join_refreshes(timeout: float | None = None) -> None:
    for kept in KEPT:
        kept.join(timeout)


def _build_deals(engine: Engine, today: dt.date) -> DealBook:
    opportunities = frames.opportunities(engine)
    history = frames.stage_history(engine)
    model = StageModel().fit(opportunities, history, as_of=today)
    return DealBook.of(opportunities, history, model)


def _build_accounts(engine: Engine) -> AccountBook:
    return AccountBook.of(frames.accounts(engine)[["account_id", "name", "owner_id"]])


def _build_activities(engine: Engine) -> ActivityLog:
    loaded_at = dt.datetime.now(dt.UTC)
    return ActivityLog.of(frames.activities(engine), loaded_at)


def _build_lead_rows(engine: Engine) -> LeadRows:
    return LeadRows.of(frames.leads(engine))


def _build_leads(engine: Engine, today: dt.date) -> LeadBook:
    leads = lead_rows(engine, today).leads
    activities = activity_log(engine, today).activities
    touches = activities[activities["lead_id"].notna().to_numpy(dtype=bool)]
    links = deal_book(engine, today).opportunities[["lead_id", "created_date"]]
    links = links[links["lead_id"].notna().to_numpy(dtype=bool)]
    scorer = LeadScorer().fit(leads, touches, today=today, opportunities=links)
    ranking = scorer.rank(leads, touches, today=today, opportunities=links)
    return LeadBook(scorer, ranking, today)


def deal_book(engine: Engine, today: dt.date) -> DealBook:
    warm_up(engine, today)
    return DEALS.get(engine, today, lambda: _build_deals(engine, today))


def account_book(engine: Engine, today: dt.date) -> AccountBook:
    warm_up(engine, today)
    return ACCOUNTS.get(engine, today, lambda: _build_accounts(engine))


def activity_log(engine: Engine, today: dt.date) -> ActivityLog:
    return ACTIVITIES.get(engine, today, lambda: _build_activities(engine))


def activities_about(
    engine: Engine,
    today: dt.date,
    *,
    deal_ids: Iterable[Any] = (),
    account_ids: Iterable[Any] = (),
    contact_ids: Iterable[Any] = (),
) -> pd.DataFrame:
    """The activities :meth:`ActivityLog.about` those deals, accounts and contacts: the
    kept log's, plus those logged since it was loaded (read fresh on every call)."""
    deals, accounts, people = list(deal_ids), list(account_ids), list(contact_ids)
    kept = activity_log(engine, today)
    chosen = kept.about(deal_ids=deals, account_ids=accounts, contact_ids=people)
    recent = frames.activities(engine, since=kept.loaded_at - RECENT_MARGIN)
    if len(recent):
        fresh = ActivityLog.of(recent, kept.loaded_at).about(
            deal_ids=deals, account_ids=accounts, contact_ids=people
        )
        chosen = pd.concat([chosen, fresh], ignore_index=True).drop_duplicates(
            "activity_id", keep="last"
        )
    return chosen.reset_index(drop=True)


def any_activity_logged(engine: Engine, today: dt.date) -> bool:
    """Whether the store holds any activity at all (kept, or logged since it was loaded)."""
    kept = activity_log(engine, today)
    if len(kept.activities):
        return True
    return bool(len(frames.activities(engine, since=kept.loaded_at - RECENT_MARGIN)))


def team_activities(
    engine: Engine,
    today: dt.date,
    rep_ids: Collection[int] | None,
    *,
    account_ids: Any,
    deal_ids: Any,
) -> pd.DataFrame:
    """The activities :meth:`ActivityLog.of_team` selects: the kept log's, plus those
    logged since it was loaded (read fresh on every call)."""
    kept = activity_log(engine, today)
    chosen = kept.of_team(rep_ids, account_ids=account_ids, deal_ids=deal_ids)
    recent = frames.activities(engine, since=kept.loaded_at - RECENT_MARGIN)
    if len(recent):
        fresh = ActivityLog.of(recent, kept.loaded_at).of_team(
            rep_ids, account_ids=account_ids, deal_ids=deal_ids
        )
        chosen = pd.concat([chosen, fresh], ignore_index=True).drop_duplicates(
            "activity_id", keep="last"
        )
    return chosen.reset_index(drop=True)


def _build_insights(engine: Engine) -> Insights:
    return Insights.of(team_account_health(engine, None), team_recommendations(engine, None))


def insights(engine: Engine, today: dt.date) -> Insights:
    """The stored health and best pitches of every account (last finished scoring run)."""
    warm_up(engine, today)
    return INSIGHTS.get(engine, today, lambda: _build_insights(engine))


def lead_rows(engine: Engine, today: dt.date) -> LeadRows:
    """Every lead (``store.frames.leads`` columns)."""
    warm_up(engine, today)
    return LEAD_ROWS.get(engine, today, lambda: _build_lead_rows(engine))


def lead_book(engine: Engine, today: dt.date) -> LeadBook:
    warm_up(engine, today)
    return LEADS.get(engine, today, lambda: _build_leads(engine, today))


def _chunks(ids: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _empty_order_days() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": pd.Series(dtype="int64"),
            "order_date": pd.Series(dtype="datetime64[ns]"),
            "amount": pd.Series(dtype="float64"),
            "order_id": pd.Series(dtype="int64"),
        }
    )


def _read_order_history(engine: Engine, today: dt.date, ids: Sequence[int]) -> OrderHistory:
    """Order history of ``ids`` (sorted) read from the order lines, chunk by chunk."""
    cycles, days = [], []
    for chunk in _chunks(ids, ORDER_CHUNK_ACCOUNTS):
        lines = frames.order_lines(engine, account_ids=chunk)
        if not len(lines):
            continue
        cycles.append(
            purchase_cycles(
                lines,
                today=today,
                min_order_days=REORDER_MIN_ORDER_DAYS,
                max_gaps=REORDER_MAX_GAPS,
            )
        )
        days.append(
            lines.groupby(["account_id", "order_date"], sort=True)
            .agg(amount=("amount", "sum"), order_id=("order_id", "min"))
            .reset_index()
        )
    found = [c for c in cycles if len(c)]
    cycle_table = (
        pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=CYCLE_COLUMNS)
    )
    day_table = pd.concat(days, ignore_index=True) if days else _empty_order_days()
    return OrderHistory(cycle_table, day_table, today, len(ids))


_GENERATION = itertools.count()


@dataclass(frozen=True, eq=False)
class CompanyOrders:
    """Every account's :class:`OrderHistory` (both tables sorted by account, as read in
    chunks of ascending account ids), from which each scope's rows are sliced."""

    history: OrderHistory
    account_ids: tuple[int, ...]
    cycle_accounts: np.ndarray
    day_accounts: np.ndarray
    generation: int = field(default_factory=lambda: next(_GENERATION))

    @classmethod
    def of(cls, history: OrderHistory, account_ids: tuple[int, ...]) -> CompanyOrders:
        return cls(
            history=history,
            account_ids=account_ids,
            cycle_accounts=_ids(history.cycles["account_id"]),
            day_accounts=_ids(history.order_days["account_id"]),
        )

    def of_accounts(self, ids: tuple[int, ...]) -> OrderHistory:
        """The order history of ``ids`` (sorted): the same rows, in the same order, as
        reading those accounts' lines, because every row comes from one account's lines."""
        wanted = np.asarray(ids, dtype="int64")
        cycle_rows = _ranges(self.cycle_accounts, wanted)
        day_rows = _ranges(self.day_accounts, wanted)
        cycles = (
            self.history.cycles.iloc[cycle_rows].reset_index(drop=True)
            if len(cycle_rows)
            else pd.DataFrame(columns=CYCLE_COLUMNS)
        )
        days = (
            self.history.order_days.iloc[day_rows].reset_index(drop=True)
            if len(day_rows)
            else _empty_order_days()
        )
        return OrderHistory(cycles, days, self.history.as_of, len(ids))


def _build_company_orders(engine: Engine, today: dt.date) -> CompanyOrders:
    ids = tuple(sorted(int(a) for a in account_book(engine, today).accounts["account_id"]))
    return CompanyOrders.of(_read_order_history(engine, today, ids), ids)


def company_orders(engine: Engine, today: dt.date) -> CompanyOrders:
    """Every account's order history (kept; prepared in the background by :func:`warm_up`)."""
    warm_up(engine, today)
    return COMPANY_ORDERS.get(engine, today, lambda: _build_company_orders(engine, today))


def order_history(engine: Engine, today: dt.date, account_ids: Collection[int]) -> OrderHistory:
    """Order history of ``account_ids`` (kept per set of accounts), sliced from the
    company's (:func:`company_orders`); the whole company's is that one itself."""
    ids = tuple(sorted({int(a) for a in account_ids}))
    company = company_orders(engine, today)
    if ids == company.account_ids:
        return company.history
    return ORDERS.get(
        engine, today, lambda: company.of_accounts(ids), key=(ids, company.generation)
    )


# ------------------------------------------------------------------ fresh rows


def reps(engine: Engine) -> pd.DataFrame:
    return frames.reps(engine)


def rep_names(reps_frame: pd.DataFrame) -> dict[int, str]:
    return dict(zip(reps_frame["rep_id"].astype(int), reps_frame["name"].astype(str), strict=True))


def targets(engine: Engine, rep_ids: Collection[int] | None) -> pd.DataFrame:
    return frames.targets(engine, rep_ids=None if rep_ids is None else sorted(rep_ids))


def contacts(engine: Engine, account_ids: Collection[int]) -> pd.DataFrame:
    return frames.contacts(engine, account_ids=sorted({int(a) for a in account_ids}))


# -------------------------------------------------------------------- JSON-safe


def records(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows of ``frame`` (only ``columns``, in that order) as JSON-safe dicts."""
    names = list(columns) if columns is not None else list(frame.columns)
    values = [[json_value(v) for v in frame[name].tolist()] for name in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def period_json(period: Period | None) -> dict[str, str] | None:
    if period is None:
        return None
    return {
        "label": period.label,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
    }


@dataclass
class Page:
    """Which slice of a list an answer shows."""

    offset: int
    size: int
    total: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def shown(self) -> int:
        return self.offset + len(self.rows)

    @property
    def has_more(self) -> bool:
        return self.shown < self.total


def page_of(rows: list[dict[str, Any]], offset: int, size: int) -> Page:
    return Page(offset=offset, size=size, total=len(rows), rows=rows[offset : offset + size])
