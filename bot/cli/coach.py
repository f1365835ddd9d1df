"""``salesbot coach``, ``salesbot tracker`` and the transcripts import.

``salesbot coach FILE`` reviews one transcript: flags by category with quotes, speakers
and timestamps, the call metrics and what to do next (``--json`` for the structured
data). Trackers come from the shipped YAML, ``--trackers`` files, the store's custom
trackers and competitors, and ``--competitor`` names. The rep's side comes from
``--rep-speaker``, else the name of the ``--rep`` in the store, else the transcript
(participants header, self-introduction). ``--save`` stores the call, its utterances
and flags for digests.

``salesbot tracker add|list`` manages trackers without code (managers and admins).

``salesbot import transcripts FILE|DIR`` (through ``bot.cli.imports``) reviews and
stores every transcript file; each file is all or nothing, re-importing updates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from analytics.coaching import (
    AccountContext,
    CallReview,
    TrackerConfig,
    TrackerConfigError,
    TrackerSet,
    TranscriptError,
    competitor_from_dict,
    custom_tracker,
    identify_rep_speakers,
    load_tracker_config,
    read_transcript,
    review_call,
)
from analytics.coaching.prompts import Flag, format_timestamp
from analytics.coaching.trackers import SIDES
from analytics.coaching.transcripts import Transcript
from bot.cli.common import echo_err, fail, store_engine
from bot.coaching import call_started_at, flag_records, utterance_records
from bot.settings import get_settings
from store import calls
from store.crud import accounts_named_in, get_rep_by_email
from store.db import StoreUnavailableError, check_connection, make_engine
from store.migrate import upgrade
from store.models import Rep, RepRole

TRANSCRIPT_SUFFIXES = (".md", ".markdown", ".txt", ".vtt", ".srt", ".json")


def register(app: typer.Typer) -> None:
    app.command(
        "coach",
        help="Review a call transcript: coaching flags, call metrics and what to do next.",
    )(coach_command)
    tracker_app = typer.Typer(
        help="Coaching trackers managers add without code.", no_args_is_help=True
    )
    tracker_app.command("add", help="Add (or with --replace, update) a phrase tracker.")(
        tracker_add_command
    )
    tracker_app.command("list", help="List the trackers: shipped, from files and stored.")(
        tracker_list_command
    )
    app.add_typer(tracker_app, name="tracker")


# ----------------------------------------------------------------------------- helpers


def _optional_store(required: bool) -> Engine | None:
    """The configured store, or None (with a note) when it is not reachable and
    nothing on the command line needs it."""
    if required:
        return store_engine()
    engine = make_engine(get_settings().store_url)
    try:
        check_connection(engine)
        upgrade(engine)
    except StoreUnavailableError as exc:
        echo_err(f"note: the store is not reachable ({exc}); using the tracker files only")
        return None
    return engine


def build_trackers(
    *,
    engine: Engine | None,
    tracker_files: Sequence[Path] = (),
    competitors: Sequence[str] = (),
) -> TrackerSet:
    """Shipped trackers + ``tracker_files`` + the store's trackers and competitors +
    ``competitors`` given by name. Raises ``TrackerConfigError`` naming the culprit."""
    config: TrackerConfig = load_tracker_config(extra_tracker_paths=tracker_files)
    if engine is not None:
        with Session(engine) as session:
            stored_trackers = calls.custom_tracker_rows(session)
            stored_competitors = calls.competitor_rows(session)
        config = config.with_trackers(
            custom_tracker(**row, source="store") for row in stored_trackers
        )
        config = config.with_competitors(
            competitor_from_dict(row, source="store") for row in stored_competitors
        )
    config = config.with_competitors(
        competitor_from_dict({"name": name}, source="--competitor") for name in competitors
    )
    return TrackerSet(config)


def _rep_by_email(engine: Engine, email: str) -> Rep:
    with Session(engine) as session:
        rep = get_rep_by_email(session, email=email)
    if rep is None:
        fail(f"no rep with e-mail {email} in the store")
    return rep


def _account(engine: Engine, ref: str, today: dt.date) -> tuple[int, AccountContext]:
    with Session(engine) as session:
        account = calls.find_account(session, ref=ref)
        if account is None or account.id is None:
            fail(f"no account matches {ref!r}; give its id, external id or exact name")
        context = calls.account_context(session, account_id=account.id, as_of=today)
    return account.id, AccountContext(
        name=context["name"],
        pricing_tier=context["pricing_tier"],
        annual_spend=context["annual_spend"],
        health_status=context["health_status"],
        revenue_at_risk=context["revenue_at_risk"],
        slipping_categories=tuple(context["slipping_categories"]),
    )


def call_external_id(transcript: Transcript, path: Path, text: str) -> str:
    """The call's id in the source system when the transcript names one, else the file
    name plus a hash of its content (so re-importing the same file updates it)."""
    if transcript.call_id:
        return transcript.call_id[:128]
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
    return f"{path.stem[:100]}-{digest}"


def _save(
    engine: Engine,
    review: CallReview,
    transcript: Transcript,
    *,
    external_id: str,
    account_id: int | None,
    rep_id: int | None,
    source: str,
) -> int:
    rep_speakers = sorted(review.rep_side.speakers)
    with Session(engine) as session, session.begin():
        call = calls.save_reviewed_call(
            session,
            external_id=external_id,
            title=review.title,
            account_id=account_id,
            rep_id=rep_id,
            rep_speaker=", ".join(rep_speakers)[:200] or None,
            started_at=call_started_at(transcript),
            source=source,
            metrics=review.metrics.to_dict(),
            utterances=utterance_records(transcript, review.rep_side),
            flags=flag_records(review.flags),
        )
        assert call.id is not None
        return call.id


# ------------------------------------------------------------------------------ coach


def coach_command(
    file: Path = typer.Argument(..., metavar="FILE", help="transcript (md, txt, vtt, srt, json)"),
    rep_speaker: list[str] = typer.Option(
        [], "--rep-speaker", help="speaker name of the rep (repeat for several)"
    ),
    competitor: list[str] = typer.Option(
        [], "--competitor", help="competitor name to listen for (repeat for several)"
    ),
    trackers_file: list[Path] = typer.Option(
        [], "--trackers", help="extra tracker YAML with a 'trackers:' list (repeatable)"
    ),
    account: str | None = typer.Option(
        None, "--account", help="account name or id: its context goes into the prompts"
    ),
    rep: str | None = typer.Option(None, "--rep", help="e-mail of the rep on the call"),
    save: bool = typer.Option(False, "--save", help="store the call, utterances and flags"),
    use_store: bool = typer.Option(
        True, "--store/--no-store", help="read trackers, competitors and reps from the store"
    ),
    today: str | None = typer.Option(
        None, "--today", help="the day account spend is counted back from (YYYY-MM-DD)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the review as JSON"),
) -> None:
    day = _day(today)
    needs_store = save or account is not None or rep is not None
    if needs_store and not use_store:
        fail("--save, --account and --rep need the store; drop --no-store")
    engine = _optional_store(needs_store) if use_store else None
    try:
        transcript = read_transcript(file)
    except FileNotFoundError:
        fail(f"{file} not found")
    except IsADirectoryError:
        fail(f"{file} is a folder; coach one file (or use `salesbot import transcripts`)")
    except TranscriptError as exc:
        fail(str(exc))
    try:
        trackers = build_trackers(
            engine=engine, tracker_files=trackers_file, competitors=competitor
        )
    except TrackerConfigError as exc:
        fail(f"invalid tracker configuration: {exc}")
    except FileNotFoundError as exc:
        fail(f"tracker file not found: {exc.filename}")

    rep_record = _rep_by_email(engine, rep) if (engine is not None and rep) else None
    try:
        if rep_speaker:
            side = identify_rep_speakers(transcript, rep_names=rep_speaker, strict=True)
        elif rep_record is not None:
            side = identify_rep_speakers(transcript, rep_names=[rep_record.name], strict=False)
        else:
            side = identify_rep_speakers(transcript, known_reps=_store_rep_names(engine))
    except TranscriptError as exc:
        fail(str(exc))
    account_id, context = (None, None)
    if account is not None and engine is not None:
        account_id, context = _account(engine, account, day)
    review = review_call(transcript, trackers, rep_side=side, account=context)

    call_id = None
    if save and engine is not None:
        text = file.read_text("utf-8", errors="replace")
        call_id = _save(
            engine,
            review,
            transcript,
            external_id=call_external_id(transcript, file, text),
            account_id=account_id,
            rep_id=rep_record.id if rep_record else None,
            source="upload",
        )
    if as_json:
        payload = review.to_dict()
        payload["file"] = str(file)
        payload["saved_call_id"] = call_id
        typer.echo(json.dumps(payload, indent=2))
        return
    typer.echo(render_review(review, file_name=file.name))
    if call_id is not None:
        typer.echo(f"\nSaved as call {call_id}.")


def _day(text: str | None) -> dt.date:
    if text is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"--today must be a date like 2024-06-30 (got {text!r})")


def _excerpt(flag: Flag, width: int = 160) -> str:
    quote = flag.quote
    if len(quote) <= width:
        return quote
    at = quote.lower().find(flag.phrase.lower())
    if at < 0:
        return quote[: width - 1] + "…"
    start = max(0, at - width // 3)
    end = min(len(quote), start + width)
    return ("…" if start else "") + quote[start:end].strip() + ("…" if end < len(quote) else "")


def render_review(review: CallReview, *, file_name: str = "") -> str:
    """The review as plain text for the terminal."""
    title = review.title or file_name or "Call review"
    head = f"Call review: {title}" + (f" ({review.call_id})" if review.call_id else "")
    lines = [head, "=" * min(len(head), 100)]
    lines.append(
        f"{review.rep_side.note}; {review.metrics.utterances} utterances ({review.format})"
    )
    if review.account is not None:
        lines.append(f"Account: {review.account.summary()}")
    lines.append("")
    grouped = review.by_category()
    if not grouped:
        lines.append("No tracker fired on this call.")
    for category, flags in grouped.items():
        lines.append(f"{category} ({len(flags)})")
        prompts_shown: set[str] = set()
        for flag in flags:
            stamp = format_timestamp(flag.start)
            where = f"[{stamp}] " if stamp else f"#{flag.seq + 1} "
            side = " (rep)" if flag.is_rep else ""
            lines.append(f'  {where}{flag.speaker}{side}: "{_excerpt(flag)}"')
            lines.append(f"      {flag.tracker}: {flag.phrase!r}")
            if flag.tracker not in prompts_shown:
                prompts_shown.add(flag.tracker)
                lines.append(f"      -> {flag.prompt}")
                if flag.content:
                    lines.append(f"         {flag.content}")
                if flag.account_note:
                    lines.append(f"         {flag.account_note}")
        lines.append("")
    m = review.metrics
    lines.append("Metrics")
    if m.talk_ratio is not None:
        lines.append(f"  talk ratio (rep share of words): {m.talk_ratio:.0%}")
    monologue = f"{m.longest_monologue_words} words"
    if m.longest_monologue_seconds is not None:
        monologue += f", {m.longest_monologue_seconds:.0f} s"
    if m.longest_monologue_speaker:
        monologue += f" ({m.longest_monologue_speaker})"
    lines.append(f"  longest rep monologue: {monologue}")
    lines.append(
        f"  questions asked by the rep: {m.questions_asked} (customer: {m.customer_questions})"
    )
    lines.append(f"  next steps agreed: {'yes' if m.next_steps_agreed else 'no'}")
    lines.append("")
    lines.append("What to do next")
    for number, action in enumerate(review.next_actions, start=1):
        lines.append(f"  {number}. {action}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- tracker


def tracker_add_command(
    name: str = typer.Argument(..., help="tracker name: lower-case letters, digits, _ - ."),
    category: str = typer.Option(
        ..., "--category", help="a default category (pricing, budget, ...) or a new one"
    ),
    phrase: list[str] = typer.Option(..., "--phrase", help="phrase to listen for (repeatable)"),
    prompt: str = typer.Option(..., "--prompt", help="what the rep is told when it fires"),
    side: str = typer.Option("customer", "--side", help="rep, customer or any"),
    as_email: str = typer.Option(..., "--as", help="e-mail of the manager adding it"),
    replace: bool = typer.Option(False, "--replace", help="update a tracker of that name"),
) -> None:
    if side not in SIDES:
        fail(f"--side must be one of {', '.join(SIDES)}")
    try:
        spec = custom_tracker(
            name=name, category=category, phrases=phrase, side=side, prompt=prompt
        )
        TrackerSet(load_tracker_config().with_trackers([spec]))
    except TrackerConfigError as exc:
        fail(str(exc))
    engine = store_engine()
    with Session(engine) as session, session.begin():
        manager = get_rep_by_email(session, email=as_email)
        if manager is None:
            fail(f"no rep with e-mail {as_email} in the store")
        if manager.role not in (RepRole.manager, RepRole.admin):
            fail(f"{as_email} is not a manager: only managers and admins add trackers")
        try:
            calls.add_custom_tracker(
                session,
                name=spec.name,
                category=spec.category,
                phrases=list(spec.phrases),
                side=spec.side,
                prompt=spec.prompt,
                created_by_rep_id=manager.id,
                replace=replace,
            )
        except calls.DuplicateTrackerError as exc:
            fail(f"{exc}; pass --replace to update it")
        except calls.InvalidTrackerError as exc:
            fail(str(exc))
    typer.echo(
        f"tracker {spec.name!r} ({spec.category}, {spec.side} side, "
        f"{len(spec.phrases)} phrase(s)) {'updated' if replace else 'added'}"
    )


def tracker_list_command(
    as_json: bool = typer.Option(False, "--json", help="print the trackers as JSON"),
    use_store: bool = typer.Option(True, "--store/--no-store", help="include stored trackers"),
) -> None:
    engine = _optional_store(False) if use_store else None
    try:
        trackers = build_trackers(engine=engine)
    except TrackerConfigError as exc:
        fail(f"invalid tracker configuration: {exc}")
    rows = [
        {
            "name": t.name,
            "category": t.category,
            "side": t.side,
            "source": t.source,
            "phrases": len(t.phrases) + len(t.exact_phrases) + len(t.case_sensitive_phrases),
            "patterns": len(t.patterns),
        }
        for t in trackers.trackers.values()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(
            f"{row['name']:<28} {row['category']:<17} {row['side']:<9} "
            f"{row['phrases']:>3} phrases {row['patterns']:>3} patterns  ({row['source']})"
        )


# ---------------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportedTranscript:
    file: str
    call_id: int | None
    external_id: str | None
    flags: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "call_id": self.call_id,
            "external_id": self.external_id,
            "flags": self.flags,
            "error": self.error,
        }


def transcript_files(path: Path) -> list[Path]:
    """``path`` itself, or the transcript files in the folder (sorted, not recursive)."""
    if path.is_dir():
        return sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TRANSCRIPT_SUFFIXES
        )
    return [path]


def _store_rep_names(engine: Engine | None) -> list[str]:
    """Names of the store's reps (none without a store): a speaker with one of these full
    names is taken as the rep."""
    if engine is None:
        return []
    with Session(engine) as session:
        return [name for name in session.exec(select(Rep.name)).all() if name]


def _store_rep_for(session: Session, speakers: Sequence[str]) -> Rep | None:
    """The stored rep whose first name is one of ``speakers`` (only if exactly one)."""
    names = {s.split()[0].casefold() for s in speakers if s.strip()}
    found = [
        rep
        for rep in session.exec(select(Rep)).all()
        if rep.name.split() and rep.name.split()[0].casefold() in names
    ]
    return found[0] if len(found) == 1 else None


def import_transcript_files(
    engine: Engine, path: Path, *, trackers: TrackerSet
) -> list[ImportedTranscript]:
    """Review and store every transcript under ``path`` (a file or a folder). Each file
    is its own transaction: a broken file is reported and the others are imported.
    The account is the stored account named in the participants list; the rep the
    stored rep whose first name is the rep speaker's."""
    results = []
    for file in transcript_files(path):
        try:
            transcript = read_transcript(file)
        except (TranscriptError, OSError) as exc:
            results.append(ImportedTranscript(str(file), None, None, 0, str(exc)))
            continue
        side = identify_rep_speakers(transcript, known_reps=_store_rep_names(engine))
        review = review_call(transcript, trackers, rep_side=side)
        text = file.read_text("utf-8", errors="replace")
        external_id = call_external_id(transcript, file, text)
        with Session(engine) as session:
            rep = _store_rep_for(session, sorted(side.speakers))
            roles = " ; ".join(f"{p.name} {p.role}" for p in transcript.participants)
            named = accounts_named_in(session, text=roles, visible_owner_ids=None) if roles else []
        call_id = _save(
            engine,
            review,
            transcript,
            external_id=external_id,
            account_id=named[0].id if named else None,
            rep_id=rep.id if rep else None,
            source="import",
        )
        results.append(ImportedTranscript(str(file), call_id, external_id, len(review.flags)))
    return results


def import_transcripts(
    path: Path,
    *,
    mapping: Path | None = None,
    today: dt.date | None = None,
    as_json: bool = False,
    quiet: bool = False,
) -> None:
    """``salesbot import transcripts FILE|DIR`` (called by ``bot.cli.imports``)."""
    if mapping is not None:
        fail("transcripts take no --mapping: the format is detected from the file")
    files = transcript_files(path)
    if not files:
        fail(f"no transcript files ({', '.join(TRANSCRIPT_SUFFIXES)}) in {path}")
    engine = store_engine()
    try:
        trackers = build_trackers(engine=engine)
    except TrackerConfigError as exc:
        fail(f"invalid tracker configuration: {exc}")
    results = import_transcript_files(engine, path, trackers=trackers)
    failed = [r for r in results if r.error]
    if as_json:
        typer.echo(json.dumps({"ok": not failed, "transcripts": [r.to_dict() for r in results]}))
    else:
        for result in results:
            if result.error:
                echo_err(f"{result.file}: {result.error}")
            elif not quiet:
                typer.echo(
                    f"{result.file}: call {result.call_id} ({result.external_id}), "
                    f"{result.flags} flag(s)"
                )
        if not quiet or failed:
            saved = len(results) - len(failed)
            typer.echo(f"{saved} transcript(s) imported, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)
