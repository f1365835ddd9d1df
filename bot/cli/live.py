"""``salesbot live-token``: a URL and token for streaming one call to the live-coaching
socket (``GET /live/{call_id}`` on the bot, see :mod:`bot.live`), for a dialer or
transcription integration that is not started from Slack."""

from __future__ import annotations

import datetime as dt
import json
import time

import typer
from sqlmodel import Session

from bot.cli.common import fail, store_engine
from bot.settings import get_settings


def register(app: typer.Typer) -> None:
    app.command(
        "live-token",
        help="Mint a live-coaching URL and token for one call of a rep.",
    )(live_token_command)


def live_token_command(
    rep: str = typer.Option(..., "--rep", help="e-mail of the rep on the call"),
    call_id: str | None = typer.Option(
        None, "--call-id", help="the call's id in your dialer (default: a new random id)"
    ),
    account: str | None = typer.Option(
        None, "--account", help="the account on the call (name as in the CRM), from the rep's book"
    ),
    hours: float | None = typer.Option(
        None, "--hours", help="how long the token works (default SALESBOT_LIVE_TOKEN_HOURS)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print call_id, url, token, expires_at"),
) -> None:
    from bot.coaching import Coaching
    from bot.live import LiveGrant, live_url, mint_live_token, new_call_id, token_lifetime
    from bot.runtime import identity_secret
    from store.crud import get_rep_by_email

    settings = get_settings()
    engine = store_engine()
    with Session(engine) as session:
        found = get_rep_by_email(session, email=rep.strip().lower())
    if found is None or found.id is None or not found.active:
        fail(f"no active rep with e-mail {rep} in the store")
    account_id = None
    if account:
        match = Coaching(engine).visible_account(rep_id=found.id, said=account)
        if match is None:
            fail(f"no account called {account!r} in {found.name}'s book")
        account_id = match[0]
    if hours is not None and hours <= 0:
        fail("--hours must be more than 0")
    lifetime = hours * 3600 if hours is not None else token_lifetime(settings)
    grant = LiveGrant(
        call_id=call_id or new_call_id(),
        rep_id=found.id,
        expires_at=time.time() + lifetime,
        account_id=account_id,
        slack_user_id=found.slack_user_id,
    )
    try:
        token = mint_live_token(grant, secret=identity_secret(settings))
    except ValueError as exc:
        fail(str(exc))
    url = live_url(settings, grant.call_id)
    expires = dt.datetime.fromtimestamp(grant.expires_at, dt.UTC)
    if as_json:
        payload = {
            "call_id": grant.call_id,
            "url": url,
            "token": token,
            "expires_at": expires.isoformat(),
        }
        typer.echo(json.dumps(payload))
        return
    typer.echo(f"call:    {grant.call_id}")
    typer.echo(f"url:     {url}")
    typer.echo(f"token:   {token}")
    typer.echo(f"expires: {expires:%Y-%m-%d %H:%M} UTC")
    typer.echo(
        "Connect with 'Authorization: Bearer <token>' (or ?token=), send "
        '{"speaker": ..., "text": ..., "start": ...} per utterance and {"type": "end"} at the end.'
    )
