"""Rendering of the deal and lead answers from hand-built data (no store, no analytics)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from render import pipeline as view
from render.blocks import MAX_MESSAGE_BLOCKS, validate_blocks

SCOPE = {"label": "your book", "rep_ids": [3], "rep_id": 3, "is_team": False}
TEAM = {"label": "your team", "rep_ids": [1, 3, 4], "rep_id": 1, "is_team": True}
Q2 = {"label": "Q2 2026", "start": "2026-04-01", "end": "2026-06-30"}
WEIGHTS = {"closed_deals": 412, "won_deals": 160, "overall_win_rate": 0.388, "as_of": "2026-05-20"}


def buttons(answer) -> dict[str, str]:
    """Button label -> the text it sends as the user."""
    out = {}
    for block in answer.blocks:
        if block["type"] == "actions":
            for element in block["elements"]:
                out[element["text"]["text"]] = json.loads(element["value"])["payload"]
    return out


def deal(n: int, **extra: Any) -> dict[str, Any]:
    row = {
        "opportunity_id": n,
        "name": f"Acme Foods - program {n}",
        "account_id": 10 + n,
        "account_name": "Acme Foods",
        "owner_id": 3,
        "owner_name": "Jordan Reyes",
        "stage": "needs_analysis",
        "amount": 12500.0,
        "close_date": "2026-06-15",
        "win_probability": 0.69,
        "weighted_amount": 8625.0,
        "forecast_category": None,
    }
    row.update(extra)
    return row


def pipeline_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "as_of": "2026-05-20",
        "scope": SCOPE,
        "asked": {"rep": None, "period": "this quarter"},
        "period": Q2,
        "open_deals": 3,
        "total_value": 44000.0,
        "weighted_value": 29100.0,
        "weighted_reason": None,
        "stages": [
            {
                "stage": "prospecting",
                "position": 0,
                "deals": 1,
                "value": 4000.0,
                "win_probability": 0.47,
                "weighted": 1880.0,
            },
            {
                "stage": "needs_analysis",
                "position": 1,
                "deals": 2,
                "value": 40000.0,
                "win_probability": 0.69,
                "weighted": 27600.0,
            },
            {
                "stage": "negotiation",
                "position": 2,
                "deals": 0,
                "value": 0.0,
                "win_probability": 0.89,
                "weighted": 0.0,
            },
        ],
        "closing_total": {"deals": 3, "value": 44000.0, "weighted": 29100.0},
        "closing": [deal(1), deal(2)],
        "past_due": {"deals": 1, "value": 25000.0},
        "movement": {
            "since": "2026-05-13",
            "until": "2026-05-20",
            "summary": {
                "new": {"deals": 1, "value": 4000.0},
                "advanced": {"deals": 0, "value": 0.0},
                "slipped": {"deals": 1, "value": 25000.0},
                "won": {"deals": 0, "value": 0.0},
                "lost": {"deals": 0, "value": 0.0},
            },
            "deals": [
                {
                    **deal(3),
                    "movement": "new",
                    "stage_before": None,
                    "stage_now": "prospecting",
                    "reason": "created on 2026-05-15, now in prospecting",
                },
            ],
        },
        "by_rep": None,
        "weights": WEIGHTS,
        "offset": 0,
        "page_size": 2,
    }
    data.update(changes)
    return data


def test_button_payloads_ask_the_assistant_with_entities() -> None:
    assert view.ask("ask_pipeline") == "/ask_pipeline"
    assert view.ask("ask_metric", metric="win_rate", rep=None, period="") == (
        '/ask_metric{"metric":"win_rate"}'
    )
    assert view.ask("ask_forecast", rep="Aisha", period="Q3") == (
        '/ask_forecast{"period":"Q3","rep":"Aisha"}'
    )


def test_pipeline_answer_names_its_numbers_basis_and_next_steps() -> None:
    data = pipeline_data()
    answer = view.pipeline_answer(data)
    assert answer.kind == "pipeline" and answer.data is data
    assert answer.text.startswith(
        "Your book: $44k open in 3 deals; weighted $29k with the stage odds learned from "
        "412 closed deals."
    )
    assert "3 deals ($44k, weighted $29k) expected to close in Q2 2026 (Apr 1 – Jun 30, 2026)" in (
        answer.text
    )
    assert "1 open deal ($25k) already past the expected close date" in answer.text
    assert "Since May 13, 2026: 1 new ($4.0k), 1 slipped ($25k)." in answer.text
    assert "• Needs analysis: 2 deals, $40k · 69% odds → $28k" in answer.text
    assert "Closing in Q2 2026 (1–2 of 3)" in answer.text
    assert "Negotiation" in answer.text  # a learned stage with no deal is still listed
    assert validate_blocks(answer.blocks) == []
    assert buttons(answer) == {
        "Why these odds?": "/ask_why",
        "More deals closing": "/show_more",
        "Stalled deals": "/ask_stalled_deals",
        "Forecast": '/ask_forecast{"period":"this quarter"}',
    }


def test_pipeline_without_closed_history_says_why_there_is_no_weighting() -> None:
    reason = "no deal had closed by 2026-05-20, so there are no learned win probabilities"
    answer = view.pipeline_answer(
        pipeline_data(
            weighted_value=None,
            weighted_reason=reason,
            closing_total={"deals": 0, "value": 0.0, "weighted": None},
            closing=[],
            weights={**WEIGHTS, "closed_deals": 0, "overall_win_rate": None},
        )
    )
    assert "No deal had closed by 2026-05-20" in answer.text
    assert "Why these odds?" not in buttons(answer)
    assert validate_blocks(answer.blocks) == []


def test_a_further_page_lists_only_the_next_deals() -> None:
    answer = view.pipeline_answer(pipeline_data(offset=2, closing=[deal(3)]))
    assert answer.text.splitlines()[0] == "More deals closing in Q2 2026 (3–3 of 3)"
    assert "Show more" not in buttons(answer)
    assert validate_blocks(answer.blocks) == []


def test_team_answers_name_the_owner_and_list_reps() -> None:
    answer = view.pipeline_answer(
        pipeline_data(
            scope=TEAM,
            by_rep=[
                {
                    "rep_id": 3,
                    "name": "Jordan Reyes",
                    "open_deals": 3,
                    "open_amount": 44000.0,
                    "weighted_amount": 29100.0,
                },
                {
                    "rep_id": 1,
                    "name": "Priya Shah",
                    "open_deals": 0,
                    "open_amount": 0.0,
                    "weighted_amount": 0.0,
                },
            ],
        )
    )
    assert "· Jordan Reyes" in answer.text
    assert "• Priya Shah: 0 deals, $0 (weighted $0)" in answer.text


def test_stage_weights_explanation_shows_counts_and_learned_odds() -> None:
    data = {
        "skill": "forecast",
        "weights": WEIGHTS,
        "prior_strength": 2.0,
        "stage_weights": [
            {
                "stage": "prospecting",
                "closed_deals": 400,
                "won_deals": 160,
                "raw_rate": 0.4,
                "win_probability": 0.401,
            },
            {
                "stage": "legal_review",
                "closed_deals": 0,
                "won_deals": 0,
                "raw_rate": None,
                "win_probability": 0.388,
            },
        ],
        "thresholds": {"commit_probability": 0.6, "best_case_probability": 0.3},
        "simulations": 5000,
    }
    answer = view.stage_weights_answer(data)
    assert answer.kind == "forecast_why"
    assert "412 deals closed by May 20, 2026 (160 won, overall win rate 39%)" in answer.text
    assert "• Prospecting: 160 of 400 won (40%) → 40%" in answer.text
    assert "• Legal review: no closed deal reached it (overall rate used) → 39%" in answer.text
    assert "5,000 simulated" in answer.text
    assert buttons(answer) == {
        "Pipeline": "/ask_pipeline",
        "Quota attainment": '/ask_metric{"metric":"quota_attainment"}',
    }
    assert validate_blocks(answer.blocks) == []
    pipeline_why = view.stage_weights_answer(
        {**data, "skill": "pipeline", "asked": {"rep": "Aisha", "period": "Q3"}}
    )
    assert buttons(pipeline_why) == {
        "Forecast": '/ask_forecast{"period":"Q3","rep":"Aisha"}',
        "Stalled deals": '/ask_stalled_deals{"rep":"Aisha"}',
    }


def stalled_data(n: int, long: bool = False) -> dict[str, Any]:
    words = " and a very long explanation" * 40 if long else ""
    deals = [
        {
            **deal(i, name=f"Deal {i}{words}"),
            "days_in_stage": 118.0,
            "typical_days_in_stage": 37.0,
            "days_since_activity": 52.0,
            "last_activity_date": "2026-03-29",
            "stalled_by": ["stage_time", "no_activity"],
            "reason": f"in needs_analysis for 118 days; 75% of won deals moved on within 37 days{words}",
            "next_step": "Propose a mutual close plan with dates for each remaining step",
            "buying_group": {
                "coverage": 0.4,
                "engaged_roles": ["champion", "decision_maker"],
                "not_engaged_roles": ["finance"],
                "missing_roles": ["technical", "procurement"],
                "lookback_days": 90,
                "reason": "2 of 5 buying roles engaged in the last 90 days",
                "next_step": "Re-engage Dana Cole (finance contact): nothing logged with them lately",
            }
            if i == 1
            else None,
        }
        for i in range(1, n + 1)
    ]
    return {
        "as_of": "2026-05-20",
        "scope": SCOPE,
        "asked": {"rep": "Jordan", "period": None},
        "open_deals": 80,
        "total": n,
        "total_value": 12500.0 * n,
        "no_activity_days": 14,
        "deals": deals,
        "offset": 0,
        "page_size": n,
    }


def test_stalled_answer_gives_reason_next_step_and_buying_group_gaps() -> None:
    answer = view.stalled_answer(stalled_data(2))
    assert answer.text.startswith("2 deals of your book look stuck ($25k of 80 open deals):")
    assert "_stuck in stage, gone quiet_" in answer.text
    assert "Buying group 2/5 engaged (missing: finance, technical, procurement)." in answer.text
    assert "→ Propose a mutual close plan with dates for each remaining step. Re-engage Dana" in (
        answer.text
    )
    assert buttons(answer)["Pipeline"] == '/ask_pipeline{"rep":"Jordan"}'
    assert validate_blocks(answer.blocks) == []


def test_one_stalled_deal_reads_in_the_singular() -> None:
    assert view.stalled_answer(stalled_data(1)).text.startswith("1 deal of your book looks stuck")


def test_long_lists_and_long_texts_stay_within_slack_limits() -> None:
    answer = view.stalled_answer(stalled_data(80, long=True))
    assert len(answer.blocks) <= MAX_MESSAGE_BLOCKS
    assert validate_blocks(answer.blocks) == []


def test_nothing_stalled_is_one_sentence_with_a_next_step() -> None:
    data = {**stalled_data(0), "open_deals": 4}
    answer = view.stalled_answer(data)
    assert answer.text.startswith("None of the 4 open deals of your book looks stuck")
    assert list(buttons(answer)) == ["Pipeline"]


def forecast_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "as_of": "2026-05-20",
        "scope": SCOPE,
        "asked": {"rep": None, "period": None},
        "period": Q2,
        "closed_won": 12000.0,
        "closed_won_deals": 1,
        "commit": 37000.0,
        "best_case": 52000.0,
        "pipeline": 56000.0,
        "open_deals": 3,
        "weighted": 41000.0,
        "std": 9000.0,
        "p10": 30000.0,
        "p50": 41000.0,
        "p90": 52000.0,
        "quota": 30000.0,
        "attainment": 0.4,
        "projected_attainment": 41000.0 / 30000.0,
        "chance_of_quota": 0.83,
        "reason": None,
        "quota_reason": None,
        "deals": [{**deal(1), "category": "best_case"}],
        "by_rep": None,
        "weights": WEIGHTS,
        "thresholds": {"commit_probability": 0.6, "best_case_probability": 0.3},
        "offset": 0,
        "page_size": 1,
    }
    data.update(changes)
    return data


def test_forecast_answer_has_commit_best_case_weighted_range_and_quota() -> None:
    answer = view.forecast_answer(forecast_data())
    assert answer.text.startswith(
        "Forecast for your book, Q2 2026 (Apr 1 – Jun 30, 2026): commit $37k, best case $52k, "
        "weighted $41k (likely range $30k–$52k)."
    )
    assert "Quota $30k: 40% attained, 137% projected with the weighted forecast, 83% chance" in (
        answer.text
    )
    assert "best case, closes Jun 15" in answer.text
    assert buttons(answer)["Quota attainment"] == '/ask_metric{"metric":"quota_attainment"}'
    assert "More deals" in buttons(answer)
    assert validate_blocks(answer.blocks) == []


def test_forecast_without_quota_says_so() -> None:
    answer = view.forecast_answer(
        forecast_data(
            quota=None,
            attainment=None,
            projected_attainment=None,
            chance_of_quota=None,
            quota_reason="no bookings quota overlaps Q2 2026",
        )
    )
    assert "No bookings quota overlaps Q2 2026." in answer.text


def metric_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "as_of": "2026-05-20",
        "scope": SCOPE,
        "asked": {"rep": None, "period": None},
        "metric": "win_rate",
        "label": "win rate",
        "value": 2 / 3,
        "numerator": 2.0,
        "denominator": 3.0,
        "numerator_label": "won deals",
        "denominator_label": "closed deals",
        "unit": "ratio",
        "kind": "ratio",
        "reason": None,
        "details": {},
        "period": {"label": "last 12 months", "start": "2025-05-21", "end": "2026-05-20"},
    }
    data.update(changes)
    return data


def test_metric_answer_names_value_numerator_denominator_and_period() -> None:
    answer = view.metric_answer(metric_data())
    assert answer.text.splitlines()[:2] == [
        "Win rate for your book, last 12 months (May 21, 2025 – May 20, 2026): 67%.",
        "Based on 2 won deals / 3 closed deals.",
    ]
    assert set(buttons(answer)) == {"How is it computed?", "Avg deal size", "Sales cycle"}
    assert validate_blocks(answer.blocks) == []


def test_metric_without_data_is_a_clear_sentence() -> None:
    answer = view.metric_answer(
        metric_data(
            value=None,
            numerator=0.0,
            denominator=0.0,
            reason="no deals closed in last 12 months, so there is no win rate yet",
        )
    )
    assert answer.text.startswith(
        "Not enough data for the win rate of your book in last 12 months "
        "(May 21, 2025 – May 20, 2026): no deals closed in last 12 months, so there is no "
        "win rate yet."
    )
    assert "nan" not in answer.text.lower()


@pytest.mark.parametrize(
    ("changes", "value_text", "basis"),
    [
        ({"metric": "acv", "label": "average contract value", "value": 12000.0,
          "numerator": 24000.0, "denominator": 2.0, "numerator_label": "won amount",
          "denominator_label": "won deals", "unit": "currency", "kind": "mean"},
         "$12k", "Based on $24k won amount / 2 won deals."),
        ({"metric": "cycle_length", "label": "average sales cycle", "value": 75.5,
          "numerator": 151.0, "denominator": 2.0,
          "numerator_label": "days from created to won, summed", "denominator_label": "won deals",
          "unit": "days", "kind": "mean"},
         "76 days", "Based on 151 days from created to won, summed / 2 won deals."),
        ({"metric": "quota_attainment", "label": "quota attainment (bookings)", "value": 0.4,
          "numerator": 12000.0, "denominator": 30000.0, "numerator_label": "won amount",
          "denominator_label": "bookings quota", "unit": "ratio", "kind": "ratio"},
         "40%", "Based on $12k won amount / $30k bookings quota."),
        ({"metric": "pipeline_value", "label": "open pipeline", "value": 44000.0,
          "numerator": 44000.0, "denominator": 3.0, "numerator_label": "open amount",
          "denominator_label": "open deals", "unit": "currency", "kind": "sum"},
         "$44k", "Based on $44k open amount over 3 open deals."),
    ],
)  # fmt: skip
def test_metric_units(changes: dict[str, Any], value_text: str, basis: str) -> None:
    answer = view.metric_answer(metric_data(**changes))
    assert f": {value_text}." in answer.text.splitlines()[0]
    assert basis in answer.text


def test_metric_explanation_gives_the_definition_with_the_numbers() -> None:
    data = {**metric_data(), "definition": view.METRIC_DEFINITIONS["win_rate"]}
    answer = view.metric_why(data)
    assert answer.text.startswith("The win rate is deals won / deals closed (won or lost)")
    assert "2 won deals / 3 closed deals = 67%." in answer.text
    assert set(buttons(answer)) == {"Avg deal size", "Sales cycle"}


def leads_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "as_of": "2026-05-20",
        "scope": SCOPE,
        "asked": {"rep": None, "period": None},
        "total": 3,
        "method": "rules",
        "method_reason": "only 2 closed leads (1 converted); the model needs 40 with 10 of each "
        "outcome, so leads are ranked by rules",
        "closed_leads": 2,
        "converted_leads": 1,
        "base_rate": 0.5,
        "model_as_of": "2026-05-20",
        "icp": {
            "criteria": [],
            "segments": [],
            "industries": [],
            "regions": [],
            "min_employees": None,
            "max_employees": None,
        },
        "leads": [
            {
                "lead_id": 1,
                "company": "Northwind Deli",
                "owner_id": 3,
                "owner_name": "Jordan",
                "source": "referral",
                "segment": "Food Service",
                "size": "51-200",
                "touches": 2.0,
                "icp_fit": 0.0,
                "score": 0.475,
                "rank": 1,
                "method": "rules",
                "reasons": [
                    "referral lead (+3 points)",
                    "2 touches in its first 14 days (+0.8 points)",
                ],
            },
        ],
        "offset": 0,
        "page_size": 1,
    }
    data.update(changes)
    return data


def test_lead_answer_lists_ranked_leads_with_reasons_and_method() -> None:
    answer = view.leads_answer(leads_data())
    assert "1. *Northwind Deli* — score 0.47" in answer.text
    assert "referral lead (+3 points); 2 touches in its first 14 days (+0.8 points)" in answer.text
    assert "Ranked by rules: only 2 closed leads" in answer.text
    assert "Show more" in buttons(answer)
    assert validate_blocks(answer.blocks) == []
    why = view.leads_why({**leads_data(), "skill": "lead_priorities"})
    assert "Points: source (referral 3" in why.text
    assert "no ideal customer profile yet" in why.text


def test_model_scores_read_as_probabilities() -> None:
    answer = view.leads_answer(leads_data(method="model", closed_leads=1200, converted_leads=180))
    assert "score" not in answer.text.split("\n")[1]
    assert "48% likely to convert" in answer.text
    assert "learned from 1,200 closed leads (180 converted, 50%)" in answer.text


def test_no_open_leads() -> None:
    answer = view.leads_answer(leads_data(total=0, leads=[]))
    assert answer.text == "There are no open leads in your book as of May 20, 2026."


def reorder_row(days_until_due: int) -> dict[str, Any]:
    return {
        "account_id": 7,
        "account_name": "Acme Foods",
        "category": "Paper",
        "last_order_date": "2026-05-10",
        "order_days": 6,
        "cycle_days": 14.0,
        "expected_date": "2026-05-24",
        "days_until_due": days_until_due,
        "typical_amount": 320.0,
        "reason": "buys Paper every 14 days",
    }


def test_reorders_answer_says_when_each_account_is_due_and_why() -> None:
    data = {
        "as_of": "2026-05-20",
        "scope": SCOPE,
        "asked": {"rep": None, "period": None},
        "period": {"label": "next 7 days", "start": "2026-05-20", "end": "2026-05-26"},
        "total": 2,
        "total_typical_amount": 640.0,
        "rules": {"min_order_days": 3, "max_gaps": 6, "max_spread": 0.5, "lapse_factor": 3.0},
        "accounts": [reorder_row(4), reorder_row(0)],
        "offset": 0,
        "page_size": 5,
    }
    answer = view.reorders_answer(data)
    assert answer.text.startswith(
        "2 reorders due in next 7 days (May 20 – May 26, 2026) for your book (usually $640 in all)"
    )
    assert (
        "*Acme Foods* — Paper, due in 4 days (May 24), usually $320; every 14 days" in answer.text
    )
    assert "due today" in answer.text
    assert "Show more" not in buttons(answer)
    assert validate_blocks(answer.blocks) == []
    why = view.reorders_why({**data, "skill": "reorders_due"})
    assert "median of the gaps between its last 6 order days" in why.text
    assert "more than 50% of that median" in why.text
