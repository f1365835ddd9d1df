"""SQLModel tables of the salesbot store.

Families follow the ``XBase`` (shared fields) / ``XCreate`` (validated input) /
``X(table=True)`` pattern. Every business table carries an ``external_id``: the id
the record has in the CRM/ERP it was imported from. Imports upsert on it, so a
re-import updates rows and never duplicates them.

Dates are calendar dates (``datetime.date``) where the business thinks in days
(orders, close dates, quotas); timestamps (``datetime.datetime``, timezone-aware, stored as UTC)
where the moment matters (activities, calls, Slack events, digests).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import field_validator
from sqlalchemy import JSON, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    """Current time, timezone-aware in UTC (the store keeps UTC everywhere)."""
    return dt.datetime.now(dt.UTC)


class RepRole(StrEnum):
    rep = "rep"
    manager = "manager"
    admin = "admin"


class BuyingRole(StrEnum):
    decision_maker = "decision_maker"
    finance = "finance"
    technical = "technical"
    procurement = "procurement"
    champion = "champion"
    user = "user"
    legal = "legal"
    other = "other"


class LeadSource(StrEnum):
    inbound = "inbound"
    outbound = "outbound"
    referral = "referral"
    event = "event"
    partner = "partner"
    other = "other"


class LeadStatus(StrEnum):
    open = "open"
    converted = "converted"
    disqualified = "disqualified"


class ActivityKind(StrEnum):
    call = "call"
    email = "email"
    meeting = "meeting"
    note = "note"
    task = "task"
    contacted = "contacted"
    snooze = "snooze"


class HealthStatus(StrEnum):
    healthy = "healthy"
    watch = "watch"
    slipping = "slipping"
    lapsed = "lapsed"
    new = "new"
    one_off = "one_off"


class RecommendationKind(StrEnum):
    cross_sell = "cross_sell"
    win_back = "win_back"


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# --------------------------------------------------------------------------- reps


class RepBase(SQLModel):
    external_id: str = Field(index=True, unique=True, max_length=128)
    name: str = Field(max_length=200)
    email: str = Field(index=True, unique=True, max_length=320)
    role: RepRole = Field(default=RepRole.rep, sa_type=String(16))
    title: str | None = Field(default=None, max_length=200)
    slack_user_id: str | None = Field(default=None, index=True, unique=True, max_length=32)
    timezone: str = Field(default="UTC", max_length=64)
    active: bool = True

    @field_validator("email")
    @classmethod
    def _lower_email(cls, value: str) -> str:
        value = value.strip().lower()
        if "@" not in value:
            raise ValueError(f"not an e-mail address: {value!r}")
        return value


class RepCreate(RepBase):
    manager_external_id: str | None = None


class Rep(RepBase, table=True):
    __tablename__ = "rep"
    id: int | None = Field(default=None, primary_key=True)
    manager_id: int | None = Field(default=None, foreign_key="rep.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)


# ----------------------------------------------------------------------- accounts


class AccountBase(SQLModel):
    external_id: str = Field(index=True, unique=True, max_length=128)
    name: str = Field(index=True, max_length=300)
    segment: str | None = Field(default=None, max_length=100)
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, max_length=100)
    city: str | None = Field(default=None, max_length=100)
    size: str | None = Field(
        default=None, max_length=32, description="size band, e.g. small/mid/large/enterprise"
    )
    employees: int | None = Field(default=None, ge=0)
    annual_revenue: float | None = Field(default=None, ge=0)
    pricing_tier: str | None = Field(default=None, max_length=64)
    created_date: dt.date | None = None


class AccountCreate(AccountBase):
    owner_external_id: str | None = None


class Account(AccountBase, table=True):
    __tablename__ = "account"
    id: int | None = Field(default=None, primary_key=True)
    owner_id: int | None = Field(default=None, foreign_key="rep.id", index=True)


class AccountTeamMember(SQLModel, table=True):
    """A rep on an account's team (CRM "account team"): they see the account as part of
    their book, whoever owns it."""

    __tablename__ = "account_team_member"
    __table_args__ = (UniqueConstraint("account_id", "rep_id", name="uq_account_team_member"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    rep_id: int = Field(foreign_key="rep.id", index=True)
    role: str | None = Field(default=None, max_length=100)


# ----------------------------------------------------------------------- contacts


class ContactBase(SQLModel):
    external_id: str = Field(index=True, unique=True, max_length=128)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    title: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=64)
    buying_role: BuyingRole = Field(default=BuyingRole.other, sa_type=String(32))


class ContactCreate(ContactBase):
    account_external_id: str


class Contact(ContactBase, table=True):
    __tablename__ = "contact"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)


# ----------------------------------------------------------------------- products


class ProductBase(SQLModel):
    external_id: str = Field(index=True, unique=True, max_length=128)
    name: str = Field(max_length=300)
    category: str = Field(index=True, max_length=100)
    subcategory: str | None = Field(default=None, max_length=100)
    unit_price: float | None = Field(default=None, ge=0)
    active: bool = True


class ProductCreate(ProductBase):
    pass


class Product(ProductBase, table=True):
    __tablename__ = "product"
    id: int | None = Field(default=None, primary_key=True)


# ------------------------------------------------------------------------- orders


class Order(SQLModel, table=True):
    """An order header: one purchase by one account on one day."""

    __tablename__ = "sales_order"
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(index=True, unique=True, max_length=128)
    account_id: int = Field(foreign_key="account.id", index=True)
    rep_id: int | None = Field(default=None, foreign_key="rep.id")
    order_date: dt.date = Field(index=True)


class OrderLineCreate(SQLModel):
    """One imported order line; the order header is derived from it."""

    order_external_id: str = Field(max_length=128)
    account_external_id: str = Field(max_length=128)
    order_date: dt.date
    product_external_id: str = Field(max_length=128)
    quantity: float = Field(gt=0)
    unit_price: float = Field(ge=0)
    discount: float = Field(default=0.0, ge=0, le=1)
    rep_external_id: str | None = None
    line_external_id: str | None = Field(default=None, max_length=128)


class OrderLine(SQLModel, table=True):
    """An order line. ``account_id`` and ``order_date`` repeat the header's so that
    analytics read one table for millions of lines without a join."""

    __tablename__ = "order_line"
    __table_args__ = (
        UniqueConstraint("order_id", "line_key", name="uq_order_line_key"),
        Index("ix_order_line_account_date", "account_id", "order_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    line_key: str = Field(max_length=128)
    account_id: int = Field(foreign_key="account.id")
    product_id: int = Field(foreign_key="product.id", index=True)
    order_date: dt.date
    quantity: float
    unit_price: float
    discount: float = 0.0
    amount: float = Field(description="quantity * unit_price * (1 - discount)")


# -------------------------------------------------------------------- opportunities


class OpportunityBase(SQLModel):
    external_id: str = Field(index=True, unique=True, max_length=128)
    name: str = Field(max_length=300)
    amount: float = Field(default=0.0, ge=0)
    stage: str = Field(index=True, max_length=64)
    created_date: dt.date
    close_date: dt.date | None = Field(
        default=None, description="expected close if open, actual if closed"
    )
    is_closed: bool = False
    is_won: bool = False
    source: str | None = Field(default=None, max_length=32)
    forecast_category: str | None = Field(default=None, max_length=32)
    next_step: str | None = Field(default=None, max_length=500)


class OpportunityCreate(OpportunityBase):
    account_external_id: str
    owner_external_id: str | None = None
    lead_external_id: str | None = None


class Opportunity(OpportunityBase, table=True):
    __tablename__ = "opportunity"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    owner_id: int | None = Field(default=None, foreign_key="rep.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="lead.id")


class OpportunityStageHistory(SQLModel, table=True):
    """A stage an opportunity entered on a day. The time spent in a stage is the gap
    to the next entry (or to today for the current stage)."""

    __tablename__ = "opportunity_stage_history"
    __table_args__ = (
        UniqueConstraint("opportunity_id", "stage", "entered_date", name="uq_stage_entry"),
    )
    id: int | None = Field(default=None, primary_key=True)
    opportunity_id: int = Field(foreign_key="opportunity.id", index=True)
    stage: str = Field(max_length=64)
    entered_date: dt.date
    amount: float | None = None


# -------------------------------------------------------------------------- leads


class LeadBase(SQLModel):
    external_id: str = Field(index=True, unique=True, max_length=128)
    company: str = Field(max_length=300)
    contact_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    source: LeadSource = Field(default=LeadSource.other, sa_type=String(16))
    segment: str | None = Field(default=None, max_length=100)
    industry: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    employees: int | None = Field(default=None, ge=0)
    status: LeadStatus = Field(default=LeadStatus.open, sa_type=String(16))
    created_date: dt.date
    converted_date: dt.date | None = None


class LeadCreate(LeadBase):
    owner_external_id: str | None = None
    account_external_id: str | None = None


class Lead(LeadBase, table=True):
    __tablename__ = "lead"
    id: int | None = Field(default=None, primary_key=True)
    owner_id: int | None = Field(default=None, foreign_key="rep.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="account.id")


# --------------------------------------------------------------------- activities


class ActivityBase(SQLModel):
    external_id: str = Field(index=True, unique=True, max_length=128)
    kind: ActivityKind = Field(sa_type=String(16))
    occurred_at: dt.datetime = Field(index=True)
    subject: str | None = Field(default=None, max_length=500)
    origin: str = Field(default="import", max_length=32, description="import, slack, demo")


class ActivityCreate(ActivityBase):
    rep_external_id: str | None = None
    account_external_id: str | None = None
    opportunity_external_id: str | None = None
    lead_external_id: str | None = None
    contact_external_id: str | None = None


class Activity(ActivityBase, table=True):
    __tablename__ = "activity"
    id: int | None = Field(default=None, primary_key=True)
    rep_id: int | None = Field(default=None, foreign_key="rep.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    opportunity_id: int | None = Field(default=None, foreign_key="opportunity.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="lead.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    until_date: dt.date | None = Field(default=None, description="for snoozes: alert hidden until")


# ------------------------------------------------------------------------ targets


class TargetBase(SQLModel):
    period_start: dt.date
    period_end: dt.date
    metric: str = Field(
        default="bookings",
        max_length=32,
        description="bookings (won deal value) or revenue (order value)",
    )
    amount: float = Field(ge=0)


class TargetCreate(TargetBase):
    rep_external_id: str


class Target(TargetBase, table=True):
    __tablename__ = "target"
    __table_args__ = (UniqueConstraint("rep_id", "period_start", "metric", name="uq_target"),)
    id: int | None = Field(default=None, primary_key=True)
    rep_id: int = Field(foreign_key="rep.id", index=True)


# -------------------------------------------------------------------------- calls


class Call(SQLModel, table=True):
    __tablename__ = "call"
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(index=True, unique=True, max_length=128)
    title: str | None = Field(default=None, max_length=300)
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    rep_id: int | None = Field(default=None, foreign_key="rep.id", index=True)
    opportunity_id: int | None = Field(default=None, foreign_key="opportunity.id")
    started_at: dt.datetime = Field(default_factory=utcnow, index=True)
    rep_speaker: str | None = Field(default=None, max_length=200)
    source: str = Field(default="upload", max_length=32, description="upload, live, import")
    status: str = Field(default="reviewed", max_length=16, description="live or reviewed")
    metrics: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class Utterance(SQLModel, table=True):
    __tablename__ = "utterance"
    __table_args__ = (UniqueConstraint("call_id", "seq", name="uq_utterance_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    seq: int
    speaker: str = Field(max_length=200)
    is_rep: bool = False
    start_seconds: float | None = None
    text: str


class CoachingFlag(SQLModel, table=True):
    __tablename__ = "coaching_flag"
    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    utterance_seq: int
    category: str = Field(index=True, max_length=64)
    tracker: str = Field(max_length=128)
    phrase: str = Field(max_length=500)
    speaker: str = Field(max_length=200)
    start_seconds: float | None = None
    prompt: str
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)


class CustomTracker(SQLModel, table=True):
    """A tracker a manager added without code (phrases for one category)."""

    __tablename__ = "custom_tracker"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=128)
    category: str = Field(max_length=64)
    phrases: list[str] = Field(sa_column=Column(JSON, nullable=False))
    side: str = Field(default="any", max_length=16, description="rep, customer or any")
    prompt: str
    created_by_rep_id: int | None = Field(default=None, foreign_key="rep.id")
    created_at: dt.datetime = Field(default_factory=utcnow)


class Competitor(SQLModel, table=True):
    __tablename__ = "competitor"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=128)
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    battlecard: str | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)


# ----------------------------------------------------------------------- insights


class ScoreRun(SQLModel, table=True):
    """One batch scoring run; insight rows point at the run that wrote them."""

    __tablename__ = "score_run"
    id: int | None = Field(default=None, primary_key=True)
    as_of: dt.date
    started_at: dt.datetime = Field(default_factory=utcnow)
    finished_at: dt.datetime | None = None
    accounts_scored: int = 0
    recommendations: int = 0
    backtest: dict[str, Any] | None = Field(
        default=None,
        sa_column=Column(JSON),
        description="how slipping and pitch did on the company's own history one horizon back",
    )


class AccountHealth(SQLModel, table=True):
    __tablename__ = "account_health"
    account_id: int = Field(foreign_key="account.id", primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="score_run.id")
    as_of: dt.date
    status: str = Field(index=True, max_length=16)
    score: float = Field(description="0..1, higher means more likely defecting")
    revenue_at_risk: float = 0.0
    annual_revenue: float = 0.0
    cycle_days: float | None = None
    days_since_last_order: int | None = None
    spend_change: float | None = None
    reason: str
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class CategoryHealth(SQLModel, table=True):
    __tablename__ = "category_health"
    __table_args__ = (
        # a team's flagged categories, counted and ranked from the index alone
        Index(
            "ix_category_health_account_status",
            "account_id",
            "status",
            "revenue_at_risk",
            "category",
        ),
    )
    account_id: int = Field(foreign_key="account.id", primary_key=True)
    category: str = Field(primary_key=True, max_length=100)
    run_id: int | None = Field(default=None, foreign_key="score_run.id")
    as_of: dt.date
    status: str = Field(max_length=16)
    score: float
    revenue_at_risk: float = 0.0
    cycle_days: float | None = None
    days_since_last_order: int | None = None
    reason: str


class Recommendation(SQLModel, table=True):
    __tablename__ = "recommendation"
    account_id: int = Field(foreign_key="account.id", primary_key=True)
    rank: int = Field(primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="score_run.id")
    as_of: dt.date
    kind: str = Field(max_length=16)
    category: str = Field(max_length=100)
    product_id: int | None = Field(default=None, foreign_key="product.id")
    expected_value: float
    peer_share: float | None = None
    reason: str


# ------------------------------------------------------------------------ digests


class DigestSubscription(SQLModel, table=True):
    """A manager's standing order for a digest, e.g. Mondays 08:00 Europe/Berlin."""

    __tablename__ = "digest_subscription"
    __table_args__ = (UniqueConstraint("rep_id", "channel_id", name="uq_digest_subscription"),)
    id: int | None = Field(default=None, primary_key=True)
    rep_id: int = Field(foreign_key="rep.id", index=True)
    channel_id: str = Field(max_length=64, description="Slack channel or DM id to post to")
    cron: str = Field(max_length=64, description="cron expression in the subscriber's time zone")
    timezone: str = Field(default="UTC", max_length=64)
    active: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class DigestSent(SQLModel, table=True):
    """Sent-log: one row per subscription and scheduled slot. The unique key makes a
    second replica (or a restart) fail to claim a slot that was already claimed."""

    __tablename__ = "digest_sent"
    __table_args__ = (UniqueConstraint("subscription_id", "slot", name="uq_digest_slot"),)
    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="digest_subscription.id", index=True)
    slot: dt.datetime = Field(description="the scheduled fire time, UTC")
    claimed_by: str = Field(max_length=128)
    claimed_at: dt.datetime = Field(default_factory=utcnow)
    sent_at: dt.datetime | None = None
    message_ts: str | None = Field(default=None, max_length=64)
    error: str | None = None


# -------------------------------------------------------------------------- slack


class ProcessedSlackEvent(SQLModel, table=True):
    """Slack event ids claimed for an answer; Slack retries are dropped against it. A
    question's payload is kept until it is answered, so that one acked by a bot that died
    before answering is picked up again (once)."""

    __tablename__ = "processed_slack_event"
    event_id: str = Field(primary_key=True, max_length=128)
    received_at: dt.datetime = Field(default_factory=utcnow, index=True)
    claimed_by: str | None = Field(default=None, max_length=128)
    payload: str | None = Field(default=None, sa_type=Text)
    answered_at: dt.datetime | None = None
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class JobClaim(SQLModel, table=True):
    """One run of a scheduled job (e.g. nightly scoring) per slot, claimed before it starts,
    so replicas of the bot run it once."""

    __tablename__ = "job_claim"
    __table_args__ = (UniqueConstraint("name", "slot", name="uq_job_slot"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    slot: str = Field(max_length=64, description="e.g. the day, 2026-11-24")
    claimed_by: str = Field(max_length=128)
    claimed_at: dt.datetime = Field(default_factory=utcnow)
    finished_at: dt.datetime | None = None
    error: str | None = None


TABLES: tuple[type[SQLModel], ...] = (
    Rep,
    Account,
    AccountTeamMember,
    Contact,
    Product,
    Order,
    OrderLine,
    Opportunity,
    OpportunityStageHistory,
    Lead,
    Activity,
    Target,
    Call,
    Utterance,
    CoachingFlag,
    CustomTracker,
    Competitor,
    ScoreRun,
    AccountHealth,
    CategoryHealth,
    Recommendation,
    DigestSubscription,
    DigestSent,
    ProcessedSlackEvent,
    JobClaim,
)
