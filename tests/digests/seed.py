"""A small team with hand-known digest numbers, written into a real store.

Team of Vera (manager, Europe/Berlin, Slack id UVERA): Max (manager, no Slack id) -> Ann,
Bob (reps); Cy (rep) reports to Vera. Olga manages Zed (another team, whose rows must never
show up in Vera's digest); Ada is an admin. ``AS_OF`` is Monday 2026-03-02; moves are
counted from ``SINCE`` (2026-02-23).

Hand-known facts for Vera's team:
- slipping/lapsed accounts (scored 2026-03-01): Initech Schools (Bob, lapsed, $30,000 a
  year at risk), Acme Foods (Ann, slipping, $12,000), Umbrella Clinic (Cy, slipping,
  $5,000): 3 accounts, $47,000 (Zed's Outside Co, $99,000, is another team's).
- best pitches: Initech Schools (win back Beverages, $9,000), Globex Hotels (Dairy, $5,400;
  contacted on 2026-02-20, before the pitch was scored: not acted on), Umbrella Clinic
  (Paper, $3,000; contacted 2026-03-01: acted on). So 2 open pitches worth $14,400, 1 acted on.
- moves since 2026-02-23: new "Initech pilot" ($50,000, Bob), advanced "Acme renewal"
  (qualification -> proposal, Ann), slipped "Globex expansion" (close date 2026-02-25
  passed, Ann), won "Umbrella supplies" ($8,000, Cy, 2026-02-27), lost "Initech trial"
  ($6,000, Bob, 2026-02-24).
- Q1 2026 bookings quotas: Ann 40,000, Bob 30,000, Cy 20,000 = 90,000; closed won $8,000.
- coaching flags, last 7 days (2026-02-24..03-02) vs the 7 before (02-17..02-23): pricing
  3 vs 2 (up 50%), competitor 1 vs 0 (new), next_steps 0 vs 1 (down 100%); 2 calls vs 2.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.models import (
    Account,
    AccountHealth,
    Activity,
    ActivityKind,
    Call,
    CoachingFlag,
    Opportunity,
    OpportunityStageHistory,
    Product,
    Recommendation,
    Rep,
    RepRole,
    Target,
)

AS_OF = dt.date(2026, 3, 2)
SINCE = dt.date(2026, 2, 23)
SCORED = dt.date(2026, 3, 1)
TEAM_RISK = 47_000.0
QUOTA = 90_000.0


@dataclass(frozen=True)
class Seeded:
    reps: dict[str, int]
    accounts: dict[str, int]
    deals: dict[str, int]

    @property
    def team(self) -> frozenset[int]:
        return frozenset(self.reps[k] for k in ("vera", "max", "ann", "bob", "cy"))


def _utc(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def seed_team(engine: Engine) -> Seeded:
    with Session(engine, expire_on_commit=False) as s:
        reps: dict[str, Rep] = {}

        def rep(key: str, name: str, role: RepRole, manager: str | None, **extra: object) -> None:
            row = Rep(
                external_id=f"R-{key}",
                name=name,
                email=f"{key}@example.com",
                role=role,
                manager_id=reps[manager].id if manager else None,
                timezone="Europe/Berlin",
                **extra,
            )
            s.add(row)
            s.flush()
            reps[key] = row

        rep("vera", "Vera Lind", RepRole.manager, None, slack_user_id="UVERA")
        rep("max", "Max Ortega", RepRole.manager, "vera")
        rep("ann", "Ann Kowalski", RepRole.rep, "max")
        rep("bob", "Bob Nakamura", RepRole.rep, "max")
        rep("cy", "Cy Duarte", RepRole.rep, "vera", slack_user_id="UCY")
        rep("olga", "Olga Berg", RepRole.manager, None)
        rep("zed", "Zed Quinn", RepRole.rep, "olga")
        rep("ada", "Ada Brennan", RepRole.admin, None)

        accounts: dict[str, Account] = {}
        for key, name, owner in (
            ("acme", "Acme Foods", "ann"),
            ("globex", "Globex Hotels", "ann"),
            ("initech", "Initech Schools", "bob"),
            ("umbrella", "Umbrella Clinic", "cy"),
            ("outside", "Outside Co", "zed"),
        ):
            accounts[key] = Account(external_id=f"A-{key}", name=name, owner_id=reps[owner].id)
        s.add_all(accounts.values())
        dairy = Product(external_id="P-dairy", name="Gorgonzola", category="Dairy")
        s.add(dairy)
        s.flush()

        def health(
            key: str, status: str, risk: float, days: int | None, reason: str
        ) -> AccountHealth:
            return AccountHealth(
                account_id=accounts[key].id, as_of=SCORED, status=status, score=0.8 if risk else 0.1,
                revenue_at_risk=risk, annual_revenue=max(risk, 10_000.0),
                days_since_last_order=days, reason=reason,
            )  # fmt: skip

        s.add_all(
            [
                health("acme", "slipping", 12_000.0, 75, "orders every 30 days; none for 75 days"),
                health("globex", "healthy", 0.0, 10, "ordering on its usual cycle"),
                health("initech", "lapsed", 30_000.0, 200, "no order for 200 days"),
                health("umbrella", "slipping", 5_000.0, 60, "spend down 60% vs last quarter"),
                health("outside", "lapsed", 99_000.0, 300, "no order for 300 days"),
            ]
        )

        def pitch(key: str, rank: int, kind: str, category: str, value: float) -> Recommendation:
            return Recommendation(
                account_id=accounts[key].id, rank=rank, as_of=SCORED, kind=kind, category=category,
                product_id=dairy.id if category == "Dairy" else None, expected_value=value,
                reason=f"peers buy {category}",
            )  # fmt: skip

        s.add_all(
            [
                pitch("globex", 1, "cross_sell", "Dairy", 5_400.0),
                pitch("globex", 2, "cross_sell", "Beverages", 1_000.0),
                pitch("initech", 1, "win_back", "Beverages", 9_000.0),
                pitch("umbrella", 1, "cross_sell", "Paper", 3_000.0),
                pitch("outside", 1, "cross_sell", "Paper", 8_000.0),
            ]
        )

        deals: dict[str, Opportunity] = {}
        history: list[tuple[str, str, str]] = []

        def deal(
            key: str,
            owner: str,
            account: str,
            amount: float,
            stage: str,
            created: str,
            close: str,
            steps: list[tuple[str, str]],
            *,
            won: bool | None = None,
        ) -> None:
            deals[key] = Opportunity(
                external_id=f"O-{key}",
                name=key,
                account_id=accounts[account].id,
                owner_id=reps[owner].id,
                amount=amount,
                stage=stage,
                created_date=_d(created),
                close_date=_d(close),
                is_closed=won is not None,
                is_won=bool(won),
            )
            history.extend((key, step, day) for step, day in steps)  # fmt: skip

        ladder = ["prospecting", "qualification", "proposal", "negotiation"]
        for i in range(6):  # closed history the stage model learns from (another team's)
            start = dt.date(2025, 3, 1) + dt.timedelta(days=20 * i)
            steps = [
                (st, (start + dt.timedelta(days=10 * j)).isoformat()) for j, st in enumerate(ladder)
            ]
            won = i % 3 != 0
            end = (start + dt.timedelta(days=45)).isoformat()
            steps.append(("closed_won" if won else "closed_lost", end))
            deal(f"History {i}", "zed", "outside", 10_000.0, "closed_won" if won else "closed_lost",
                 start.isoformat(), end, steps, won=won)  # fmt: skip
        deal(
            "Acme renewal",
            "ann",
            "acme",
            10_000.0,
            "proposal",
            "2026-01-10",
            "2026-03-20",
            [
                ("prospecting", "2026-01-10"),
                ("qualification", "2026-02-01"),
                ("proposal", "2026-02-27"),
            ],
        )
        deal(
            "Globex expansion",
            "ann",
            "globex",
            20_000.0,
            "negotiation",
            "2025-12-01",
            "2026-02-25",
            [("prospecting", "2025-12-01"), ("negotiation", "2026-01-05")],
        )
        deal(
            "Initech pilot",
            "bob",
            "initech",
            50_000.0,
            "prospecting",
            "2026-02-26",
            "2026-04-30",
            [("prospecting", "2026-02-26")],
        )
        deal(
            "Umbrella supplies",
            "cy",
            "umbrella",
            8_000.0,
            "closed_won",
            "2026-01-15",
            "2026-02-27",
            [("prospecting", "2026-01-15"), ("closed_won", "2026-02-27")],
            won=True,
        )
        deal(
            "Initech trial",
            "bob",
            "initech",
            6_000.0,
            "closed_lost",
            "2026-01-20",
            "2026-02-24",
            [("prospecting", "2026-01-20"), ("closed_lost", "2026-02-24")],
            won=False,
        )
        deal("Outside deal", "zed", "outside", 70_000.0, "negotiation", "2026-01-05", "2026-03-10",
             [("prospecting", "2026-01-05"), ("negotiation", "2026-02-01")])  # fmt: skip
        s.add_all(deals.values())
        s.flush()
        s.add_all(
            OpportunityStageHistory(opportunity_id=deals[key].id, stage=stage, entered_date=_d(day))
            for key, stage, day in history
        )
        s.add_all(
            Target(rep_id=reps[key].id, period_start=_d("2026-01-01"), period_end=_d("2026-03-31"),
                   metric="bookings", amount=amount)
            for key, amount in (("ann", 40_000.0), ("bob", 30_000.0), ("cy", 20_000.0), ("zed", 50_000.0))
        )  # fmt: skip

        def activity(
            key: str,
            kind: ActivityKind,
            when: dt.datetime,
            *,
            account: str | None = None,
            deal_key: str | None = None,
            owner: str = "ann",
        ) -> Activity:
            return Activity(
                external_id=f"ACT-{key}", kind=kind, occurred_at=when, rep_id=reps[owner].id,
                account_id=accounts[account].id if account else None,
                opportunity_id=deals[deal_key].id if deal_key else None,
            )  # fmt: skip

        s.add_all(
            [
                activity("1", ActivityKind.contacted, _utc(_d("2026-02-20")), account="globex"),
                activity("2", ActivityKind.contacted, _utc(_d("2026-03-01")), account="umbrella", owner="cy"),
                activity("3", ActivityKind.call, _utc(_d("2026-02-27")), deal_key="Acme renewal"),
                activity("4", ActivityKind.call, _utc(_d("2026-01-10")), deal_key="Globex expansion"),
            ]
        )  # fmt: skip

        calls = [
            ("c1", "ann", "2026-02-27", [("pricing", "price objection")] * 2 + [("competitor", "competitor named")]),
            ("c2", "ann", "2026-03-01", [("pricing", "price objection")]),
            ("c3", "bob", "2026-02-20", [("pricing", "too expensive")] * 2 + [("next_steps", "next steps")]),
            ("c4", "cy", "2026-02-18", []),
            ("c5", "zed", "2026-02-28", [("pricing", "price objection")] * 5),
        ]  # fmt: skip
        for key, owner, day, flags in calls:
            call = Call(
                external_id=f"CALL-{key}", rep_id=reps[owner].id, started_at=_utc(_d(day), 14)
            )
            s.add(call)
            s.flush()
            s.add_all(
                CoachingFlag(
                    call_id=call.id, utterance_seq=i, category=category, tracker=tracker,
                    phrase=tracker, speaker="Customer", prompt="ask about value",
                )
                for i, (category, tracker) in enumerate(flags)
            )  # fmt: skip
        s.commit()
        return Seeded(
            reps={k: int(r.id or 0) for k, r in reps.items()},
            accounts={k: int(a.id or 0) for k, a in accounts.items()},
            deals={k: int(d.id or 0) for k, d in deals.items()},
        )
