"""Live coaching over a WebSocket: ``GET /live/{call_id}`` on the bot's web server.

A transcription service (or a desktop overlay) streams a call's utterances as they
are transcribed; when a tracker fires and the per-call cooldown lets it through, the
rep gets a coaching prompt back on the socket and in Slack (ephemeral in the channel
the call was started from, else a DM). At ``end`` the call is stored with every flag,
including those the cooldown held back, so digests see its coaching themes.

Authentication: a per-call token (``lv1.<payload>.<mac>``), an HMAC-SHA256 under the
bot's identity secret of ``{call_id, rep_id, expires_at, account_id, slack_user_id,
slack_channel_id}``, minted by ``salesbot live-token`` or by ``/sales coach live`` in
Slack. The client presents it as ``Authorization: Bearer <token>`` or ``?token=``
(browsers cannot set headers on a WebSocket). A token is good for one call id only.

Frames in (JSON text, at most 64 KB each):

* ``{"type": "start", "rep_speakers": [...], "account": "Acme"}`` (optional, before the
  first utterance): which speaker labels are the rep (default: the rep's full and
  first name) and the account (default: the token's);
* ``{"speaker": "Kevin", "text": "...", "start": 62.5}`` (``"type": "utterance"`` is
  implied; ``start`` in seconds or ``"mm:ss"``, optional; ``"is_rep": true/false``
  overrides the speaker labels);
* ``{"type": "end"}``: store the call and close.

Frames out: ``ready`` (after the token is checked), ``prompt`` (``Prompt.to_dict()``
plus ``title``), ``error`` (a frame that was JSON but not a valid message; the socket
stays open) and ``ended`` (with the stored call's id). Close codes: 1000 after
``end``; 1001 the bot is shutting down; 1003 a binary frame; 1007 a frame that is not a
JSON object; 1008 too many utterances or invalid messages; 1009 a frame over 64 KB;
1011 the store is down; 1013 too many open calls on this bot; 4401 missing, forged or
expired token; 4403 a token for another call, or for a rep who is no longer active;
4409 another connection took the call over; 4410 the call has ended (its id is stored).

The per-utterance path touches neither the store nor Slack: the utterance is parsed,
matched (``LiveCoach.feed``) and recorded in memory; a prompt is written back on the
socket and queued for Slack, which a per-call task posts while the socket keeps
reading. A socket that drops without ``end`` keeps its call for
``SALESBOT_LIVE_RESUME_SECONDS`` so the client can reconnect and continue; after that
(or when the bot stops) the call is stored as it stands.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hmac
import json
import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from analytics.coaching import (
    AccountContext,
    Cooldown,
    LiveCoach,
    Prompt,
    TrackerConfigError,
    TrackerSet,
)
from analytics.coaching.transcripts import TranscriptError, Utterance, parse_timestamp
from bot.coaching import CallOwner, Coaching
from bot.runtime import Runtime, identity_secret
from bot.settings import Settings
from store import crud
from store.db import StoreUnavailableError, session_scope

log = logging.getLogger(__name__)

LIVE_PATH = "/live/{call_id}"
TOKEN_VERSION = "lv1"
TOKEN_CONTEXT = b"salesbot-live-v1:"
"""Prefix of the MAC input, so a live token and an identity token can never be confused."""
MAX_FRAME_BYTES = 64 * 1024
MAX_UTTERANCES = 20_000
"""Utterances kept per call (a ten-hour call is about 8,000)."""
MAX_INVALID_MESSAGES = 50
MAX_SPEAKER_CHARS = 200
ENDED_REMEMBERED = 10_000
MAX_OPEN_CALLS = 1_000
"""Live calls one bot process keeps open at once (each holds its utterances in memory)."""
MAX_UTTERANCE_CHARS = 5_000
"""One utterance as a transcription service sends it: a few sentences (a minute of speech is
about 900 characters); a longer one is refused, not stored."""
MAX_CALL_CHARS = 1_000_000
"""Transcript text kept per call: a ten-hour call is about 500,000 characters."""
MAX_OPEN_CALLS_PER_REP = 3
"""Live calls one rep may have connected at once (a call and a hand-over or two)."""
SLACK_PROMPTS_PER_MINUTE = 6
"""Coaching prompts a rep gets in Slack per minute, over all their calls; the socket still
gets every prompt and every flag is stored, but Slack is not flooded."""
HEARTBEAT_SECONDS = 30.0
CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    INVALID_DATA = 1007
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    TRY_AGAIN_LATER = 1013
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    REPLACED = 4409
    ENDED = 4410


class LiveRefused(Exception):
    """A connection that cannot go on: the close code and a reason for the client."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class LiveTokenError(LiveRefused):
    def __init__(self, reason: str, code: CloseCode = CloseCode.UNAUTHORIZED) -> None:
        super().__init__(code, reason)


# ------------------------------------------------------------------------------ tokens


@dataclass(frozen=True)
class LiveGrant:
    """What a live token allows: streaming ``call_id`` as ``rep_id`` until ``expires_at``."""

    call_id: str
    rep_id: int
    expires_at: float
    account_id: int | None = None
    slack_user_id: str | None = None
    slack_channel_id: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), TOKEN_CONTEXT + payload.encode("ascii"), "sha256")
    return _b64(digest.digest())


def new_call_id() -> str:
    return f"live-{secrets.token_hex(8)}"


def mint_live_token(grant: LiveGrant, *, secret: str) -> str:
    if not secret:
        raise ValueError("no identity secret configured")
    if not CALL_ID.match(grant.call_id):
        raise ValueError(
            f"call id {grant.call_id!r} must be 1-128 letters, digits, '_', '.', ':' or '-'"
        )
    payload = _b64(json.dumps(asdict(grant), sort_keys=True, separators=(",", ":")).encode())
    return f"{TOKEN_VERSION}.{payload}.{_mac(secret, payload)}"


def verify_live_token(
    token: str | None, *, secret: str, call_id: str, now: float | None = None
) -> LiveGrant:
    """The grant in ``token`` for ``call_id``, or :class:`LiveTokenError`."""
    if not token:
        raise LiveTokenError("missing token: send 'Authorization: Bearer <token>' or ?token=")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        raise LiveTokenError("malformed token")
    _, payload, mac = parts
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise LiveTokenError("token signature does not match")
    try:
        grant = LiveGrant(**json.loads(_unb64(payload)))
    except (ValueError, TypeError) as exc:
        raise LiveTokenError("token payload is unreadable") from exc
    if grant.call_id != call_id:
        raise LiveTokenError("token is for another call", CloseCode.FORBIDDEN)
    if (time.time() if now is None else now) > grant.expires_at:
        raise LiveTokenError("token expired: ask for a new one")
    return grant


def live_url(settings: Settings, call_id: str) -> str:
    """Where a client connects for ``call_id``."""
    base = settings.live_url or f"ws://{settings.host}:{settings.bot_port}"
    return base.rstrip("/") + LIVE_PATH.format(call_id=call_id)


def token_lifetime(settings: Settings) -> float:
    return settings.live_token_hours * 3600.0


# ------------------------------------------------------------------------ delivery


@dataclass(frozen=True)
class PromptTarget:
    """Where a call's prompts go besides the socket."""

    slack_user_id: str
    slack_channel_id: str | None = None


class PromptSink(Protocol):
    async def send(self, target: PromptTarget, prompt: dict[str, Any]) -> None:
        """Deliver one prompt (``Prompt.to_dict()`` plus ``title``); handles its own
        delivery errors (a prompt that cannot be delivered is logged and dropped)."""


# --------------------------------------------------------------------------- calls


@dataclass
class LiveCall:
    call_id: str
    grant: LiveGrant
    owner: CallOwner
    coach: LiveCoach
    titles: dict[str, str]
    rep_speakers: list[str]
    account_id: int | None
    account_name: str | None
    account: AccountContext | None
    target: PromptTarget | None
    started_at: dt.datetime
    utterances: list[Utterance] = field(default_factory=list)
    is_rep: list[bool | None] = field(default_factory=list)
    prompts_sent: int = 0
    slack_prompts_held: int = 0
    text_chars: int = 0
    invalid_messages: int = 0
    socket: web.WebSocketResponse | None = None
    outbox: asyncio.Queue[dict[str, Any]] | None = None
    sender: asyncio.Task[None] | None = None
    resume_timer: asyncio.TimerHandle | None = None
    finishing: asyncio.Future[int | None] | None = None
    _rep_keys: frozenset[str] = field(default=frozenset(), repr=False)

    def restart(self) -> None:
        """(Re)register the call with the coach: speakers and account as they are now."""
        self.coach.start_call(self.call_id, rep_speakers=self.rep_speakers, account=self.account)
        self._rep_keys = frozenset(s.casefold() for s in self.rep_speakers)

    def feed(
        self, speaker: str, text: str, start: float | None, is_rep: bool | None
    ) -> list[Prompt]:
        seq = len(self.utterances)
        prompts = self.coach.feed(self.call_id, speaker, text, start, is_rep=is_rep)
        if is_rep is None and self._rep_keys:
            is_rep = speaker.casefold() in self._rep_keys
        self.utterances.append(Utterance(seq=seq, speaker=speaker, text=text, start=start))
        self.is_rep.append(is_rep)
        self.text_chars += len(text)
        return prompts


def default_rep_speakers(name: str) -> list[str]:
    """Speaker labels that mean the rep: the full name and the first name."""
    parts = name.split()
    return list(dict.fromkeys([name, *parts[:1]])) if parts else []


class LiveHub:
    """The bot's live calls: opening (token, store), feeding, delivering, storing."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        sink: PromptSink | None = None,
        cooldown: Cooldown | None = None,
        resume_seconds: float | None = None,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.sink = sink
        self.cooldown = cooldown or Cooldown(
            seconds=settings.live_cooldown_seconds, utterances=settings.live_cooldown_utterances
        )
        self.resume_seconds = (
            settings.live_resume_seconds if resume_seconds is None else resume_seconds
        )
        self.secret = identity_secret(settings)
        self.calls: dict[str, LiveCall] = {}
        self.ended: OrderedDict[str, int | None] = OrderedDict()
        self.slack_sent: dict[int, deque[float]] = {}  # rep id -> monotonic send times
        self.clock: Callable[[], float] = time.monotonic

    @property
    def coaching(self) -> Coaching:
        return self.runtime.coaching

    def today(self) -> dt.date:
        return self.runtime.settings.as_of or dt.datetime.now(dt.UTC).date()

    # ---------------------------------------------------------------- opening
    def _load(self, grant: LiveGrant) -> tuple[CallOwner, PromptTarget | None, str | None]:
        with session_scope(self.runtime.engine) as session:
            rep = crud.get_rep(session, rep_id=grant.rep_id)
            if rep is None or not rep.active or rep.id is None:
                raise LiveRefused(CloseCode.FORBIDDEN, "the rep on this token is not active")
            owner = CallOwner(rep_id=rep.id, name=rep.name)
            slack_user = grant.slack_user_id or rep.slack_user_id
            target = PromptTarget(slack_user, grant.slack_channel_id) if slack_user else None
            account_name = None
            if grant.account_id is not None:
                account = crud.get_account(session, account_id=grant.account_id)
                if account is None or not crud.can_see_account(session, rep=rep, account=account):
                    raise LiveRefused(
                        CloseCode.FORBIDDEN, "the account on this token is not visible"
                    )
                account_name = account.name
        if self.coaching.call_exists(grant.call_id):
            raise LiveRefused(CloseCode.ENDED, "this call has ended and is stored")
        return owner, target, account_name

    def _open_sync(self, grant: LiveGrant) -> LiveCall:
        owner, target, account_name = self._load(grant)
        trackers: TrackerSet = self.coaching.trackers()
        context = None
        if grant.account_id is not None:
            context, _ = self.coaching.account_for(account_id=grant.account_id, today=self.today())
        call = LiveCall(
            call_id=grant.call_id,
            grant=grant,
            owner=owner,
            coach=LiveCoach(trackers, cooldown=self.cooldown, max_calls=1),
            titles={n: c.title for n, c in trackers.config.categories.items()},
            rep_speakers=default_rep_speakers(owner.name),
            account_id=grant.account_id,
            account_name=account_name,
            account=context,
            target=target,
            started_at=dt.datetime.now(dt.UTC),
        )
        call.restart()
        return call

    async def open(self, grant: LiveGrant) -> tuple[LiveCall, bool]:
        """The call for ``grant`` (resumed when it is still open) and whether it resumed."""
        if grant.call_id in self.ended:
            raise LiveRefused(CloseCode.ENDED, "this call has ended and is stored")
        call = self.calls.get(grant.call_id)
        if call is not None and call.finishing is not None:
            raise LiveRefused(CloseCode.ENDED, "this call has ended and is being stored")
        if call is not None:
            if call.grant.rep_id != grant.rep_id:
                raise LiveRefused(CloseCode.FORBIDDEN, "this call belongs to another rep")
            if call.resume_timer is not None:
                call.resume_timer.cancel()
                call.resume_timer = None
            return call, True
        if len(self.calls) >= MAX_OPEN_CALLS:
            raise LiveRefused(CloseCode.TRY_AGAIN_LATER, "too many live calls; try again shortly")
        # connected calls count; one whose socket dropped is stored when its resume window
        # closes (its memory is bounded by the per-call limits)
        mine = sum(
            1
            for c in self.calls.values()
            if c.grant.rep_id == grant.rep_id and c.socket is not None and not c.socket.closed
        )
        if mine >= MAX_OPEN_CALLS_PER_REP:
            raise LiveRefused(
                CloseCode.TRY_AGAIN_LATER,
                f"you already have {mine} live calls open; end one first",
            )
        try:
            call = await asyncio.to_thread(self._open_sync, grant)
        except StoreUnavailableError as exc:
            raise LiveRefused(CloseCode.INTERNAL, "the sales database is not answering") from exc
        except TrackerConfigError as exc:
            log.error("live call %s: the trackers cannot be compiled: %s", grant.call_id, exc)
            raise LiveRefused(CloseCode.INTERNAL, "the coaching trackers are broken") from exc
        existing = self.calls.get(grant.call_id)
        if existing is not None:  # opened by another connection meanwhile
            return existing, True
        self.calls[grant.call_id] = call
        return call, False

    async def configure(self, call: LiveCall, message: dict[str, Any]) -> str | None:
        """Apply a ``start`` message; returns an error sentence for the client, or None."""
        if call.utterances:
            return "'start' must come before the first utterance; the call keeps its settings"
        speakers = message.get("rep_speakers")
        if speakers is not None and (
            not isinstance(speakers, list)
            or not all(isinstance(s, str) and 0 < len(s) <= MAX_SPEAKER_CHARS for s in speakers)
        ):
            return "'rep_speakers' must be a list of speaker names"
        said = message.get("account")
        if said is not None and (not isinstance(said, str) or not said.strip()):
            return "'account' must be an account name"
        problem = None
        if said is not None:
            try:
                found = await asyncio.to_thread(
                    self.coaching.visible_account, rep_id=call.owner.rep_id, said=said
                )
                if found is None:
                    problem = (
                        f"no account called {said!r} in your book; coaching goes on without it"
                    )
                else:
                    context, _ = await asyncio.to_thread(
                        self.coaching.account_for, account_id=found[0], today=self.today()
                    )
                    call.account_id, call.account_name = found
                    call.account = context
            except StoreUnavailableError:
                problem = (
                    "the sales database is not answering; coaching goes on without the account"
                )
        if speakers is not None:
            call.rep_speakers = list(speakers)
        call.restart()
        return problem

    # --------------------------------------------------------------- delivery
    def deliver(self, call: LiveCall, prompt: dict[str, Any]) -> None:
        """Queue ``prompt`` for Slack; a per-call task posts it (the socket keeps reading)."""
        if self.sink is None or call.target is None:
            return
        if not self._slack_allows(call.grant.rep_id):
            call.slack_prompts_held += 1
            return
        if call.outbox is None:
            call.outbox = asyncio.Queue()
        call.outbox.put_nowait(prompt)
        if call.sender is None or call.sender.done():
            call.sender = asyncio.create_task(
                self._send_prompts(call), name=f"live-prompts-{call.call_id}"
            )
            call.sender.add_done_callback(_log_failure)

    def _slack_allows(self, rep_id: int) -> bool:
        """At most SLACK_PROMPTS_PER_MINUTE prompts per rep in any minute (a sliding window
        over all the rep's calls); records the send when allowed."""
        now = self.clock()
        sent = self.slack_sent.setdefault(rep_id, deque())
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        if len(sent) >= SLACK_PROMPTS_PER_MINUTE:
            return False
        sent.append(now)
        return True

    async def _send_prompts(self, call: LiveCall) -> None:
        assert call.outbox is not None and call.target is not None and self.sink is not None
        while not call.outbox.empty():
            prompt = call.outbox.get_nowait()
            await self.sink.send(call.target, prompt)

    # ---------------------------------------------------------------- finishing
    async def finish(self, call: LiveCall) -> int | None:
        """Store the call (once, however many times this is called) and forget it.
        Raises :class:`StoreUnavailableError`; the call is then kept, and a later
        ``end``, resume window or shutdown tries again."""
        if call.finishing is None:
            call.finishing = asyncio.ensure_future(self._finish(call))
        return await asyncio.shield(call.finishing)

    async def _finish(self, call: LiveCall) -> int | None:
        if call.resume_timer is not None:
            call.resume_timer.cancel()
            call.resume_timer = None
        if call.sender is not None:
            await asyncio.wait({call.sender})  # the last prompts reach Slack first
        flags = call.coach.flags(call.call_id)
        saved: int | None = None
        if call.utterances:
            try:
                saved = await asyncio.to_thread(
                    self.coaching.save_live_call,
                    external_id=call.call_id,
                    owner=call.owner,
                    account_id=call.account_id,
                    account_name=call.account_name,
                    utterances=call.utterances,
                    is_rep=call.is_rep,
                    flags=flags,
                    started_at=call.started_at,
                )
            except StoreUnavailableError:
                call.finishing = None
                raise
        call.coach.end_call(call.call_id)
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]
        self.ended[call.call_id] = saved
        while len(self.ended) > ENDED_REMEMBERED:
            self.ended.popitem(last=False)
        log.info(
            "live call %s ended: %d utterances, %d flags, %d prompts, stored as call %s",
            call.call_id,
            len(call.utterances),
            len(flags),
            call.prompts_sent,
            saved,
        )
        return saved

    def hold_for_resume(self, call: LiveCall) -> None:
        """The socket dropped without ``end``: store the call unless it resumes in time."""
        if call.finishing is not None or call.call_id not in self.calls:
            return
        loop = asyncio.get_running_loop()

        def expire() -> None:
            call.resume_timer = None
            if call.socket is None:
                asyncio.ensure_future(self.finish(call)).add_done_callback(_log_failure)

        call.resume_timer = loop.call_later(self.resume_seconds, expire)

    async def close_sockets(self) -> None:
        """Bot shutting down: tell every client (1001), so the server need not wait."""
        for call in list(self.calls.values()):
            if call.socket is not None and not call.socket.closed:
                await _close(call.socket, CloseCode.GOING_AWAY, "the bot is shutting down")

    async def close_all(self) -> None:
        """Bot stopped: store every open call."""
        await self.close_sockets()
        for call in list(self.calls.values()):
            try:
                await self.finish(call)
            except StoreUnavailableError as exc:
                log.error("live call %s could not be stored at shutdown: %s", call.call_id, exc)


def _log_failure(task: asyncio.Future[Any]) -> None:
    """Done callback of background work (Slack posting, storing a dropped call)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("live coaching background work failed", exc_info=task.exception())


# ------------------------------------------------------------------------- socket

LIVE_HUB: web.AppKey[LiveHub] = web.AppKey("live_hub", LiveHub)


def _token_of(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.query.get("token") or None


async def _close(ws: web.WebSocketResponse, code: int, reason: str) -> None:
    await ws.close(code=code, message=reason.encode("utf-8")[:123])


def _utterance(message: dict[str, Any]) -> tuple[str, str, float | None, bool | None]:
    """(speaker, text, start, is_rep) of an utterance message; ValueError says what is wrong."""
    speaker = message.get("speaker")
    text = message.get("text")
    if not isinstance(speaker, str) or not speaker.strip():
        raise ValueError("an utterance needs 'speaker' (text)")
    if len(speaker) > MAX_SPEAKER_CHARS:
        raise ValueError(f"'speaker' is longer than {MAX_SPEAKER_CHARS} characters")
    if not isinstance(text, str):
        raise ValueError("an utterance needs 'text' (text)")
    if len(text) > MAX_UTTERANCE_CHARS:
        raise ValueError(
            f"an utterance is at most {MAX_UTTERANCE_CHARS:,} characters; send long speech "
            "as several utterances"
        )
    start = message.get("start")
    if start is not None and (isinstance(start, bool) or not isinstance(start, int | float | str)):
        raise ValueError("'start' must be seconds or 'mm:ss'")
    try:
        seconds = parse_timestamp(start)
    except TranscriptError as exc:
        raise ValueError(str(exc)) from exc
    is_rep = message.get("is_rep")
    if is_rep is not None and not isinstance(is_rep, bool):
        raise ValueError("'is_rep' must be true or false")
    return speaker.strip(), text, seconds, is_rep


async def _send(ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
    await ws.send_str(json.dumps(payload, separators=(",", ":")))


async def live_socket(request: web.Request) -> web.StreamResponse:
    """``GET /live/{call_id}``: one call's utterances in, coaching prompts out."""
    hub = request.app[LIVE_HUB]
    call_id = request.match_info["call_id"]
    ws = web.WebSocketResponse(
        max_msg_size=MAX_FRAME_BYTES, compress=False, heartbeat=HEARTBEAT_SECONDS
    )
    if not ws.can_prepare(request).ok:
        return web.json_response(
            {"error": "this endpoint speaks WebSocket: connect with a WebSocket client"},
            status=400,
        )
    await ws.prepare(request)
    try:
        grant = verify_live_token(_token_of(request), secret=hub.secret, call_id=call_id)
        call, resumed = await hub.open(grant)
    except LiveRefused as refused:
        log.info("live socket for %s refused: %s", call_id, refused.reason)
        await _close(ws, refused.code, refused.reason)
        return ws
    previous, call.socket = call.socket, ws
    if previous is not None and not previous.closed:
        await _close(previous, CloseCode.REPLACED, "another connection took over this call")
    await _send(
        ws,
        {
            "type": "ready",
            "call_id": call.call_id,
            "rep": call.owner.name,
            "account": call.account_name,
            "rep_speakers": call.rep_speakers,
            "resumed": resumed,
            "utterances": len(call.utterances),
            "cooldown": {"seconds": hub.cooldown.seconds, "utterances": hub.cooldown.utterances},
        },
    )
    ended = False
    try:
        ended = await _serve(hub, call, ws)
    finally:
        if call.socket is ws:
            call.socket = None
            if not ended:
                hub.hold_for_resume(call)
    return ws


async def _serve(hub: LiveHub, call: LiveCall, ws: web.WebSocketResponse) -> bool:
    """Read frames until the socket closes; True when the call ended with ``end``."""
    async for frame in ws:
        if frame.type is WSMsgType.BINARY:
            await _close(ws, CloseCode.UNSUPPORTED_DATA, "send utterances as JSON text frames")
            return False
        if frame.type is not WSMsgType.TEXT:
            return False  # errors (a frame over 64 KB closes with 1009) and closing
        try:
            message = json.loads(frame.data)
        except ValueError:
            await _close(ws, CloseCode.INVALID_DATA, "frame is not JSON")
            return False
        if not isinstance(message, dict):
            await _close(ws, CloseCode.INVALID_DATA, "each frame must be a JSON object")
            return False
        kind = message.get("type", "utterance")
        if kind == "utterance":
            try:
                speaker, text, start, is_rep = _utterance(message)
            except ValueError as exc:
                if not await _invalid(ws, call, str(exc)):
                    return False
                continue
            if (
                len(call.utterances) >= MAX_UTTERANCES
                or call.text_chars + len(text) > MAX_CALL_CHARS
            ):
                await _close(ws, CloseCode.POLICY, "call too long: end it and start a new one")
                return False
            for prompt in call.feed(speaker, text, start, is_rep):
                payload = {
                    "type": "prompt",
                    **prompt.to_dict(),
                    "title": call.titles.get(prompt.category, prompt.category),
                }
                await _send(ws, payload)
                call.prompts_sent += 1
                hub.deliver(call, payload)
        elif kind == "start":
            problem = await hub.configure(call, message)
            if problem is not None:
                await _send(ws, {"type": "error", "error": problem})
        elif kind == "end":
            try:
                saved = await hub.finish(call)
            except StoreUnavailableError:
                # the call is kept: a reconnect can send "end" again; else it is stored
                # when its resume window closes or the bot stops
                await _close(ws, CloseCode.INTERNAL, "the sales database is not answering")
                return False
            await _send(
                ws,
                {
                    "type": "ended",
                    "call_id": call.call_id,
                    "utterances": len(call.utterances),
                    "prompts": call.prompts_sent,
                    "saved_call_id": saved,
                },
            )
            await _close(ws, CloseCode.NORMAL, "call ended")
            return True
        elif not await _invalid(ws, call, f"unknown message type {kind!r}"):
            return False
    return False


async def _invalid(ws: web.WebSocketResponse, call: LiveCall, error: str) -> bool:
    """Tell the client; False (and the socket closed) after too many invalid messages."""
    call.invalid_messages += 1
    if call.invalid_messages > MAX_INVALID_MESSAGES:
        await _close(ws, CloseCode.POLICY, "too many invalid messages")
        return False
    await _send(ws, {"type": "error", "error": error})
    return True


def setup_live(
    app: web.Application, runtime: Runtime, *, sink: PromptSink | None = None
) -> LiveHub:
    """Serve ``GET /live/{call_id}`` from the bot's web app; open calls are stored when
    the app stops."""
    hub = LiveHub(runtime, sink=sink)
    app[LIVE_HUB] = hub
    app.router.add_get(LIVE_PATH, live_socket)

    async def close_sockets(app: web.Application) -> None:
        await app[LIVE_HUB].close_sockets()

    async def store_open_calls(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[LIVE_HUB].close_all()

    app.on_shutdown.append(close_sockets)
    app.cleanup_ctx.append(store_open_calls)
    return hub
