"""The digest on demand is computed from what the action server keeps in memory (deals,
accounts, activities, the stored insights); its data must equal the digest computed from
the team's rows read from the store (:func:`store.team.team_frames`), for a manager, a
manager below them, a rep and an admin, and stay equal after an activity is logged."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session

from actions.base import Context, load_asker
from actions.digests import digest_data
from actions.scope import own_scope
from actions.settings import get_settings
from analytics.digest import COACHING_DAYS, build_digest
from store.identity import Identity
from store.models import Activity, ActivityKind, utcnow
from store.team import team_frames
from tests.actions.harness import tracker_for
from tests.digests.seed import AS_OF, seed_team


def context(engine, rep_id: int) -> Context:
    identity = Identity(rep_id=rep_id, sender="s", issued_at=0.0, channel="terminal")
    return Context(
        asker=load_asker(engine, identity),
        engine=engine,
        today=AS_OF,
        settings=get_settings(),
        tracker=tracker_for(rep_id=rep_id, text="digest", intent="request_digest"),
    )


def from_store(engine, ctx: Context, rep_ids, label: str) -> dict:
    calls_since = dt.datetime.combine(
        AS_OF - dt.timedelta(days=2 * COACHING_DAYS), dt.time(), tzinfo=dt.UTC
    )
    team = team_frames(engine, rep_ids, calls_since=calls_since)
    digest = build_digest(
        **team.frames(), rep_ids=rep_ids, today=AS_OF, manager_id=ctx.asker.rep_id,
        scope_label=label,
    )  # fmt: skip
    return digest.to_data()


@pytest.mark.parametrize("who", ["vera", "max", "cy", "ada"])
def test_digest_from_kept_frames_equals_the_digest_from_the_store(digest_actions, who):
    engine = digest_actions
    seeded = seed_team(engine)
    ctx = context(engine, seeded.reps[who])
    scope = own_scope(ctx.asker, team_default=ctx.asker.is_manager)
    got = digest_data(ctx, scope)
    label = got["scope"]["label"]
    expected = from_store(engine, ctx, scope.rep_ids, label)
    assert got == expected
    # an account contacted after the activities were loaded counts at once
    account = seeded.accounts["initech"]
    with Session(engine) as session:
        session.add(
            Activity(
                external_id="fresh-contact",
                kind=ActivityKind.contacted,
                rep_id=seeded.reps["bob"],
                account_id=account,
                occurred_at=utcnow(),  # logged now, as from Slack
                origin="slack",
            )
        )
        session.commit()
    got_after = digest_data(ctx, scope)
    assert got_after == from_store(engine, ctx, scope.rep_ids, label)
    if who != "cy":  # Initech is in every scope but Cy's book
        assert got_after != got
