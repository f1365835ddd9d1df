"""Call coaching: transcripts, spaCy trackers, prompts, call metrics and reviews.

Typical use::

    from analytics.coaching import TrackerSet, load_tracker_config, read_transcript, review_call

    trackers = TrackerSet(load_tracker_config())          # build once, reuse
    review = review_call(read_transcript("call.md"), trackers)

    coach = LiveCoach(trackers, cooldown=Cooldown(seconds=60, utterances=3))
    coach.start_call("call-1", rep_speakers=["Maria"])
    prompts = coach.feed("call-1", "Susan", "The price is too high for us.", start=62.0)

Nothing is built at import: the spaCy pipeline is made when a ``TrackerSet`` is.
"""

from analytics.coaching.engine import (
    CallReview,
    Cooldown,
    LiveCoach,
    ReviewThresholds,
    flag_utterances,
    review_call,
)
from analytics.coaching.metrics import CallMetrics, call_metrics, speaker_stats
from analytics.coaching.prompts import AccountContext, Flag, Prompt
from analytics.coaching.trackers import (
    FIXED_CATEGORIES,
    CompetitorSpec,
    TrackerConfig,
    TrackerConfigError,
    TrackerSet,
    TrackerSpec,
    competitor_from_dict,
    custom_tracker,
    load_tracker_config,
)
from analytics.coaching.transcripts import (
    MAX_TRANSCRIPT_BYTES,
    RepSide,
    Transcript,
    TranscriptError,
    Utterance,
    identify_rep_speakers,
    parse_transcript,
    read_transcript,
)

__all__ = [
    "FIXED_CATEGORIES",
    "MAX_TRANSCRIPT_BYTES",
    "AccountContext",
    "CallMetrics",
    "CallReview",
    "CompetitorSpec",
    "Cooldown",
    "Flag",
    "LiveCoach",
    "Prompt",
    "RepSide",
    "ReviewThresholds",
    "TrackerConfig",
    "TrackerConfigError",
    "TrackerSet",
    "TrackerSpec",
    "Transcript",
    "TranscriptError",
    "Utterance",
    "call_metrics",
    "competitor_from_dict",
    "custom_tracker",
    "flag_utterances",
    "identify_rep_speakers",
    "load_tracker_config",
    "parse_transcript",
    "read_transcript",
    "review_call",
    "speaker_stats",
]
