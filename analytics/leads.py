"""Lead priorities: which open leads to call first, with the reasons.

Inputs: ``leads`` (lead_id, company, source, segment, industry, region, employees,
status, created_date, converted_date, owner_id), ``activities`` (lead_id, occurred_at,
kind) and optionally ``opportunities`` (lead_id, created_date) to see conversions.

Definitions
-----------
Closed lead (on ``today``)
    Created on or before ``today`` and either converted (status "converted", a converted
    date on or before ``today``, or an opportunity created from it by ``today``) or
    disqualified (status "disqualified"). Open leads are the others still "open".
Features of a lead
    ``source``, ``segment``, ``industry``, ``size`` (employee band: 1-10, 11-50, 51-200,
    201-1000, 1000+, unknown), ``touches`` (activities on the lead, snoozes excluded, in
    its first ``activity_window_days`` days, up to ``today`` and its converted date) and
    ``icp_fit`` (:class:`IdealCustomerProfile`).
Ideal customer profile (ICP) fit
    The share of the profile's criteria (segments, industries, regions, employee range;
    only those set) that the lead meets. Unless given, the profile is learned from closed
    leads: each segment/industry/region value with at least ``min_support`` closed leads
    whose conversion rate beats the overall one, and the middle half (25th-75th
    percentile) of converted leads' employee counts.
Model (``method == "model"``)
    With at least ``min_closed_leads`` closed leads and ``min_per_class`` of each outcome:
    a logistic regression on the one-hot features plus scaled ``touches`` and
    ``icp_fit``, calibrated with Platt scaling (isotonic from 5,000 closed leads) by
    cross-validation (one model on all closed leads, its calibrator from out-of-fold
    predictions), so ``score`` is a conversion probability.
Rules (``method == "rules"``, the fallback)
    ``score`` = points / 8 (not a probability): source (referral 3, inbound 2, partner 2,
    event 1.5, outbound 0.5, other 0.5), ICP fit x 3, touches x 0.4 up to 2.
Reasons
    For the model: the feature groups that add most to the lead's log-odds against an
    average closed lead (a logistic regression fitted on all closed leads), up to three,
    each with the conversion numbers behind it; for rules, the largest point earners.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from analytics.errors import InvalidParameterError, ModelNotFittedError, require_columns
from analytics.metrics import converted_leads
from analytics.pipeline import int_ids, is_member

__all__ = [
    "LEAD_PRIORITY_COLUMNS",
    "RULE_SOURCE_POINTS",
    "IdealCustomerProfile",
    "LeadScorer",
    "lead_features",
    "learn_icp",
    "size_band",
]

LEAD_REQUIRED = ["lead_id", "source", "status", "created_date", "converted_date", "owner_id"]
CATEGORICAL = ["source", "segment", "industry", "size"]
NUMERIC = ["touches", "icp_fit"]
SIZE_BANDS = [(10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000")]
RULE_SOURCE_POINTS: Mapping[str, float] = {
    "referral": 3.0,
    "inbound": 2.0,
    "partner": 2.0,
    "event": 1.5,
    "outbound": 0.5,
    "other": 0.5,
}
RULE_MAX_POINTS = 8.0
LEAD_PRIORITY_COLUMNS = [
    "lead_id",
    "company",
    "owner_id",
    "source",
    "segment",
    "size",
    "touches",
    "icp_fit",
    "score",
    "rank",
    "method",
    "reasons",
    "reason",
]
UNKNOWN = "(unknown)"


def _touches_words(n: int) -> str:
    return f"{n} touch" if n == 1 else f"{n} touches"


def size_band(employees: pd.Series) -> pd.Series:
    """Employee band of each lead; missing counts are "unknown"."""
    values = pd.to_numeric(employees, errors="coerce").astype(float)
    band = pd.Series("1000+", index=employees.index, dtype=object)
    for limit, name in reversed(SIZE_BANDS):
        band[values <= limit] = name
    band[values.isna()] = "unknown"
    return band


@dataclass(frozen=True)
class IdealCustomerProfile:
    """Criteria of the best-fitting customer; empty criteria are not checked."""

    segments: frozenset[str] = frozenset()
    industries: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    min_employees: float | None = None
    max_employees: float | None = None

    @property
    def criteria(self) -> tuple[str, ...]:
        named = []
        if self.segments:
            named.append("segment")
        if self.industries:
            named.append("industry")
        if self.regions:
            named.append("region")
        if self.min_employees is not None or self.max_employees is not None:
            named.append("size")
        return tuple(named)

    def matches(self, leads: pd.DataFrame) -> pd.DataFrame:
        """One boolean column per criterion (``criteria``), a row per lead."""
        out = pd.DataFrame(index=leads.index)
        for column, values in (
            ("segment", self.segments),
            ("industry", self.industries),
            ("region", self.regions),
        ):
            if values:
                if column in leads.columns:
                    out[column] = leads[column].isin(list(values)).fillna(False).astype(bool)
                else:
                    out[column] = False
        if "size" in self.criteria:
            employees = (
                pd.to_numeric(leads["employees"], errors="coerce").astype(float)
                if "employees" in leads.columns
                else pd.Series(np.nan, index=leads.index)
            )
            low = -np.inf if self.min_employees is None else self.min_employees
            high = np.inf if self.max_employees is None else self.max_employees
            out["size"] = ((employees >= low) & (employees <= high)).fillna(False).astype(bool)
        return out

    def fit_score(self, leads: pd.DataFrame) -> pd.Series:
        """Share of the criteria each lead meets (0 when the profile has none)."""
        if not self.criteria:
            return pd.Series(0.0, index=leads.index)
        return self.matches(leads).mean(axis=1).astype(float)


def _closed_outcome(
    leads: pd.DataFrame, opportunities: pd.DataFrame | None, today: dt.date
) -> tuple[pd.Series, pd.Series]:
    """(closed, converted) flags per lead on ``today``."""
    known = leads["created_date"] <= pd.Timestamp(today)
    converted = converted_leads(leads, opportunities, today) & known
    disqualified = (leads["status"].astype(str).str.lower() == "disqualified") & known
    return (converted | disqualified), converted


def learn_icp(
    leads: pd.DataFrame,
    *,
    today: dt.date,
    opportunities: pd.DataFrame | None = None,
    min_support: int = 5,
) -> IdealCustomerProfile:
    """The profile of converting leads (definition in the module docstring)."""
    require_columns("leads", leads.columns, LEAD_REQUIRED)
    closed, converted = _closed_outcome(leads, opportunities, today)
    done = leads[closed.to_numpy()]
    hits = converted[closed.to_numpy()]
    if not len(done) or not hits.any():
        return IdealCustomerProfile()
    overall = float(hits.mean())
    chosen: dict[str, frozenset[str]] = {}
    for column in ("segment", "industry", "region"):
        if column not in done.columns:
            chosen[column] = frozenset()
            continue
        stats = pd.DataFrame({"value": done[column], "hit": hits}).dropna().groupby("value")["hit"]
        rates = stats.mean()
        support = stats.size()
        good = rates[(support >= min_support) & (rates > overall)]
        chosen[column] = frozenset(str(v) for v in good.index)
    low = high = None
    if "employees" in done.columns:
        sizes = pd.to_numeric(done.loc[hits.to_numpy(), "employees"], errors="coerce").dropna()
        if len(sizes) >= min_support:
            low, high = (float(v) for v in np.quantile(sizes.astype(float), [0.25, 0.75]))
    return IdealCustomerProfile(
        segments=chosen["segment"],
        industries=chosen["industry"],
        regions=chosen["region"],
        min_employees=low,
        max_employees=high,
    )


def lead_features(
    leads: pd.DataFrame,
    activities: pd.DataFrame | None,
    *,
    today: dt.date,
    icp: IdealCustomerProfile,
    activity_window_days: int = 14,
) -> pd.DataFrame:
    """The model's features, one row per lead (index aligned with ``leads``):
    ``source``, ``segment``, ``industry``, ``size``, ``touches``, ``icp_fit``."""
    out = pd.DataFrame(index=leads.index)
    for column in ("source", "segment", "industry"):
        values = leads[column] if column in leads.columns else pd.Series(None, index=leads.index)
        out[column] = values.astype(object).where(values.notna(), UNKNOWN).astype(str)
    out["size"] = size_band(
        leads["employees"] if "employees" in leads.columns else pd.Series(np.nan, index=leads.index)
    )
    out["touches"] = _touches(leads, activities, today, activity_window_days)
    out["icp_fit"] = icp.fit_score(leads).to_numpy()
    return out


def _touches(
    leads: pd.DataFrame, activities: pd.DataFrame | None, today: dt.date, window_days: int
) -> np.ndarray:
    if activities is None or not len(activities) or not len(leads):
        return np.zeros(len(leads), dtype=float)
    require_columns("activities", activities.columns, ["lead_id", "occurred_at", "kind"])
    acts = activities[is_member(int_ids(activities["lead_id"]), int_ids(leads["lead_id"]))]
    acts = acts[(acts["kind"] != "snooze").to_numpy()]
    if not len(acts):
        return np.zeros(len(leads), dtype=float)
    created = leads.set_index("lead_id")["created_date"]
    converted = leads.set_index("lead_id")["converted_date"]
    lead_ids = acts["lead_id"].astype("int64")
    start = lead_ids.map(created)
    window_end = start + pd.Timedelta(days=window_days)
    limit = pd.concat(
        [
            window_end,
            lead_ids.map(converted),
            pd.Series(pd.Timestamp(today) + pd.Timedelta(days=1), index=acts.index),
        ],
        axis=1,
    ).min(axis=1)
    day = acts["occurred_at"].dt.normalize()
    inside = (day >= start) & (acts["occurred_at"] < limit)
    counts = lead_ids[inside.to_numpy()].value_counts()
    return leads["lead_id"].map(counts).fillna(0).to_numpy(dtype=float)


class LeadScorer:
    """Calibrated conversion model with a rule-based fallback (see the module docstring).

    :meth:`fit` learns ``method_`` ("model" or "rules"), ``method_reason_`` (why),
    ``icp_``, ``closed_leads_``, ``converted_leads_`` and ``base_rate_``; :meth:`rank`
    scores the open leads.
    """

    def __init__(
        self,
        *,
        min_closed_leads: int = 40,
        min_per_class: int = 10,
        activity_window_days: int = 14,
        icp: IdealCustomerProfile | None = None,
        calibration_folds: int = 5,
        random_state: int = 0,
    ) -> None:
        self.min_closed_leads = min_closed_leads
        self.min_per_class = min_per_class
        self.activity_window_days = activity_window_days
        self.icp = icp
        self.calibration_folds = calibration_folds
        self.random_state = random_state

    def fit(
        self,
        leads: pd.DataFrame,
        activities: pd.DataFrame | None,
        *,
        today: dt.date,
        opportunities: pd.DataFrame | None = None,
    ) -> LeadScorer:
        require_columns("leads", leads.columns, LEAD_REQUIRED)
        if self.calibration_folds < 2:
            raise InvalidParameterError("calibration_folds must be at least 2")
        self.icp_ = self.icp or learn_icp(leads, today=today, opportunities=opportunities)
        closed, converted = _closed_outcome(leads, opportunities, today)
        done = leads[closed.to_numpy()]
        y = converted[closed.to_numpy()].to_numpy(dtype=int)
        self.closed_leads_ = len(done)
        self.converted_leads_ = int(y.sum())
        self.base_rate_ = float(y.mean()) if len(y) else None
        features = lead_features(
            done,
            activities,
            today=today,
            icp=self.icp_,
            activity_window_days=self.activity_window_days,
        )
        self._stats = self._value_stats(features, y)
        smallest = min(self.converted_leads_, self.closed_leads_ - self.converted_leads_)
        if self.closed_leads_ < self.min_closed_leads or smallest < self.min_per_class:
            self.method_ = "rules"
            self.method_reason_ = (
                f"only {self.closed_leads_} closed leads ({self.converted_leads_} converted); "
                f"the model needs {self.min_closed_leads} with {self.min_per_class} of each "
                "outcome, so leads are ranked by rules"
            )
            self.today_ = today
            return self
        self.method_ = "model"
        self.method_reason_ = (
            f"calibrated model from {self.closed_leads_} closed leads "
            f"({self.converted_leads_} converted)"
        )
        method = "isotonic" if self.closed_leads_ >= 5000 else "sigmoid"
        folds = int(min(self.calibration_folds, smallest))
        self.model_ = CalibratedClassifierCV(
            self._pipeline(), method=method, cv=folds, ensemble=False
        ).fit(features, y)
        # with ensemble=False the calibrator sits on one model fitted on every closed lead
        self.explainer_ = self.model_.calibrated_classifiers_[0].estimator
        transformed = self.explainer_[:-1].transform(features)
        self._mean_row = np.asarray(transformed, dtype=float).mean(axis=0)
        self._feature_groups = self._groups()
        self._converted_touches = float(features.loc[y == 1, "touches"].mean()) if y.any() else 0.0
        self.today_ = today
        return self

    def _pipeline(self) -> Pipeline:
        encode = ColumnTransformer(
            [
                (
                    "categories",
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                    CATEGORICAL,
                ),
                ("numbers", StandardScaler(), NUMERIC),
            ]
        )
        model = LogisticRegression(C=1.0, max_iter=2000, random_state=self.random_state)
        return Pipeline([("encode", encode), ("model", model)])

    def _groups(self) -> np.ndarray:
        encoder = self.explainer_.named_steps["encode"]
        names = encoder.get_feature_names_out()
        groups = []
        for name in names:
            kind, _, rest = str(name).partition("__")
            if kind == "numbers":
                groups.append(rest)
            else:
                groups.append(next(c for c in CATEGORICAL if rest.startswith(f"{c}_")))
        return np.array(groups)

    @staticmethod
    def _value_stats(
        features: pd.DataFrame, y: np.ndarray
    ) -> dict[str, dict[str, tuple[float, int]]]:
        """Per feature and value: (conversion rate, closed leads)."""
        stats = {}
        for column in CATEGORICAL:
            grouped = pd.DataFrame({"value": features[column].to_numpy(), "hit": y}).groupby(
                "value"
            )["hit"]
            rates, sizes = grouped.mean(), grouped.size()
            stats[column] = {
                str(value): (float(rates[value]), int(sizes[value])) for value in rates.index
            }
        return stats

    def _check(self) -> None:
        if not hasattr(self, "method_"):
            raise ModelNotFittedError("LeadScorer")

    # ------------------------------------------------------------------- scoring

    def predict(
        self, leads: pd.DataFrame, activities: pd.DataFrame | None, *, today: dt.date
    ) -> np.ndarray:
        """Score of every row of ``leads`` whatever its status (probability for the model)."""
        self._check()
        features = lead_features(
            leads,
            activities,
            today=today,
            icp=self.icp_,
            activity_window_days=self.activity_window_days,
        )
        if self.method_ == "model" and len(leads):
            return np.asarray(self.model_.predict_proba(features)[:, 1], dtype=float)
        return self._rules(features)[0]

    def rank(
        self,
        leads: pd.DataFrame,
        activities: pd.DataFrame | None,
        *,
        today: dt.date,
        opportunities: pd.DataFrame | None = None,
        rep_ids: Collection[int] | None = None,
        top: int | None = None,
    ) -> pd.DataFrame:
        """Open leads (of ``rep_ids``) best first. Columns ``LEAD_PRIORITY_COLUMNS``:
        ``score`` (a calibrated probability for the model, points share for rules),
        ``rank`` from 1, ``method``, ``reasons`` (tuple of up to three) and ``reason``."""
        self._check()
        require_columns("leads", leads.columns, LEAD_REQUIRED)
        pool = leads
        if rep_ids is not None:
            pool = pool[is_member(int_ids(pool["owner_id"]), int_ids(rep_ids))]
        is_open = (pool["status"].astype(str).str.lower() == "open") & (
            pool["created_date"] <= pd.Timestamp(today)
        )
        pool = pool[is_open.to_numpy()]
        closed, _ = _closed_outcome(pool, opportunities, today)
        pool = pool[~closed.to_numpy()]
        features = lead_features(
            pool,
            activities,
            today=today,
            icp=self.icp_,
            activity_window_days=self.activity_window_days,
        )
        if self.method_ == "model" and len(pool):
            score = self.model_.predict_proba(features)[:, 1]
        else:
            score = self._rules(features)[0]
        # best first; reasons are worded only for the leads that are returned
        order = np.lexsort((int_ids(pool["lead_id"]), -np.asarray(score, dtype=float)))
        if top is not None:
            order = order[: max(int(top), 0)]
        pool, features, score = pool.iloc[order], features.iloc[order], np.asarray(score)[order]
        if self.method_ == "model" and len(pool):
            reasons = self._model_reasons(features)
        else:
            reasons = self._rules(features)[1]
        out = pd.DataFrame(
            {
                "lead_id": pool["lead_id"].to_numpy(),
                "company": pool["company"].to_numpy() if "company" in pool.columns else None,
                "owner_id": pool["owner_id"].to_numpy(),
                "source": features["source"].to_numpy(),
                "segment": features["segment"].to_numpy(),
                "size": features["size"].to_numpy(),
                "touches": features["touches"].to_numpy(dtype=float),
                "icp_fit": features["icp_fit"].to_numpy(dtype=float),
                "score": np.asarray(score, dtype=float),
                "method": self.method_,
                "reasons": reasons,
            }
        )
        out["rank"] = np.arange(1, len(out) + 1, dtype="int64")
        out["reason"] = ["; ".join(r) for r in out["reasons"]]
        return out[LEAD_PRIORITY_COLUMNS]

    def _rules(self, features: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, ...]]]:
        source_points = (
            features["source"].str.lower().map(RULE_SOURCE_POINTS).fillna(0.5).to_numpy(float)
        )
        fit_points = 3.0 * features["icp_fit"].to_numpy(dtype=float)
        touch_points = np.minimum(0.4 * features["touches"].to_numpy(dtype=float), 2.0)
        score = (source_points + fit_points + touch_points) / RULE_MAX_POINTS
        reasons = []
        for i, row in enumerate(features.itertuples(index=False)):
            parts = [
                (source_points[i], f"{row.source} lead (+{source_points[i]:g} points)"),
                (fit_points[i], f"{self._fit_words(row)} (+{fit_points[i]:.1f} points)"),
                (
                    touch_points[i],
                    f"{_touches_words(int(row.touches))} in its first {self.activity_window_days} days "
                    f"(+{touch_points[i]:.1f} points)",
                ),
            ]
            parts.sort(key=lambda p: -p[0])
            reasons.append(tuple(text for points, text in parts if points > 0)[:3])
        return score, reasons

    def _fit_words(self, row: Any) -> str:
        criteria = self.icp_.criteria
        if not criteria:
            return "no ideal customer profile to compare with"
        met = round(float(row.icp_fit) * len(criteria))
        return f"meets {met} of {len(criteria)} ideal-customer criteria ({', '.join(criteria)})"

    def _model_reasons(self, features: pd.DataFrame) -> list[tuple[str, ...]]:
        transformed = np.asarray(self.explainer_[:-1].transform(features), dtype=float)
        coef = self.explainer_.named_steps["model"].coef_[0]
        contributions = (transformed - self._mean_row) * coef
        groups = list(dict.fromkeys(self._feature_groups))
        by_group = np.column_stack(
            [contributions[:, self._feature_groups == g].sum(axis=1) for g in groups]
        )
        reasons: list[tuple[str, ...]] = []
        for i, row in enumerate(features.itertuples(index=False)):
            order = np.argsort(-by_group[i], kind="stable")
            chosen = [groups[j] for j in order if by_group[i, j] > 0][:3]
            words = [self._words(group, row) for group in chosen]
            if not words:
                worst = groups[int(np.argmin(by_group[i]))]
                words = [f"held back by: {self._words(worst, row)}"]
            reasons.append(tuple(words))
        return reasons

    def _words(self, group: str, row: Any) -> str:
        base = self.base_rate_ or 0.0
        if group in CATEGORICAL:
            value = str(getattr(row, group))
            stats = self._stats[group]
            label = {"size": "employees", "source": "source"}.get(group, group)
            if value in stats:
                rate, count = stats[value]
                return (
                    f"{label} {value}: {rate:.0%} of {count} closed leads converted "
                    f"(all leads {base:.0%})"
                )
            return f"{label} {value}: not seen among closed leads"
        if group == "touches":
            return (
                f"{_touches_words(int(row.touches))} in its first "
                f"{self.activity_window_days} days (converted leads averaged "
                f"{self._converted_touches:.1f})"
            )
        return self._fit_words(row)
