from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect
from sqlmodel import SQLModel

from store import crud, frames
from store.migrate import current_revision, head_revision
from store.models import TABLES, Account, Product, Rep, RepRole


def test_migrations_create_every_table(engine):
    names = set(inspect(engine).get_table_names())
    assert {t.__tablename__ for t in TABLES} <= names
    assert current_revision(engine) == head_revision()


def test_migrations_match_models(engine):
    """Autogenerate against a migrated database finds nothing to add: models and migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def _team(session):
    vp = Rep(external_id="vp", name="Vera", email="vera@example.com", role=RepRole.manager)
    session.add(vp)
    session.flush()
    mgr = Rep(
        external_id="m1",
        name="Max",
        email="max@example.com",
        role=RepRole.manager,
        manager_id=vp.id,
    )
    session.add(mgr)
    session.flush()
    ann = Rep(external_id="r1", name="Ann", email="ann@example.com", manager_id=mgr.id)
    bob = Rep(external_id="r2", name="Bob", email="bob@example.com", manager_id=vp.id)
    admin = Rep(external_id="a1", name="Ada", email="ada@example.com", role=RepRole.admin)
    session.add_all([ann, bob, admin])
    session.flush()
    return vp, mgr, ann, bob, admin


def test_visibility_is_recursive_for_managers(session):
    vp, mgr, ann, bob, admin = _team(session)
    assert crud.visible_rep_ids(session, rep=ann) == {ann.id}
    assert crud.visible_rep_ids(session, rep=mgr) == {mgr.id, ann.id}
    assert crud.visible_rep_ids(session, rep=vp) == {vp.id, mgr.id, ann.id, bob.id}
    assert crud.visible_rep_ids(session, rep=admin) is None


def test_rep_lookup_by_email_and_slack_link(session):
    _, _, ann, bob, _ = _team(session)
    assert crud.get_rep_by_email(session, email="Bob@Example.com").id == bob.id
    crud.link_slack_user(session, rep=ann, slack_user_id="U1")
    assert crud.get_rep_by_slack_id(session, slack_user_id="U1").id == ann.id
    crud.link_slack_user(session, rep=bob, slack_user_id="U1")  # the Slack user is now Bob
    assert crud.get_rep_by_slack_id(session, slack_user_id="U1").id == bob.id
    session.refresh(ann)
    assert ann.slack_user_id is None


def test_account_matching_prefers_the_reps_book(session):
    _, _, ann, bob, _ = _team(session)
    session.add_all(
        [
            Account(external_id="A1", name="Acme Corporation", owner_id=ann.id),
            Account(external_id="A2", name="Acme Logistics", owner_id=bob.id),
            Account(external_id="A3", name="Globex", owner_id=ann.id),
        ]
    )
    session.flush()
    matches = crud.match_accounts(session, query="acme", visible_owner_ids={ann.id})
    assert [m.name for m in matches][:2] == ["Acme Corporation", "Acme Logistics"]
    assert [m.visible for m in matches][:2] == [True, False]
    assert crud.match_accounts(session, query="zzzz", visible_owner_ids=None) == []
    named = crud.accounts_named_in(session, text="how is globex doing?", visible_owner_ids={ann.id})
    assert [a.name for a in named] == ["Globex"]


def test_slack_event_claimed_once(session):
    assert crud.claim_slack_event(session, event_id="Ev1", claimed_by="bot-a") is True
    assert crud.claim_slack_event(session, event_id="Ev1", claimed_by="bot-b") is False
    assert crud.claim_slack_event(session, event_id="Ev2", claimed_by="bot-b") is True


def test_frames_return_documented_columns(engine, session):
    _, _, ann, _, _ = _team(session)
    acme = Account(external_id="A1", name="Acme", owner_id=ann.id, segment="hospitality")
    prod = Product(external_id="P1", name="Napkins", category="Disposables", unit_price=2.0)
    session.add_all([acme, prod])
    session.commit()
    accounts = frames.accounts(engine)
    assert list(accounts.columns) == frames.ACCOUNT_COLUMNS
    assert accounts.loc[0, "segment"] == "hospitality"
    lines = frames.order_lines(engine, start=dt.date(2020, 1, 1))
    assert list(lines.columns) == frames.ORDER_LINE_COLUMNS and lines.empty
    assert frames.accounts(engine, account_ids=[]).empty
