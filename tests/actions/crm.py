"""A small CRM-shaped book, as a real opportunity export loads: accounts without a single
owner whose deals belong to several agents, open deals without close dates, agents whose
names look like company names, and no activities or contacts at all.

Team: Dana Whitfield (manager) -> Aisha Khan, Carson Sterling, Luis Ortega (agents);
Omar Reyes (agent) reports to nobody; Ada Admin is an admin.

- ``Globex Corporation``: Aisha's; one open deal of hers (needs_analysis, no close date).
- Closed last quarter: one won and one lost deal each for Aisha and Luis.
- ``Dogwood Mart``: Aisha's, no deals.
- ``Acme Corporation``: Omar's; nobody else's business.
- ``Heartland Mart``: no owner; Luis owns an open deal on it (no close date).
- ``Northwind Traders``: no owner, no deals; Carson is on its account team.
- ``Sterling Logistics``: Omar's (an account whose name shares a word with an agent's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.models import (
    Account,
    AccountTeamMember,
    Opportunity,
    OpportunityStageHistory,
    Rep,
    RepRole,
)

AS_OF = dt.date(2025, 6, 30)


@dataclass
class CrmIds:
    reps: dict[str, int]
    accounts: dict[str, int]


def seed_crm(engine: Engine) -> CrmIds:
    with Session(engine) as session:
        reps: dict[str, Rep] = {}

        def rep(key: str, name: str, role: RepRole = RepRole.rep, manager: str | None = None):
            row = Rep(
                external_id=key,
                name=name,
                email=f"{key}@crm.example",
                role=role,
                manager_id=reps[manager].id if manager else None,
            )
            session.add(row)
            session.flush()
            reps[key] = row

        rep("dana", "Dana Whitfield", RepRole.manager)
        rep("aisha", "Aisha Khan", manager="dana")
        rep("carson", "Carson Sterling", manager="dana")
        rep("luis", "Luis Ortega", manager="dana")
        rep("omar", "Omar Reyes")
        rep("ada", "Ada Admin", RepRole.admin)
        accounts: dict[str, Account] = {}
        for key, name, owner in [
            ("globex", "Globex Corporation", "aisha"),
            ("dogwood", "Dogwood Mart", "aisha"),
            ("acme", "Acme Corporation", "omar"),
            ("heartland", "Heartland Mart", None),
            ("northwind", "Northwind Traders", None),
            ("sterling", "Sterling Logistics", "omar"),
        ]:
            account = Account(
                external_id=f"ACC-{key}",
                name=name,
                segment="Retail",
                owner_id=reps[owner].id if owner else None,
            )
            session.add(account)
            session.flush()
            accounts[name] = account
        deals = [
            ("OPP-1", "Globex renewal", "Globex Corporation", "aisha", "needs_analysis", 42_000.0),
            ("OPP-2", "Heartland rollout", "Heartland Mart", "luis", "prospecting", 18_000.0),
        ]
        closed = [  # closed last quarter: what the stage odds are learned from
            ("OPP-3", "Globex pilot", "Globex Corporation", "aisha", "closed_won", 9_000.0),
            ("OPP-4", "Dogwood shelving", "Dogwood Mart", "aisha", "closed_lost", 7_000.0),
            ("OPP-5", "Heartland pilot", "Heartland Mart", "luis", "closed_won", 5_000.0),
            ("OPP-6", "Heartland kiosks", "Heartland Mart", "luis", "closed_lost", 4_000.0),
        ]
        for external_id, name, account_name, owner, stage, amount in deals + closed:
            is_closed = stage.startswith("closed_")
            deal = Opportunity(
                external_id=external_id,
                name=name,
                amount=amount,
                stage=stage,
                created_date=AS_OF - dt.timedelta(days=150 if is_closed else 40),
                close_date=AS_OF - dt.timedelta(days=100) if is_closed else None,
                is_closed=is_closed,
                is_won=stage == "closed_won",
                account_id=accounts[account_name].id,
                owner_id=reps[owner].id,
            )
            session.add(deal)
            session.flush()
            assert deal.id is not None
            session.add(
                OpportunityStageHistory(
                    opportunity_id=deal.id, stage=stage, entered_date=deal.created_date
                )
            )
        session.add(
            AccountTeamMember(
                account_id=accounts["Northwind Traders"].id,
                rep_id=reps["carson"].id,
                role="Account Manager",
            )
        )
        session.commit()
        return CrmIds(
            reps={k: int(r.id or 0) for k, r in reps.items()},
            accounts={k: int(a.id or 0) for k, a in accounts.items()},
        )
