"""Errors raised by the analytics package.

Every error is a ``ValueError`` subclass whose message is a sentence a user (or the
engineer wiring a frame loader) can act on. The edges (actions, bot, CLI) translate
them into their own words; analytics never prints.
"""

from __future__ import annotations

from collections.abc import Iterable


class AnalyticsError(ValueError):
    """Base class of the analytics errors."""


class MissingColumnsError(AnalyticsError):
    """A frame lacks columns an analytics function needs."""

    def __init__(self, frame_name: str, missing: Iterable[str]) -> None:
        self.frame_name = frame_name
        self.missing = sorted(missing)
        super().__init__(
            f"the {frame_name} frame is missing the column(s) {', '.join(self.missing)}; "
            f"load it with store.frames or rename the columns (the column names are parameters)"
        )


class NoOrderHistoryError(AnalyticsError):
    """There is no order on or before the date the analysis is run for."""

    def __init__(self, as_of: object) -> None:
        self.as_of = as_of
        super().__init__(
            f"there are no orders on or before {as_of}; import order lines or pick a later date"
        )


class ModelNotFittedError(AnalyticsError):
    """An estimator was used before ``fit``."""

    def __init__(self, estimator: str) -> None:
        super().__init__(f"{estimator} is not fitted yet; call fit() with the order history first")


class InvalidParameterError(AnalyticsError):
    """A parameter is outside the range the method supports."""


def require_columns(frame_name: str, columns: Iterable[str], required: Iterable[str]) -> None:
    """Raise :class:`MissingColumnsError` unless every ``required`` column is present."""
    have = set(columns)
    missing = [c for c in required if c not in have]
    if missing:
        raise MissingColumnsError(frame_name, missing)


class InsufficientDataError(AnalyticsError):
    """There is not enough data to answer; the message says what is missing."""


class UnknownRepError(AnalyticsError, LookupError):
    """A rep id that is not in the reps frame."""


class NoTeamError(InsufficientDataError):
    """A team was asked for a rep nobody reports to."""


class PeriodParseError(AnalyticsError):
    """A period phrase that cannot be read as calendar days."""


class UnknownMetricError(AnalyticsError):
    """A metric name the metrics module does not compute."""


class UnknownDealError(AnalyticsError, LookupError):
    """An opportunity id that is not in the opportunities frame."""
