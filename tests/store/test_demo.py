"""The demo distributor: deterministic, shaped like a real business, with its planted
behaviours actually present in the data, and written fast into SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import build_app
from bot.settings import get_settings
from store import frames
from store.bulk import BulkLoad, BulkLoadError, bulk_load, frame_rows
from store.db import make_engine
from store.demo import (
    CATEGORY_NAMES,
    DEMO_MANAGER_EMAIL,
    DEMO_REP_EMAIL,
    PLANTED_KINDS,
    PLANTED_TRUTH_COLUMNS,
    SEGMENT_NAMES,
    DemoDataError,
    DemoParams,
    StoreNotEmptyError,
    generate_demo,
    write_demo,
    write_planted_truth,
)
from store.migrate import upgrade
from store.models import Competitor, Opportunity, Rep, Utterance

END = dt.date(2025, 6, 30)
PARAMS = DemoParams(end_date=END, accounts=400, seed=11, years=2)


@pytest.fixture(scope="module")
def demo():
    return generate_demo(PARAMS)


def _lines(demo) -> pd.DataFrame:
    """Order lines with the product's category and the account's segment."""
    products = demo.tables["product"][["id", "category"]].rename(columns={"id": "product_id"})
    accounts = demo.tables["account"][["id", "external_id", "segment"]].rename(
        columns={"id": "account_id"}
    )
    lines = (
        demo.tables["order_line"].merge(products, on="product_id").merge(accounts, on="account_id")
    )
    lines["order_date"] = pd.to_datetime(lines["order_date"])
    return lines


def _day(iso: str) -> pd.Timestamp:
    return pd.Timestamp(iso)


# ----------------------------------------------------------------------- determinism


def test_same_parameters_give_identical_tables_and_planted_truth(demo, tmp_path):
    again = generate_demo(PARAMS)
    assert demo.tables.keys() == again.tables.keys()
    for name, frame in demo.tables.items():
        pd.testing.assert_frame_equal(frame, again.tables[name], obj=name)
    first = write_planted_truth(demo.planted_truth, tmp_path / "a").read_bytes()
    second = write_planted_truth(again.planted_truth, tmp_path / "b").read_bytes()
    assert first == second
    assert first.decode().splitlines()[0] == ",".join(PLANTED_TRUTH_COLUMNS)


def test_another_seed_gives_another_business(demo):
    other = generate_demo(DemoParams(end_date=END, accounts=400, seed=12, years=2))
    assert other.tables["account"]["name"].tolist() != demo.tables["account"]["name"].tolist()
    assert len(other.tables["order_line"]) != len(demo.tables["order_line"])


def test_parameters_are_validated():
    with pytest.raises(DemoDataError, match="--accounts must be at least 50"):
        DemoParams(end_date=END, accounts=10)
    with pytest.raises(DemoDataError, match="--years must be between 1 and 10"):
        DemoParams(end_date=END, years=0)


# ------------------------------------------------------------------------------ shape


def test_team_is_a_vp_managers_reps_and_an_admin(demo):
    reps = demo.tables["rep"].set_index("email")
    vp = reps[reps["title"] == "VP of Sales"]
    assert len(vp) == 1 and pd.isna(vp["manager_id"].iloc[0])
    managers = reps[(reps["role"] == "manager") & (reps["manager_id"] == vp["id"].iloc[0])]
    assert 2 <= len(managers) <= 4
    for manager_id in managers["id"]:
        team = reps[reps["manager_id"] == manager_id]
        assert 4 <= len(team) <= 8
        assert set(team["role"]) == {"rep"}
    assert (reps["role"] == "admin").sum() == 1
    assert reps.loc[DEMO_REP_EMAIL, "role"] == "rep"
    assert reps.loc[DEMO_MANAGER_EMAIL, "role"] == "manager"
    assert reps.loc[DEMO_REP_EMAIL, "manager_id"] == reps.loc[DEMO_MANAGER_EMAIL, "id"]
    assert all(email.endswith("@demo-distributor.example") for email in reps.index)
    for zone in reps["timezone"]:
        zoneinfo.ZoneInfo(zone)
    assert reps["timezone"].nunique() >= 3


def test_accounts_spread_over_segments_sizes_and_owners(demo):
    accounts = demo.tables["account"]
    assert len(accounts) == PARAMS.accounts
    assert accounts["external_id"].is_unique and accounts["name"].is_unique
    assert set(accounts["segment"]) == set(SEGMENT_NAMES)
    assert set(accounts["size"]) >= {"small", "mid", "large"}
    assert {"Acme Foods", "Acme Food Service"} <= set(accounts["name"])
    reps = demo.tables["rep"]
    sellers = set(reps.loc[reps["role"] == "rep", "id"])
    assert set(accounts["owner_id"]) <= sellers
    demo_rep = int(reps.loc[reps["email"] == DEMO_REP_EMAIL, "id"].iloc[0])
    assert (accounts["owner_id"] == demo_rep).sum() >= 10
    # power law: the top 10% of accounts bring far more than 10% of revenue
    revenue = demo.tables["order_line"].groupby("account_id")["amount"].sum().sort_values()
    top = revenue.iloc[-len(revenue) // 10 :].sum() / revenue.sum()
    assert top > 0.35


def test_catalogue_has_categories_with_subcategories_and_prices(demo):
    products = demo.tables["product"]
    assert products["category"].nunique() >= 12
    per_category = products.groupby("category").size()
    assert per_category.between(10, 30).all()
    assert (products.groupby("category")["subcategory"].nunique() >= 2).all()
    assert (products["unit_price"] > 0).all() and products["external_id"].is_unique


def test_segments_buy_different_category_mixes(demo):
    lines = _lines(demo)
    share = lines.groupby(["segment", "category"])["account_id"].nunique().unstack(fill_value=0)
    share = share.div(lines.groupby("segment")["account_id"].nunique(), axis=0)
    assert (
        share.loc["Healthcare", "Medical Supplies"]
        > 0.8
        > share.loc["Hospitality", "Medical Supplies"]
    )
    assert (
        share.loc["Food Service", "Disposables"] > 0.8 > share.loc["Manufacturing", "Disposables"]
    )
    assert share.loc["Manufacturing", "Safety & PPE"] > 0.8 > share.loc["Education", "Safety & PPE"]


def test_orders_have_one_header_per_day_and_consistent_lines(demo):
    orders = demo.tables["sales_order"]
    lines = demo.tables["order_line"]
    assert not orders.duplicated(["account_id", "order_date"]).any()
    assert orders["id"].tolist() == list(range(1, len(orders) + 1))
    assert set(lines["order_id"]) == set(orders["id"])
    assert not lines.duplicated(["order_id", "line_key"]).any()
    header = orders.set_index("id").loc[lines["order_id"]]
    assert (header["account_id"].to_numpy() == lines["account_id"].to_numpy()).all()
    assert (header["order_date"].to_numpy() == lines["order_date"].to_numpy()).all()
    expected = lines["quantity"] * lines["unit_price"] * (1 - lines["discount"])
    assert np.abs(lines["amount"] - expected).max() <= 0.005 + 1e-9
    assert (lines["quantity"] >= 1).all() and lines["discount"].between(0, 0.3).all()
    assert lines.groupby("order_id").size().mean() > 2
    assert pd.to_datetime(lines["order_date"]).max() <= pd.Timestamp(END)
    assert pd.to_datetime(lines["order_date"]).min() >= pd.Timestamp(PARAMS.start_date)


def test_pipeline_moves_through_stages_with_long_cycles(demo):
    deals = demo.tables["opportunity"]
    history = demo.tables["opportunity_stage_history"]
    assert {"prospecting", "qualification", "needs_analysis", "proposal", "negotiation"} <= set(
        history["stage"]
    )
    assert {"closed_won", "closed_lost"} <= set(deals["stage"])
    expansion = deals[deals["source"] == "existing_customer"]
    won = expansion[expansion["is_won"]]
    cycle = (won["close_date"] - won["created_date"]).dt.days
    assert (cycle >= 120).mean() > 0.6
    closed = expansion[expansion["is_closed"]]
    assert 0.1 < closed["is_won"].mean() < 0.4
    open_deals = deals[~deals["is_closed"]]
    assert len(open_deals) > 10 and open_deals["next_step"].notna().all()
    assert set(open_deals["forecast_category"]) <= {"pipeline", "best_case", "commit"}
    # every deal's history starts at its creation and follows the stage order
    first = history.groupby("opportunity_id")["entered_date"].min()
    created = deals.set_index("id")["created_date"]
    assert (first == created.loc[first.index]).all()


def test_demo_rep_has_open_deals_stuck_and_quiet(demo):
    reps = demo.tables["rep"]
    demo_rep = int(reps.loc[reps["email"] == DEMO_REP_EMAIL, "id"].iloc[0])
    deals = demo.tables["opportunity"]
    mine = deals[(deals["owner_id"] == demo_rep) & ~deals["is_closed"]]
    assert len(mine) >= 4
    history = demo.tables["opportunity_stage_history"]
    entered = history.groupby("opportunity_id")["entered_date"].max()
    in_stage = (pd.Timestamp(END) - entered.loc[mine["id"]]).dt.days
    assert in_stage.max() >= 100
    activity = demo.tables["activity"]
    last_touch = (
        activity.dropna(subset=["opportunity_id"]).groupby("opportunity_id")["occurred_at"].max()
    )
    quiet = (pd.Timestamp(END, tz="UTC") - last_touch.reindex(mine["id"])).dt.days
    assert (quiet >= 30).any()


def test_leads_convert_far_better_by_referral_than_outbound(demo):
    leads = demo.tables["lead"]
    rate = leads.groupby("source")["status"].apply(lambda s: (s == "converted").mean())
    assert set(rate.index) == {"inbound", "outbound", "referral", "event", "partner"}
    assert rate["referral"] > 5 * rate["outbound"]
    converted = leads[leads["status"] == "converted"]
    assert converted["account_id"].notna().all() and converted["converted_date"].notna().all()
    assert leads.loc[leads["status"] != "converted", "account_id"].isna().all()


def test_contacts_cover_buying_roles_with_gaps(demo):
    contacts = demo.tables["contact"]
    assert set(contacts["buying_role"]) == {
        "decision_maker", "finance", "technical", "procurement", "champion", "user",
    }  # fmt: skip
    roles = contacts.groupby("account_id")["buying_role"].apply(set)
    assert roles.apply(lambda r: "finance" not in r).mean() > 0.2
    assert (contacts.groupby("account_id").size() >= 1).all()


def test_quotas_and_calls(demo):
    targets = demo.tables["target"]
    reps = demo.tables["rep"]
    assert set(targets["rep_id"]) == set(reps.loc[reps["role"] == "rep", "id"])
    assert set(targets["metric"]) == {"revenue", "bookings"}
    assert (targets["amount"] > 0).all()
    assert (pd.to_datetime(targets["period_start"]).dt.month % 3 == 1).all()
    calls, utterances = demo.tables["call"], demo.tables["utterance"]
    demo_rep = int(reps.loc[reps["email"] == DEMO_REP_EMAIL, "id"].iloc[0])
    assert (calls["rep_id"] == demo_rep).sum() >= 3
    text_ = " ".join(utterances["text"]).lower()
    for phrase in ("too high", "budget", "next step", "procurement", "quoted us"):
        assert phrase in text_
    assert (
        utterances.groupby("call_id")["is_rep"]
        .agg(["any", "all"])
        .pipe(lambda f: f["any"] & ~f["all"])
        .all()
    )


# -------------------------------------------------------------------- planted truth


def test_every_planted_kind_is_present(demo):
    planted = demo.planted_truth
    assert list(planted.columns) == list(PLANTED_TRUTH_COLUMNS)
    assert set(planted["kind"]) == set(PLANTED_KINDS)
    accounts = set(demo.tables["account"]["external_id"])
    assert set(planted["account_external_id"]) <= accounts
    assert set(planted["category"]) - {""} <= set(CATEGORY_NAMES)
    assert (planted["note"].str.len() > 10).all()


def test_defections_stop_or_drop_sharply(demo):
    lines = _lines(demo)
    planted = demo.planted_truth
    recent = 0
    for row in planted[planted["kind"] == "defection"].itertuples():
        since = _day(row.since)
        own = lines[lines["external_id"] == row.account_external_id]
        before = own[
            (own["order_date"] < since) & (own["order_date"] >= since - pd.Timedelta(days=365))
        ]
        after = own[own["order_date"] >= since]
        assert len(before) > 0
        if len(after):
            days_before = (
                since - max(own["order_date"].min(), since - pd.Timedelta(days=365))
            ).days
            rate_before = before["amount"].sum() / max(days_before, 1)
            rate_after = after["amount"].sum() / ((pd.Timestamp(END) - since).days + 1)
            assert rate_after <= 0.3 * rate_before, row
        recent += 30 <= (pd.Timestamp(END) - since).days <= 120
    assert recent >= 4


def test_category_defections_stop_one_category_only(demo):
    lines = _lines(demo)
    planted = demo.planted_truth
    rows = planted[planted["kind"] == "category_defection"]
    assert len(rows) >= 4
    for row in rows.itertuples():
        since = _day(row.since)
        own = lines[lines["external_id"] == row.account_external_id]
        category = own[own["category"] == row.category]
        assert (category["order_date"] < since).any()
        assert not (category["order_date"] >= since).any()
        assert (own["order_date"] >= since).any(), row


def test_cross_sell_gaps_are_categories_peers_buy(demo):
    lines = _lines(demo)
    accounts = demo.tables["account"].set_index("external_id")
    bought = lines.groupby("external_id")["category"].apply(set)
    planted = demo.planted_truth
    rows = planted[planted["kind"] == "cross_sell_gap"]
    assert len(rows) >= 4
    for row in rows.itertuples():
        assert row.category not in bought[row.account_external_id]
        segment = accounts.loc[row.account_external_id, "segment"]
        peers = bought[bought.index.isin(accounts.index[accounts["segment"] == segment])]
        assert peers.apply(lambda c, cat=row.category: cat in c).mean() >= 0.6


def test_one_off_new_adoption_seasonal_and_volatile_accounts(demo):
    lines = _lines(demo)
    orders = lines.groupby("external_id")["order_date"].agg(["min", "max", "nunique"])
    planted = demo.planted_truth
    end = pd.Timestamp(END)
    for row in planted[planted["kind"] == "one_off"].itertuples():
        assert orders.loc[row.account_external_id, "nunique"] == 1
        assert orders.loc[row.account_external_id, "min"] == _day(row.since)
    for row in planted[planted["kind"] == "new"].itertuples():
        assert orders.loc[row.account_external_id, "min"] == _day(row.since)
        assert (end - _day(row.since)).days < 60
    for row in planted[planted["kind"] == "adoption"].itertuples():
        own = lines[lines["external_id"] == row.account_external_id]
        first = own.loc[own["category"] == row.category, "order_date"].min()
        assert first == _day(row.since) and (end - first).days < 90
        assert (end - own["order_date"].min()).days >= 180
    for row in planted[planted["kind"] == "seasonal"].itertuples():
        own = lines[lines["external_id"] == row.account_external_id]
        days = pd.Series(own["order_date"].unique())
        since = _day(row.since)
        year = pd.Timedelta(days=365)
        assert ((days >= since) & (days <= end)).sum() <= 1
        assert ((days >= since - year) & (days <= end - year)).sum() <= 1
        assert ((days < since) & (days >= since - pd.Timedelta(days=90))).sum() >= 3
    day_sets = lines.groupby("external_id")["order_date"].apply(lambda d: np.sort(d.unique()))
    for row in planted[planted["kind"] == "volatile"].itertuples():
        days = day_sets[row.account_external_id]
        gaps = np.diff(days).astype("timedelta64[D]").astype(int)
        assert len(gaps) >= 5 and gaps.std() / gaps.mean() > 0.4
        assert (end - pd.Timestamp(days[-1])).days <= np.quantile(gaps, 0.8)


# ---------------------------------------------------------------------------- writing


def test_writes_into_the_store_and_refuses_to_overwrite(engine, demo):
    report = write_demo(engine, demo)
    assert report.rows["order_line"] == len(demo.tables["order_line"])
    lines = frames.order_lines(engine)
    assert len(lines) == len(demo.tables["order_line"])
    assert lines["amount"].sum() == pytest.approx(
        demo.tables["order_line"]["amount"].sum(), abs=0.01
    )
    assert lines["quantity"].sum() == demo.tables["order_line"]["quantity"].sum()
    accounts = frames.accounts(engine)
    assert accounts["external_id"].tolist() == demo.tables["account"]["external_id"].tolist()
    assert frames.reps(engine)["email"].tolist() == demo.tables["rep"]["email"].tolist()
    deals = frames.opportunities(engine)
    assert deals["amount"].sum() == pytest.approx(demo.tables["opportunity"]["amount"].sum())
    assert len(frames.activities(engine)) == len(demo.tables["activity"])
    assert len(frames.stage_history(engine)) == len(demo.tables["opportunity_stage_history"])
    with Session(engine) as session:
        assert len(session.exec(select(Competitor)).all()) >= 4
        said = session.exec(select(Utterance).where(Utterance.call_id == 1)).all()
        assert len(said) == len(demo.tables["utterance"].query("call_id == 1"))
        # explicit ids were loaded: new rows still get fresh ids (PostgreSQL sequences moved on)
        session.add(Rep(external_id="new-rep", name="New Rep", email="new.rep@example.com"))
        session.commit()
        assert (
            session.exec(select(Rep).where(Rep.external_id == "new-rep")).one().id
            == len(demo.tables["rep"]) + 1
        )
        stuck = session.exec(select(Opportunity).where(Opportunity.stage == "proposal")).first()
        assert stuck is not None and stuck.created_date <= END

    with pytest.raises(StoreNotEmptyError, match="--replace"):
        write_demo(engine, demo)
    assert len(frames.order_lines(engine)) == len(demo.tables["order_line"])


def test_replace_clears_business_data_first(engine):
    small = generate_demo(DemoParams(end_date=END, accounts=120, seed=3, years=1))
    write_demo(engine, small)
    smaller = generate_demo(DemoParams(end_date=END, accounts=80, seed=4, years=1))
    write_demo(engine, smaller, replace=True)
    accounts = frames.accounts(engine)
    assert accounts["external_id"].tolist() == smaller.tables["account"]["external_id"].tolist()
    assert len(frames.order_lines(engine)) == len(smaller.tables["order_line"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM competitor")).scalar() == 4


def test_same_inputs_give_identical_store_contents(tmp_path):
    params = DemoParams(end_date=END, accounts=150, seed=5, years=1)
    dumps = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        write_demo(engine, generate_demo(params))
        with engine.connect() as conn:
            tables = ["rep", "account", "contact", "product", "sales_order", "order_line", "lead",
                      "opportunity", "opportunity_stage_history", "activity", "target", "call",
                      "utterance"]  # fmt: skip
            dumps.append(
                {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY id")).fetchall() for t in tables}
            )
            assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []
        engine.dispose()
    assert dumps[0] == dumps[1]


def test_cli_writes_store_and_planted_truth_then_refuses(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESBOT_HOME", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    args = [
        "demo-data",
        "--accounts",
        "120",
        "--seed",
        "3",
        "--years",
        "1",
        "--end-date",
        "2025-06-30",
    ]
    try:
        first = CliRunner().invoke(build_app(), [*args, "--out", str(tmp_path / "truth")])
        second = CliRunner().invoke(build_app(), args)
        third = CliRunner().invoke(build_app(), [*args, "--replace"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert "order lines" in first.output and DEMO_REP_EMAIL in first.output
    planted = pd.read_csv(
        tmp_path / "truth" / "planted_truth.csv", dtype=str, keep_default_na=False
    )
    assert set(planted["kind"]) <= set(PLANTED_KINDS) and len(planted) > 0
    assert second.exit_code == 1
    assert "already holds business data" in second.output and "--replace" in second.output
    assert third.exit_code == 0, third.output
    assert (tmp_path / "demo" / "planted_truth.csv").exists()


# ------------------------------------------------------------------------- bulk helpers


def test_bulk_load_round_trips_every_column_type(engine):
    reps = pd.DataFrame(
        {
            "id": [1, 2],
            "external_id": ["r1", "r2"],
            "name": ["Ann", "Bob"],
            "email": ["ann@example.com", "bob@example.com"],
            "role": ["manager", "rep"],
            "title": [None, "AE"],
            "timezone": ["UTC", "Europe/Berlin"],
            "active": [True, False],
            "manager_id": pd.array([None, 1], dtype="Int64"),
            "created_at": pd.to_datetime(["2024-01-02 03:04:05.123456+00:00"] * 2, utc=True),
        }
    )
    competitors = pd.DataFrame(
        {
            "name": ["Rival"],
            "aliases": [["Riv", "R1"]],
            "battlecard": [None],
            "created_at": pd.to_datetime(["2024-01-02T00:00:00Z"], utc=True),
        }
    )
    report = bulk_load(
        engine,
        [
            BulkLoad(Rep.__table__, reps, defer_indexes=True),
            BulkLoad(Competitor.__table__, competitors),
        ],  # type: ignore[attr-defined]
    )
    assert report.rows == {"rep": 2, "competitor": 1}
    with Session(engine) as session:
        ann, bob = session.exec(select(Rep).order_by(Rep.id)).all()
        assert (ann.title, bob.title, ann.active, bob.active) == (None, "AE", True, False)
        assert bob.manager_id == 1 and ann.manager_id is None
        assert ann.created_at == dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
        assert session.exec(select(Competitor)).one().aliases == ["Riv", "R1"]
        session.add(Rep(external_id="r3", name="Cy", email="cy@example.com"))
        session.commit()
        assert session.exec(select(Rep).where(Rep.external_id == "r3")).one().id == 3
    # indexes dropped for the load are back
    with Session(engine) as session, pytest.raises(IntegrityError):
        session.add(Rep(external_id="r1", name="Dup", email="dup@example.com"))
        session.commit()


def test_bulk_load_failure_leaves_the_store_unchanged(engine):
    reps = pd.DataFrame(
        {"id": [1], "external_id": ["r1"], "name": ["Ann"], "email": ["a@example.com"],
         "role": ["rep"], "timezone": ["UTC"], "active": [True],
         "created_at": pd.to_datetime(["2024-01-01"], utc=True)}
    )  # fmt: skip
    duplicate = reps.assign(id=[2], email=["b@example.com"])
    with pytest.raises(BulkLoadError, match="rep"):
        bulk_load(engine, [BulkLoad(Rep.__table__, reps), BulkLoad(Rep.__table__, duplicate)])  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert session.exec(select(Rep)).all() == []


def test_frame_rows_rejects_unknown_columns():
    with pytest.raises(BulkLoadError, match="no column"):
        frame_rows(Rep.__table__, pd.DataFrame({"nickname": ["x"]}), dialect="sqlite")  # type: ignore[attr-defined]
