"""Lead priorities: hand-computed rules, learned ICP, and a calibrated model on known odds."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics.errors import ModelNotFittedError
from analytics.leads import IdealCustomerProfile, LeadScorer, lead_features, learn_icp, size_band

TODAY = dt.date(2024, 6, 30)
ICP = IdealCustomerProfile(segments=frozenset({"healthcare"}), min_employees=50, max_employees=500)


def lead_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows,
        columns=[
            "lead_id", "company", "source", "segment", "employees", "status", "created_date",
            "converted_date",
        ],
    )  # fmt: skip
    frame["industry"] = "food"
    frame["region"] = "north"
    frame["owner_id"] = pd.array([1] * len(frame), dtype="Int64")
    frame["employees"] = pd.array(frame["employees"], dtype="Int64")
    for column in ("created_date", "converted_date"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


def activity_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["lead_id", "occurred_at", "kind"])
    frame["lead_id"] = pd.array(frame["lead_id"], dtype="Int64")
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"]).astype("datetime64[ns]")
    frame["opportunity_id"] = pd.array([None] * len(frame), dtype="Int64")
    frame["account_id"] = pd.array([None] * len(frame), dtype="Int64")
    return frame


def small_book() -> tuple[pd.DataFrame, pd.DataFrame]:
    leads = lead_frame(
        [
            (1, "Acme Clinic", "referral", "healthcare", 100, "open", "2024-06-01", None),
            (2, "Bolt Shop", "outbound", "retail", 20, "open", "2024-06-01", None),
            (3, "City Hospital", "inbound", "healthcare", 1000, "open", "2024-06-01", None),
            (4, "Done Deal", "referral", "healthcare", 80, "converted", "2024-01-01", "2024-02-01"),
            (5, "Future Co", "referral", "healthcare", 80, "open", "2024-07-15", None),
        ]
    )
    acts = activity_frame(
        [(1, f"2024-06-0{d} 10:00", "call") for d in range(2, 7)]
        + [
            (3, "2024-06-02 09:00", "email"),
            (3, "2024-06-06 09:00", "meeting"),
            (3, "2024-06-21 09:00", "call"),  # day 20: outside the first 14 days
            (2, "2024-06-03 09:00", "snooze"),  # snoozes are not touches
        ]
    )
    return leads, acts


def test_size_bands() -> None:
    bands = size_band(pd.Series([1, 10, 11, 50, 51, 200, 201, 1000, 1001, None], dtype="Int64"))
    assert bands.tolist() == [
        "1-10", "1-10", "11-50", "11-50", "51-200", "51-200", "201-1000", "201-1000", "1000+",
        "unknown",
    ]  # fmt: skip


def test_features_count_touches_in_the_first_two_weeks_only() -> None:
    leads, acts = small_book()
    features = lead_features(leads, acts, today=TODAY, icp=ICP)
    assert features["touches"].tolist() == [5.0, 0.0, 2.0, 0.0, 0.0]
    assert features["icp_fit"].tolist() == [1.0, 0.0, 0.5, 1.0, 1.0]
    assert features["size"].tolist() == ["51-200", "11-50", "201-1000", "51-200", "51-200"]


def test_rule_based_fallback_with_few_closed_leads() -> None:
    leads, acts = small_book()
    scorer = LeadScorer(icp=ICP).fit(leads, acts, today=TODAY)
    assert scorer.method_ == "rules"
    assert scorer.method_reason_.startswith("only 1 closed leads (1 converted)")
    table = scorer.rank(leads, acts, today=TODAY)
    assert table["lead_id"].tolist() == [1, 3, 2]  # closed and future leads are not ranked
    assert table["rank"].tolist() == [1, 2, 3]
    assert table["score"].tolist() == pytest.approx([8 / 8, 4.3 / 8, 0.5 / 8])
    assert table["method"].unique().tolist() == ["rules"]
    assert table.loc[0, "reasons"] == (
        "referral lead (+3 points)",
        "meets 2 of 2 ideal-customer criteria (segment, size) (+3.0 points)",
        "5 touches in its first 14 days (+2.0 points)",
    )
    assert table.loc[2, "reason"] == "outbound lead (+0.5 points)"


def test_learned_icp_picks_converting_segments_and_the_middle_sizes() -> None:
    rows = []
    for i in range(20):
        converted = i < 8  # healthcare: 8 of 10 convert, retail: 0 of 10
        segment = "healthcare" if i < 10 else "retail"
        status = "converted" if converted else "disqualified"
        rows.append((i, f"L{i}", "inbound", segment, 10 * (i + 1), status, "2024-01-01", None))
    icp = learn_icp(lead_frame(rows), today=TODAY)
    assert icp.segments == {"healthcare"}
    assert icp.industries == frozenset()  # every lead is "food": no better than overall
    sizes = np.array([10 * (i + 1) for i in range(8)], dtype=float)
    assert (icp.min_employees, icp.max_employees) == tuple(np.quantile(sizes, [0.25, 0.75]))


def synthetic(n: int, seed: int, status: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leads whose true conversion odds are known: referral and inbound beat outbound,
    healthcare beats the rest, every early touch adds to the log-odds."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["referral", "inbound", "outbound"], p=[0.2, 0.4, 0.4], size=n)
    segment = rng.choice(["healthcare", "retail", "education"], size=n)
    employees = rng.integers(5, 2000, size=n)
    touches = rng.poisson(2.0, size=n)
    logit = (
        -2.2
        + 1.8 * (source == "referral")
        + 0.8 * (source == "inbound")
        + 0.6 * (segment == "healthcare")
        + 0.35 * touches
    )
    truth = 1 / (1 + np.exp(-logit))
    converted = rng.random(n) < truth
    created = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    ids = np.arange(seed * 100_000, seed * 100_000 + n)
    statuses = status or np.where(converted, "converted", "disqualified")
    frame = lead_frame(
        [
            (int(i), f"Lead {i}", s, g, int(e), st, c, None)
            for i, s, g, e, st, c in zip(
                ids, source, segment, employees, np.broadcast_to(statuses, n), created, strict=True
            )
        ]
    )
    frame["truth"] = truth
    frame["converted"] = converted
    acts = activity_frame(
        [
            (int(i), c + pd.Timedelta(days=int(day)), "call")
            for i, c, k in zip(ids, created, touches, strict=True)
            for day in rng.integers(0, 13, size=k)
        ]
    )
    return frame, acts


def test_model_is_calibrated_on_leads_it_never_saw() -> None:
    train, train_acts = synthetic(1500, seed=1)
    scorer = LeadScorer().fit(train.drop(columns=["truth", "converted"]), train_acts, today=TODAY)
    assert scorer.method_ == "model"
    held_out, held_acts = synthetic(3000, seed=2)
    predicted = scorer.predict(held_out, held_acts, today=TODAY)
    observed = held_out["converted"].to_numpy(dtype=float)
    assert abs(predicted.mean() - observed.mean()) < 0.03
    bins = pd.qcut(predicted, 5, labels=False)
    for b in range(5):
        in_bin = bins == b
        assert abs(predicted[in_bin].mean() - observed[in_bin].mean()) < 0.06
    brier = np.mean((predicted - observed) ** 2)
    base = np.mean((observed.mean() - observed) ** 2)
    assert brier < 0.9 * base
    # it also tracks the true odds it was never told
    assert np.corrcoef(predicted, held_out["truth"])[0, 1] > 0.9


def test_model_ranks_open_leads_with_reasons() -> None:
    train, train_acts = synthetic(1500, seed=1)
    open_leads, open_acts = synthetic(200, seed=3, status="open")
    leads = pd.concat([train, open_leads], ignore_index=True).drop(columns=["truth", "converted"])
    acts = pd.concat([train_acts, open_acts], ignore_index=True)
    scorer = LeadScorer().fit(leads, acts, today=TODAY)
    table = scorer.rank(leads, acts, today=TODAY, top=20)
    assert len(table) == 20 and set(table["method"]) == {"model"}
    assert table["score"].is_monotonic_decreasing
    best = table.iloc[0]
    assert best["source"] == "referral"
    assert any(reason.startswith("source referral:") for reason in best["reasons"])
    assert "% of" in best["reason"]
    mine = scorer.rank(leads, acts, today=TODAY, rep_ids={2})
    assert mine.empty


def test_unfitted_scorer_raises() -> None:
    leads, acts = small_book()
    with pytest.raises(ModelNotFittedError):
        LeadScorer().rank(leads, acts, today=TODAY)
