"""A Salesforce-style CRM export (own stage names, US dates, amounts with thousands
separators) and an ERP invoice export load through their mapping files, and every pipeline
metric computed from the store agrees with pandas computed straight from the raw CSVs.

The fixture lives in ``tests/fixtures/crm`` (written by ``make_export.py`` there); the
mappings in ``tests/fixtures/crm/mappings``. "Today" is 2024-11-15.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy.engine import Engine

from analytics import buying_group, forecast, metrics, pipeline, reorders
from analytics.leads import LeadScorer
from analytics.periods import Period, fiscal_quarter, parse_period
from store import frames
from store.db import make_engine
from store.importer import import_file
from store.migrate import upgrade

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
MAPPINGS = FIXTURE / "mappings"
TODAY = dt.date(2024, 11, 15)
STAGE_ORDER = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
]
CLOSED = {"Closed Won", "Closed Lost"}
IMPORTS = [
    ("reps", "users.csv", "reps.yml"),
    ("accounts", "accounts.csv", "accounts.yml"),
    ("contacts", "contacts.csv", "contacts.yml"),
    ("products", "items.csv", "products.yml"),
    ("orders", "invoice_lines.csv", "orders.yml"),
    ("leads", "leads.csv", "leads.yml"),
    ("opportunities", "opportunities.csv", "opportunities.yml"),
    ("stage_history", "opportunity_history.csv", "stage_history.yml"),
    ("activities", "tasks.csv", "activities.yml"),
    ("targets", "quotas.csv", "targets.yml"),
]
H1 = parse_period("H1 2024", TODAY)
LAST_12 = parse_period("last 12 months", TODAY)
Q3 = fiscal_quarter(2024, 3)
Q4 = fiscal_quarter(2024, 4)


def import_export(engine: Engine) -> None:
    for kind, file, mapping in IMPORTS:
        import_file(engine, kind, FIXTURE / file, MAPPINGS / mapping, today=TODAY)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('crm') / 'crm.db'}")
    upgrade(engine)
    import_export(engine)
    yield engine
    engine.dispose()


class Frames:
    """The store's frames, and ids to translate the raw file's ids."""

    def __init__(self, engine: Engine) -> None:
        self.opportunities = frames.opportunities(engine)
        self.stage_history = frames.stage_history(engine)
        self.leads = frames.leads(engine)
        self.activities = frames.activities(engine)
        self.targets = frames.targets(engine)
        self.reps = frames.reps(engine)
        self.accounts = frames.accounts(engine)
        self.contacts = frames.contacts(engine)
        self.order_lines = frames.order_lines(engine)
        self.rep_id = dict(zip(self.reps["external_id"], self.reps["rep_id"], strict=True))
        self.account_id = dict(
            zip(self.accounts["external_id"], self.accounts["account_id"], strict=True)
        )
        self.opportunity_id = dict(
            zip(
                self.opportunities["external_id"],
                self.opportunities["opportunity_id"],
                strict=True,
            )
        )


@pytest.fixture(scope="module")
def store_frames(store: Engine) -> Frames:
    return Frames(store)


# ---------------------------------------------------------------- the raw files


def us_dates(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, format="%m/%d/%Y")


def value_map(mapping_file: str, field: str) -> dict[str, str]:
    return yaml.safe_load((MAPPINGS / mapping_file).read_text())["values"][field]


def mapped(values: pd.Series, table: dict[str, str]) -> pd.Series:
    return values.map(lambda v: table.get(v, table.get("*", v)))


@pytest.fixture(scope="module")
def raw() -> dict[str, pd.DataFrame]:
    opps = pd.read_csv(FIXTURE / "opportunities.csv", thousands=",", dtype={"Next Step": str})
    opps["Created Date"] = us_dates(opps["Created Date"])
    opps["Close Date"] = us_dates(opps["Close Date"])
    opps["closed"] = opps["Stage"].isin(CLOSED)
    opps["won"] = opps["Stage"] == "Closed Won"
    opps["source"] = mapped(opps["Lead Source"], value_map("opportunities.yml", "source"))
    history = pd.read_csv(FIXTURE / "opportunity_history.csv", thousands=",")
    history["Last Modified"] = us_dates(history["Last Modified"])
    leads = pd.read_csv(FIXTURE / "leads.csv")
    leads["Created Date"] = us_dates(leads["Created Date"])
    leads["Converted Date"] = us_dates(leads["Converted Date"])
    leads["source"] = mapped(leads["Lead Source"], value_map("leads.yml", "source"))
    lines = pd.read_csv(FIXTURE / "invoice_lines.csv")
    lines["day"] = pd.to_datetime(lines["Invoice Date"], format="%d.%m.%Y")
    lines["amount"] = lines["Qty"] * lines["Unit Price"] * (1 - lines["Discount"])
    items = pd.read_csv(FIXTURE / "items.csv")
    lines = lines.merge(items[["Item No", "Item Category"]], on="Item No")
    quotas = pd.read_csv(FIXTURE / "quotas.csv", thousands=",")
    quotas["Start Date"] = us_dates(quotas["Start Date"])
    quotas["End Date"] = us_dates(quotas["End Date"])
    tasks = pd.read_csv(FIXTURE / "tasks.csv")
    tasks["day"] = us_dates(tasks["Activity Date"])
    contacts = pd.read_csv(FIXTURE / "contacts.csv")
    contacts["role"] = mapped(contacts["Contact Role"], value_map("contacts.yml", "buying_role"))
    users = pd.read_csv(FIXTURE / "users.csv")
    return {
        "opps": opps,
        "history": history,
        "leads": leads,
        "lines": lines,
        "quotas": quotas,
        "tasks": tasks,
        "contacts": contacts,
        "users": users,
    }


def between(column: pd.Series, period: Period) -> pd.Series:
    return column.between(pd.Timestamp(period.start), pd.Timestamp(min(period.end, TODAY)))


def open_deals(opps: pd.DataFrame) -> pd.DataFrame:
    return opps[~opps["closed"]]


# ----------------------------------------------------------------------- import


def test_import_keeps_the_crm_stage_names_and_derives_closed_flags(
    store_frames: Frames, raw: dict[str, pd.DataFrame]
) -> None:
    opps = store_frames.opportunities
    assert len(opps) == len(raw["opps"])
    assert set(opps["stage"]) == set(raw["opps"]["Stage"])
    assert int(opps["is_won"].sum()) == int(raw["opps"]["won"].sum())
    assert int(opps["is_closed"].sum()) == int(raw["opps"]["closed"].sum())
    assert opps["amount"].sum() == pytest.approx(raw["opps"]["Amount"].sum())
    assert len(store_frames.stage_history) == len(raw["history"])
    linked = raw["leads"]["Converted Opportunity ID"].notna().sum()
    assert int(opps["lead_id"].notna().sum()) == int(linked)


def test_stage_order_and_closed_stages_are_learned_from_the_export(store_frames: Frames) -> None:
    model = pipeline.StageModel().fit(
        store_frames.opportunities, store_frames.stage_history, as_of=TODAY
    )
    assert model.closed_stages_ == CLOSED
    assert list(model.stage_order_) == STAGE_ORDER


# ---------------------------------------------------------------------- metrics


@pytest.mark.parametrize("period", [H1, Q3, LAST_12], ids=lambda p: p.label)
def test_win_rate(store_frames: Frames, raw: dict[str, pd.DataFrame], period: Period) -> None:
    opps = raw["opps"]
    closed = opps[opps["closed"] & between(opps["Close Date"], period)]
    result = metrics.win_rate(store_frames.opportunities, period=period, today=TODAY)
    assert (result.numerator, result.denominator) == (closed["won"].sum(), len(closed))
    assert result.value == pytest.approx(closed["won"].mean())


def test_win_rate_of_one_rep_and_a_team(store_frames: Frames, raw: dict[str, pd.DataFrame]) -> None:
    opps, users = raw["opps"], raw["users"]
    manager = users.loc[users["Full Name"] == "Nina Berg", "User ID"].item()
    team = {manager, *users.loc[users["Manager ID"] == manager, "User ID"]}
    closed = opps[opps["closed"] & between(opps["Close Date"], LAST_12)]
    mine = closed[closed["Opportunity Owner ID"].isin(team)]
    team_ids = pipeline.team_rep_ids(store_frames.reps, store_frames.rep_id[manager])
    assert team_ids == {store_frames.rep_id[u] for u in team}
    result = metrics.win_rate(
        store_frames.opportunities, period=LAST_12, today=TODAY, rep_ids=team_ids
    )
    assert (result.numerator, result.denominator) == (mine["won"].sum(), len(mine))


def test_lead_conversion_overall_and_by_source(
    store_frames: Frames, raw: dict[str, pd.DataFrame]
) -> None:
    leads, opps = raw["leads"], raw["opps"]
    linked = set(opps["Opportunity ID"])
    created = leads[between(leads["Created Date"], LAST_12)]
    converted = (
        (created["Lead Status"] == "Closed - Converted")
        | (created["Converted Date"] <= pd.Timestamp(TODAY))
        | created["Converted Opportunity ID"].isin(linked)
    )
    result = metrics.lead_conversion_rate(
        store_frames.leads,
        period=LAST_12,
        today=TODAY,
        opportunities=store_frames.opportunities,
    )
    assert (result.numerator, result.denominator) == (converted.sum(), len(created))

    table = metrics.conversion_by_source(
        store_frames.leads, store_frames.opportunities, period=LAST_12, today=TODAY
    )
    leads_step = table[table["funnel_step"] == "lead_to_opportunity"].set_index("source")
    expected = converted.groupby(created["source"]).agg(["sum", "size"])
    assert leads_step["numerator"].to_dict() == expected["sum"].to_dict()
    assert leads_step["denominator"].to_dict() == expected["size"].to_dict()

    deals = opps[between(opps["Created Date"], LAST_12)]
    won = deals["won"] & (deals["Close Date"] <= pd.Timestamp(TODAY))
    expected = won.groupby(deals["source"]).agg(["sum", "size"])
    deal_step = table[table["funnel_step"] == "opportunity_to_won"].set_index("source")
    assert deal_step["numerator"].to_dict() == expected["sum"].to_dict()
    assert deal_step["denominator"].to_dict() == expected["size"].to_dict()


def test_new_pipeline_per_rep_per_quarter(
    store_frames: Frames, raw: dict[str, pd.DataFrame]
) -> None:
    opps = raw["opps"]
    quarters = [fiscal_quarter(2024, q) for q in (1, 2, 3, 4)]
    sellers = sorted(set(opps["Opportunity Owner ID"]))
    table = metrics.new_pipeline_by_rep(
        store_frames.opportunities,
        periods=quarters,
        today=TODAY,
        rep_ids=[store_frames.rep_id[s] for s in sellers],
    )
    got = table.set_index(["rep_id", "period"])
    for quarter in quarters:
        created = opps[between(opps["Created Date"], quarter)]
        sums = created.groupby("Opportunity Owner ID")["Amount"].agg(["size", "sum"])
        for seller in sellers:
            row = got.loc[(store_frames.rep_id[seller], quarter.label)]
            deals = int(sums["size"].get(seller, 0))
            assert (row["deals"], row["amount"]) == (deals, float(sums["sum"].get(seller, 0.0)))


def test_acv_and_cycle_length(store_frames: Frames, raw: dict[str, pd.DataFrame]) -> None:
    opps = raw["opps"]
    won = opps[opps["won"] & between(opps["Close Date"], LAST_12)]
    acv = metrics.acv(store_frames.opportunities, period=LAST_12, today=TODAY)
    assert (acv.numerator, acv.denominator) == (won["Amount"].sum(), len(won))
    cycle = metrics.cycle_length(store_frames.opportunities, period=LAST_12, today=TODAY)
    days = (won["Close Date"] - won["Created Date"]).dt.days
    assert (cycle.numerator, cycle.denominator) == (days.sum(), len(won))
    assert cycle.value == pytest.approx(days.mean())


def test_clv_from_the_erp_invoices(store_frames: Frames, raw: dict[str, pd.DataFrame]) -> None:
    lines = raw["lines"]
    end = pd.Timestamp(TODAY)
    days = lines[lines["day"] <= end].groupby(["Customer No", "day"])["amount"].sum()
    days = days.reset_index()
    counts = days.groupby("Customer No").size()
    repeat = days[days["Customer No"].isin(counts[counts >= 2].index)]
    in_year = repeat[between(repeat["day"], LAST_12)]
    revenue, active = in_year["amount"].sum(), in_year["Customer No"].nunique()
    year_start = end - pd.Timedelta(days=364)
    prior = set(
        repeat.loc[
            (repeat["day"] >= year_start - pd.Timedelta(days=365)) & (repeat["day"] < year_start),
            "Customer No",
        ]
    )
    retention = len(prior & set(repeat.loc[repeat["day"] >= year_start, "Customer No"])) / len(
        prior
    )
    lifetime = min(1 / (1 - retention), 10.0) if retention < 1 else 10.0
    result = metrics.customer_lifetime_value(store_frames.order_lines, period=LAST_12, today=TODAY)
    assert result.numerator == pytest.approx(revenue)
    assert result.denominator == active
    assert result.details["retention_rate"] == pytest.approx(retention)
    assert result.value == pytest.approx(revenue / active * 365 / LAST_12.days * lifetime)


def test_quota_attainment(store_frames: Frames, raw: dict[str, pd.DataFrame]) -> None:
    opps, quotas = raw["opps"], raw["quotas"]
    won = opps[opps["won"] & between(opps["Close Date"], Q3)]
    for seller, group in quotas.groupby("Quota Owner ID"):
        quota = group.loc[group["Start Date"] == pd.Timestamp(Q3.start), "Quota Amount"].sum()
        achieved = won.loc[won["Opportunity Owner ID"] == seller, "Amount"].sum()
        result = metrics.quota_attainment(
            store_frames.targets,
            period=Q3,
            today=TODAY,
            rep_ids={store_frames.rep_id[seller]},
            opportunities=store_frames.opportunities,
        )
        assert (result.numerator, result.denominator) == (achieved, quota)


# --------------------------------------------------------------------- pipeline


def raw_stage_rates(raw: dict[str, pd.DataFrame]) -> tuple[dict[str, float], float]:
    """Stage-to-win without smoothing, straight from the history report."""
    opps, history = raw["opps"], raw["history"]
    closed = opps[opps["closed"]].set_index("Opportunity ID")["won"]
    entered = history[history["Opportunity ID"].isin(closed.index)]
    entered = entered[~entered["Stage"].isin(CLOSED)].drop_duplicates(["Opportunity ID", "Stage"])
    entered = entered.assign(won=entered["Opportunity ID"].map(closed))
    return entered.groupby("Stage")["won"].mean().to_dict(), float(closed.mean())


def test_pipeline_by_stage_and_weighted_pipeline(
    store_frames: Frames, raw: dict[str, pd.DataFrame]
) -> None:
    model = pipeline.StageModel(prior_strength=0, monotone=False).fit(
        store_frames.opportunities, store_frames.stage_history, as_of=TODAY
    )
    table = pipeline.pipeline_by_stage(
        store_frames.opportunities, store_frames.stage_history, today=TODAY, model=model
    ).set_index("stage")
    live = open_deals(raw["opps"])
    expected = live.groupby("Stage")["Amount"].agg(["size", "sum"])
    assert list(table.index) == STAGE_ORDER
    for stage in STAGE_ORDER:
        assert table.loc[stage, "deals"] == expected["size"].get(stage, 0)
        assert table.loc[stage, "amount"] == expected["sum"].get(stage, 0.0)
    rates, overall = raw_stage_rates(raw)
    assert table["win_probability"].to_dict() == pytest.approx(
        {stage: rates.get(stage, overall) for stage in STAGE_ORDER}
    )
    weighted = (live["Amount"] * live["Stage"].map(rates).fillna(overall)).sum()
    summary = pipeline.pipeline_summary(
        store_frames.opportunities, store_frames.stage_history, today=TODAY, model=model
    )
    assert summary.open_amount == live["Amount"].sum()
    assert summary.weighted_amount == pytest.approx(weighted)
    past_due = live[live["Close Date"] < pd.Timestamp(TODAY)]
    assert (summary.past_due_deals, summary.past_due_amount) == (
        len(past_due),
        past_due["Amount"].sum(),
    )


def test_forecast_for_the_current_quarter(
    store_frames: Frames, raw: dict[str, pd.DataFrame]
) -> None:
    opps = raw["opps"]
    closed_won = opps.loc[opps["won"] & between(opps["Close Date"], Q4), "Amount"].sum()
    in_quarter = opps["Close Date"].between(pd.Timestamp(Q4.start), pd.Timestamp(Q4.end))
    live = opps[~opps["closed"] & in_quarter & (opps["Forecast Category"] != "Omitted")]
    commit = closed_won + live.loc[live["Forecast Category"] == "Commit", "Amount"].sum()
    best = commit + live.loc[live["Forecast Category"] == "Best Case", "Amount"].sum()
    result = forecast.forecast(
        store_frames.opportunities, store_frames.stage_history, period=Q4, today=TODAY
    )
    assert result.closed_won == closed_won
    assert (result.commit, result.best_case) == (commit, best)
    assert result.pipeline == closed_won + live["Amount"].sum()
    assert result.open_deals == len(live)
    assert result.weighted is not None and closed_won <= result.weighted <= result.pipeline
    assert (result.p10 or 0) <= (result.p50 or 0) <= (result.p90 or 0)


def test_movement_since_a_month_ago(store_frames: Frames, raw: dict[str, pd.DataFrame]) -> None:
    since = TODAY - dt.timedelta(days=31)
    opps = raw["opps"]
    window = (opps["Close Date"] > pd.Timestamp(since)) & (
        opps["Close Date"] <= pd.Timestamp(TODAY)
    )
    created = (opps["Created Date"] > pd.Timestamp(since)) & (
        opps["Created Date"] <= pd.Timestamp(TODAY)
    )
    moves = pipeline.pipeline_movement(
        store_frames.opportunities, store_frames.stage_history, since=since, today=TODAY
    )
    counts = moves["movement"].value_counts()
    assert counts.get("won", 0) == (opps["won"] & window).sum()
    assert counts.get("lost", 0) == (opps["closed"] & ~opps["won"] & window).sum()
    assert counts.get("new", 0) == (~opps["closed"] & created).sum()


def test_stalled_deals(store_frames: Frames, raw: dict[str, pd.DataFrame]) -> None:
    live = open_deals(raw["opps"])
    tasks = raw["tasks"]
    last_task = tasks.groupby("Related To ID")["day"].max()
    last = live["Opportunity ID"].map(last_task).fillna(live["Created Date"])
    quiet = live[(pd.Timestamp(TODAY) - last).dt.days > 21]
    past_due = live[live["Close Date"] < pd.Timestamp(TODAY)]
    table = pipeline.stalled_deals(
        store_frames.opportunities,
        store_frames.stage_history,
        store_frames.activities,
        today=TODAY,
        no_activity_days=21,
        stage_time=False,
    )
    flagged = {
        rule: {store_frames.opportunities.set_index("opportunity_id").loc[i, "external_id"]
               for i, by in zip(table["opportunity_id"], table["stalled_by"], strict=True)
               if rule in by}
        for rule in ("no_activity", "past_close_date")
    }  # fmt: skip
    assert flagged["no_activity"] == set(quiet["Opportunity ID"])
    assert flagged["past_close_date"] == set(past_due["Opportunity ID"])
    assert len(quiet) > 0 and len(past_due) > 0
    assert table["next_step"].str.len().min() > 0


def test_reorders_due_next_week(store_frames: Frames, raw: dict[str, pd.DataFrame]) -> None:
    lines = raw["lines"]
    lines = lines[lines["day"] <= pd.Timestamp(TODAY)]
    days = lines.groupby(["Customer No", "Item Category", "day"])["amount"].sum().reset_index()
    expected = set()
    for (customer, category), group in days.groupby(["Customer No", "Item Category"]):
        if len(group) < 3:
            continue
        gaps = group["day"].diff().dt.days.dropna().to_numpy()[-6:]
        cycle = float(np.median(gaps))
        spread = float(np.median(np.abs(gaps - cycle))) / cycle
        last = group["day"].iloc[-1]
        due = last + pd.Timedelta(days=round(cycle))
        silent = (pd.Timestamp(TODAY) - last).days
        window = due >= pd.Timestamp(TODAY) and due <= pd.Timestamp(TODAY + dt.timedelta(days=6))
        if spread <= 0.5 and window and silent <= 3 * cycle:
            expected.add((store_frames.account_id[customer], category))
    got = reorders.reorders_due(store_frames.order_lines, today=TODAY)
    assert set(zip(got["account_id"], got["category"], strict=True)) == expected
    assert len(expected) > 0


def test_buying_group_coverage_of_an_open_deal(
    store_frames: Frames, raw: dict[str, pd.DataFrame]
) -> None:
    live = open_deals(raw["opps"]).iloc[0]
    contacts, tasks = raw["contacts"], raw["tasks"]
    people = contacts[contacts["Account ID"] == live["Account ID"]]
    recent = tasks[
        (tasks["day"] > pd.Timestamp(TODAY - dt.timedelta(days=90)))
        & (tasks["day"] <= pd.Timestamp(TODAY))
    ]
    engaged = set(people.loc[people["Contact ID"].isin(recent["Name ID"]), "role"])
    known = set(people["role"])
    roles = buying_group.BUYING_ROLES
    result = buying_group.buying_group_coverage(
        store_frames.opportunity_id[live["Opportunity ID"]],
        store_frames.opportunities,
        store_frames.contacts,
        store_frames.activities,
        today=TODAY,
    )
    assert set(result.engaged_roles) == engaged & set(roles)
    assert set(result.missing_roles) == set(roles) - known
    assert result.coverage == pytest.approx(len(engaged & set(roles)) / len(roles))


def test_lead_priorities_rank_every_open_lead(
    store_frames: Frames, raw: dict[str, pd.DataFrame]
) -> None:
    leads = raw["leads"]
    still_open = leads[
        ~leads["Lead Status"].isin(["Closed - Converted", "Closed - Not Converted"])
        & leads["Converted Opportunity ID"].isna()
    ]
    scorer = LeadScorer().fit(
        store_frames.leads,
        store_frames.activities,
        today=TODAY,
        opportunities=store_frames.opportunities,
    )
    ranked = scorer.rank(
        store_frames.leads,
        store_frames.activities,
        today=TODAY,
        opportunities=store_frames.opportunities,
    )
    assert len(ranked) == len(still_open)
    closed = leads[leads["Lead Status"].isin(["Closed - Converted", "Closed - Not Converted"])]
    converted = int((closed["Lead Status"] == "Closed - Converted").sum())
    enough = len(closed) >= 40 and min(converted, len(closed) - converted) >= 10
    assert (scorer.closed_leads_, scorer.converted_leads_) == (len(closed), converted)
    assert scorer.method_ == ("model" if enough else "rules")
    assert ranked["reason"].str.len().min() > 0


def test_every_named_metric_answers_for_a_rep(store_frames: Frames) -> None:
    seller = int(store_frames.opportunities["owner_id"].mode().iloc[0])
    data = metrics.MetricFrames(
        opportunities=store_frames.opportunities,
        leads=store_frames.leads,
        order_lines=store_frames.order_lines,
        accounts=store_frames.accounts,
        targets=store_frames.targets,
    )
    for name in metrics.METRICS:
        result = metrics.compute_metric(name, data, today=TODAY, rep_ids={seller})
        assert result.metric == name
        assert (result.value is None) == (result.reason is not None)
        assert result.period.start <= TODAY


# ------------------------------------------------------- both databases, re-import


def test_import_on_sqlite_and_postgresql_is_idempotent(
    engine: Engine, raw: dict[str, pd.DataFrame]
) -> None:
    import_export(engine)
    import_export(engine)  # a second run updates, never duplicates
    opps = frames.opportunities(engine)
    assert len(opps) == len(raw["opps"])
    assert len(frames.stage_history(engine)) == len(raw["history"])
    closed = raw["opps"][raw["opps"]["closed"] & between(raw["opps"]["Close Date"], LAST_12)]
    result = metrics.win_rate(opps, period=LAST_12, today=TODAY)
    assert (result.numerator, result.denominator) == (closed["won"].sum(), len(closed))
