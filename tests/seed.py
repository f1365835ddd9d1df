"""A small, hand-shaped book of business for tests that need a team and order history.

Team: Vera (VP, manager) -> Max (manager) -> Ann, Bob (reps); Cy (rep) reports to Vera;
Ada is an admin. Accounts are owned by Ann, Bob and Cy. Every account orders every 14
days from two categories for two years before ``AS_OF``, except:

- ``Acme Foods`` (Ann) stopped ordering 120 days before AS_OF: slipping/lapsed;
- ``Acme Food Service`` (Bob) is healthy (a near-duplicate name for disambiguation);
- ``Globex Hotels`` (Ann) still buys Disposables but stopped Cleaning Supplies 100 days ago;
- ``Initech Schools`` (Cy) is healthy; ``Umbrella Clinic`` (Cy) stopped 150 days ago.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.models import (
    Account,
    Opportunity,
    OpportunityStageHistory,
    Order,
    OrderLine,
    Product,
    Rep,
    RepRole,
)

AS_OF = dt.date(2025, 6, 30)
CATEGORIES = {
    "Disposables": ("Napkins", "Cups"),
    "Cleaning Supplies": ("Floor cleaner", "Mops"),
    "Beverages": ("Coffee", "Tea"),
    "Paper Products": ("Towels", "Tissue"),
}


@dataclass
class SeedIds:
    reps: dict[str, int]
    accounts: dict[str, int]


def _rep(session: Session, key: str, name: str, role: RepRole, manager: Rep | None) -> Rep:
    rep = Rep(
        external_id=key,
        name=name,
        email=f"{key}@example.com",
        role=role,
        manager_id=manager.id if manager else None,
        timezone="Europe/Berlin",
    )
    session.add(rep)
    session.flush()
    return rep


def seed_book(engine: Engine, *, filler_accounts: int = 24) -> SeedIds:
    """Write the team, products, accounts and two years of orders; returns ids by key/name."""
    rng = np.random.default_rng(7)
    with Session(engine) as session:
        vera = _rep(session, "vera", "Vera Lind", RepRole.manager, None)
        max_ = _rep(session, "max", "Max Ortega", RepRole.manager, vera)
        ann = _rep(session, "ann", "Ann Kowalski", RepRole.rep, max_)
        bob = _rep(session, "bob", "Bob Nakamura", RepRole.rep, max_)
        cy = _rep(session, "cy", "Cy Duarte", RepRole.rep, vera)
        ada = _rep(session, "ada", "Ada Brennan", RepRole.admin, None)
        products: dict[str, list[Product]] = {}
        for category, names in CATEGORIES.items():
            products[category] = []
            for i, name in enumerate(names):
                product = Product(
                    external_id=f"{category[:3].upper()}-{i}",
                    name=name,
                    category=category,
                    unit_price=10.0 + 5 * i,
                )
                session.add(product)
                products[category].append(product)
        session.flush()
        special = [
            ("Acme Foods", ann, "hospitality", ("Disposables", "Beverages"), {"all": 120}),
            ("Acme Food Service", bob, "hospitality", ("Disposables", "Beverages"), {}),
            (
                "Globex Hotels",
                ann,
                "hospitality",
                ("Disposables", "Cleaning Supplies"),
                {"Cleaning Supplies": 100},
            ),
            ("Initech Schools", cy, "education", ("Paper Products", "Cleaning Supplies"), {}),
            ("Umbrella Clinic", cy, "healthcare", ("Paper Products", "Disposables"), {"all": 150}),
        ]
        owners = [ann, bob, cy]
        segments = [
            ("hospitality", ("Disposables", "Beverages")),
            ("education", ("Paper Products", "Cleaning Supplies")),
        ]
        filler = []
        for i in range(filler_accounts):
            segment, cats = segments[i % 2]
            extra = ("Cleaning Supplies",) if segment == "hospitality" and i % 4 != 0 else ()
            filler.append(
                (f"Filler {segment.title()} {i:02d}", owners[i % 3], segment, cats + extra, {})
            )
        accounts: dict[str, int] = {}
        planned: list[tuple[Order, list[tuple[Product, float]]]] = []
        start = AS_OF - dt.timedelta(days=730)
        for name, owner, segment, cats, stops in special + filler:
            account = Account(
                external_id=f"ACC-{len(accounts) + 1:03d}",
                name=name,
                owner_id=owner.id,
                segment=segment,
                industry=segment,
                region="West",
                size="mid",
                created_date=start,
            )
            session.add(account)
            session.flush()
            assert account.id is not None
            accounts[name] = account.id
            day = start + dt.timedelta(days=int(rng.integers(0, 14)))
            while day <= AS_OF:
                if "all" in stops and day > AS_OF - dt.timedelta(days=stops["all"]):
                    break
                order = Order(
                    external_id=f"SO-{len(planned) + 1}",
                    account_id=account.id,
                    rep_id=owner.id,
                    order_date=day,
                )
                lines = []
                for category in cats:
                    if category in stops and day > AS_OF - dt.timedelta(days=stops[category]):
                        continue
                    lines.append(
                        (products[category][int(rng.integers(0, 2))], float(rng.integers(5, 15)))
                    )
                planned.append((order, lines))
                day += dt.timedelta(days=int(14 + rng.integers(-2, 3)))
        session.add_all([order for order, _ in planned])
        session.flush()
        for order, lines in planned:
            for product, quantity in lines:
                price = float(product.unit_price or 10.0)
                session.add(
                    OrderLine(
                        order_id=order.id,
                        line_key=product.external_id,
                        account_id=order.account_id,
                        product_id=product.id,
                        order_date=order.order_date,
                        quantity=quantity,
                        unit_price=price,
                        discount=0.0,
                        amount=quantity * price,
                    )
                )
        opp = Opportunity(
            external_id="OPP-1",
            name="Acme Foods renewal",
            amount=24000.0,
            stage="proposal",
            created_date=AS_OF - dt.timedelta(days=60),
            close_date=AS_OF + dt.timedelta(days=30),
            account_id=accounts["Acme Foods"],
            owner_id=ann.id,
        )
        session.add(opp)
        session.flush()
        assert opp.id is not None
        session.add(
            OpportunityStageHistory(
                opportunity_id=opp.id,
                stage="qualification",
                entered_date=AS_OF - dt.timedelta(days=60),
            )
        )
        session.add(
            OpportunityStageHistory(
                opportunity_id=opp.id, stage="proposal", entered_date=AS_OF - dt.timedelta(days=20)
            )
        )
        session.commit()
        reps = {r.external_id: int(r.id or 0) for r in (vera, max_, ann, bob, cy, ada)}
    return SeedIds(reps=reps, accounts=accounts)
