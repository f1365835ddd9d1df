"""Reply latency of ``salesbot ask`` on a warm stack with a 100k-account company loaded.

    .venv/bin/python -m benchmarks.ask_latency [--store-url sqlite:///var/bench/salesbot.db]
        [--as-of 2026-06-30] [--questions 200] [--cli 5]

The store is prepared once and reused (writing 10M order lines to SQLite takes minutes);
when ``--store-url`` holds no scored company, these two commands are run first (``--accounts``
sets the size)::

    export SALESBOT_HOME=var/bench DATABASE_URL=sqlite:///var/bench/salesbot.db
    salesbot demo-data --accounts 100000 --end-date 2026-06-30
    salesbot score --as-of 2026-06-30

The real action server, Rasa (the current trained model) and bot are started on that store
as the integration tests start them (:func:`tests.stack.start_stack`, loopback ports,
``SALESBOT_AS_OF`` = ``--as-of``). Then, in this order:

1. **first question**: a lead question (it needs the deals, leads, activities and the lead
   scorer fitted on them) the moment the stack answers its health checks (what
   the first user after ``salesbot serve`` waits), then the action server is left to
   finish what it prepares in the background (until its CPU time stops moving);
2. **first ask**: every distinct question of the run once (the warm-up pass);
3. **measured run**: ``--questions`` questions spread over every skill (slipping, pitch,
   overview, pipeline, stalled deals, forecast, each metric, leads, reorders, digest)
   and several askers (reps, a regional manager, the VP, an admin), each in a new
   conversation. Each is timed from the request leaving to the reply rendered as the
   terminal shows it: the bot's ``POST /api/ask`` (what ``salesbot ask`` sends, through
   :class:`bot.terminal.TerminalClient`) plus :func:`bot.terminal.format_reply`, without
   the interpreter start-up of the CLI. After each question, in the same run and under
   the same load, three baselines are timed: ``hi`` through the same ``/api/ask`` path
   (Rasa's own turn, ``utter_greet``, no custom action), ``why?`` in a new conversation
   (Rasa's turn plus a call to the action server whose action only verifies the identity
   and loads the asker, then says there is nothing to explain), and Rasa's ``POST
   /model/parse`` of the question's text (NLU alone);
4. **CLI**: the whole ``salesbot ask --as ... "..."`` command (a new interpreter) for
   ``--cli`` questions and for ``hi``.

Reported: p50 / p95 / p99 / max overall and per skill next to the baselines, the replies
of an unexpected kind (a wrong intent or a clarifying question would not measure the
skill), and the machine's load average (the two cores are shared). Results also go to
``benchmarks/results/ask_latency.md``. Our bar (DESIGN.md section 5): p95 <= 300 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.settings import Settings
from bot.terminal import TerminalClient, format_reply
from store.db import make_engine
from store.demo import DEMO_ADMIN_EMAIL, DEMO_MANAGER_EMAIL, DEMO_REP_EMAIL, DEMO_VP_EMAIL
from tests.stack import Stack, start_stack

RESULTS = Path(__file__).resolve().parent / "results" / "ask_latency.md"
DEFAULT_STORE = "sqlite:///var/bench/salesbot.db"
TARGET_P95_MS = 300.0
ACCOUNT_CANDIDATES = 20

METRICS = {
    "win_rate": "what's my win rate?",
    "conversion_rate": "what's my lead conversion rate?",
    "acv": "what is my average deal size?",
    "clv": "what's the customer lifetime value of my accounts?",
    "cycle_length": "how long is my sales cycle?",
    "pipeline_value": "what is my total pipeline value?",
    "quota_attainment": "what's my quota attainment this quarter?",
}
SKILLS = [
    "slipping",
    "pitch",
    "overview",
    "pipeline",
    "stalled",
    "forecast",
    *(f"metric:{m}" for m in METRICS),
    "leads",
    "reorders",
    "digest",
]
KINDS = {
    "slipping": {"slipping"},
    "pitch": {"pitch"},
    "overview": {"account_overview"},
    "pipeline": {"pipeline"},
    "stalled": {"stalled_deals"},
    "forecast": {"forecast"},
    "leads": {"lead_priorities"},
    "reorders": {"reorders_due"},
    "digest": {"digest", "digest_rep_line"},
}


@dataclass(frozen=True)
class Asker:
    email: str
    role: str
    label: str
    accounts: tuple[str, ...]
    """Names of accounts in this asker's book, for pitch and overview questions."""


@dataclass(frozen=True)
class Question:
    skill: str
    asker: Asker
    text: str

    def expected(self, replies: list[dict[str, Any]]) -> bool:
        if self.skill.startswith("metric:"):
            metric = self.skill.split(":", 1)[1]
            return any(
                r.get("kind") == "metric" and (r.get("data") or {}).get("metric") == metric
                for r in replies
            )
        return any(r.get("kind") in KINDS[self.skill] for r in replies)


@dataclass
class Timings:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unexpected: list[tuple[str, str, list[str]]] = field(default_factory=list)
    load: list[float] = field(default_factory=list)


# ------------------------------------------------------------------------ the store


def store_facts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        counts = {
            table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("account", "opportunity", "lead", "activity")
        }
        counts["order_line"] = int(
            conn.execute(text("SELECT max(id) FROM order_line")).scalar_one() or 0
        )
        counts["scored"] = int(
            conn.execute(
                text("SELECT count(*) FROM score_run WHERE finished_at IS NOT NULL")
            ).scalar_one()
        )
    return counts


def _accounts_of(engine: Engine, owner_ids: Iterable[int] | None, n: int) -> tuple[str, ...]:
    """``n`` account names of the owners' book that have been scored and have pitches."""
    where = ""
    if owner_ids is not None:
        where = "AND a.owner_id IN (" + ",".join(str(int(o)) for o in owner_ids) + ")"
    sql = (
        "SELECT a.name FROM account a JOIN account_health h ON h.account_id = a.id "
        f"WHERE EXISTS (SELECT 1 FROM recommendation r WHERE r.account_id = a.id) {where} "
        "ORDER BY (a.id * 7919) % 10007 LIMIT :n"
    )
    with engine.connect() as conn:
        return tuple(str(r[0]) for r in conn.execute(text(sql), {"n": n}))


def pick_askers(engine: Engine, accounts_each: int) -> list[Asker]:
    """The demo rep, two reps of other teams, the demo manager, the VP and the admin."""
    with engine.connect() as conn:
        reps = conn.execute(text("SELECT id, email, role, manager_id FROM rep ORDER BY id")).all()
    by_email = {r.email: r for r in reps}
    manager_of = {r.id: r.manager_id for r in reps}

    def team(manager_id: int) -> set[int]:
        seen, frontier = {manager_id}, [manager_id]
        while frontier:
            boss = frontier.pop()
            for r in reps:
                if manager_of[r.id] == boss and r.id not in seen:
                    seen.add(r.id)
                    frontier.append(r.id)
        return seen

    demo_rep = by_email[DEMO_REP_EMAIL]
    others: list[Any] = []
    teams_taken = {demo_rep.manager_id}
    for r in reps:
        if r.role == "rep" and r.manager_id not in teams_taken and len(others) < 2:
            others.append(r)
            teams_taken.add(r.manager_id)
    askers = [Asker(demo_rep.email, "rep", "rep (demo)", ())]
    askers += [Asker(r.email, "rep", f"rep {r.id}", ()) for r in others]
    askers.append(Asker(DEMO_MANAGER_EMAIL, "manager", "manager", ()))
    askers.append(Asker(DEMO_VP_EMAIL, "manager", "VP", ()))
    askers.append(Asker(DEMO_ADMIN_EMAIL, "admin", "admin", ()))
    out = []
    for asker in askers:
        row = by_email[asker.email]
        owners = None if asker.role == "admin" else team(int(row.id))
        names = _accounts_of(engine, owners, accounts_each)
        out.append(Asker(asker.email, asker.role, asker.label, names))
    return out


# --------------------------------------------------------------------- questions


def question(skill: str, asker: Asker, variant: int) -> Question:
    team = asker.role != "rep"
    account = asker.accounts[variant % len(asker.accounts)] if asker.accounts else "Acme"
    texts = {
        "slipping": (
            "which accounts on my team are slipping?"
            if team
            else "which of my accounts are slipping?"
        ),
        "pitch": f"what should I pitch to {account}?",
        "overview": f"how is {account} doing?",
        "pipeline": (
            "how does my team's pipeline look this quarter?"
            if team
            else "how does my pipeline look this quarter?"
        ),
        "stalled": "which of my team's deals are stuck?"
        if team
        else "which of my deals are stuck?",
        "forecast": "what's my forecast for this quarter?",
        "leads": "which leads should I call first?",
        "reorders": "who's due to reorder this week?",
        "digest": "send me the team digest",
    }
    if skill.startswith("metric:"):
        return Question(skill, asker, METRICS[skill.split(":", 1)[1]])
    return Question(skill, asker, texts[skill])


def plan(askers: list[Asker], n: int) -> list[Question]:
    """``n`` questions: the skills in turn, each round asked by the next asker (so every
    skill is asked by every asker), pitch and overview about a different account each
    time that asker comes back."""
    out = []
    for i in range(n):
        skill = SKILLS[i % len(SKILLS)]
        round_ = i // len(SKILLS)
        asker = askers[round_ % len(askers)]
        out.append(question(skill, asker, round_ // len(askers)))
    return out


def named_whole(http: httpx.Client, rasa_url: str, asker: Asker, n: int) -> Asker:
    """``asker`` with ``n`` of its accounts whose whole name the NLU takes as the account in
    the pitch and overview questions (a name cut short gets a clarifying question, which
    would not time the skill); the first candidates if too few are."""
    whole = []
    for name in asker.accounts:
        said = []
        for q in (question("pitch", asker, 0), question("overview", asker, 0)):
            text_ = q.text.replace(asker.accounts[0], name)
            parsed = http.post(f"{rasa_url}/model/parse", json={"text": text_}).json()
            said.append(
                [
                    str(e.get("value", "")).lower()
                    for e in parsed.get("entities", [])
                    if e.get("entity") == "account"
                ]
            )
        if all(values == [name.lower()] for values in said):
            whole.append(name)
        if len(whole) == n:
            break
    chosen = whole + [a for a in asker.accounts if a not in whole][: n - len(whole)]
    return Asker(asker.email, asker.role, asker.label, tuple(chosen))


# ------------------------------------------------------------------------ timing


def conversation() -> str:
    return f"bench-{uuid.uuid4().hex[:12]}"


def timed_ask(client: TerminalClient, email: str, text_: str) -> tuple[float, list[dict[str, Any]]]:
    """Message in -> reply rendered as the terminal prints it, in ms."""
    started = time.perf_counter()
    replies = client.ask(email, text_, sender=conversation())
    rendered = "\n\n".join(format_reply(r) for r in replies)
    elapsed = (time.perf_counter() - started) * 1000
    assert rendered or not replies
    return elapsed, replies


def timed_parse(http: httpx.Client, rasa_url: str, text_: str) -> float:
    started = time.perf_counter()
    response = http.post(f"{rasa_url}/model/parse", json={"text": text_})
    response.raise_for_status()
    response.json()
    return (time.perf_counter() - started) * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (the action server's
    Sanic workers are child processes)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        ticks[child] = sum(int(v) for v in fields[11:15])
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in family:
                family.add(child)
                frontier.append(child)
    return sum(ticks.get(p, 0) for p in family) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, *, quiet_seconds: float = 3.0, limit: float = 600.0) -> float:
    """Wait until the process used under 5% of a core for ``quiet_seconds``; returns the wait."""
    started = time.monotonic()
    last = cpu_seconds(pid)
    while time.monotonic() - started < limit:
        time.sleep(quiet_seconds)
        now = cpu_seconds(pid)
        if now - last < 0.05 * quiet_seconds:
            break
        last = now
    return time.monotonic() - started


def cli_wall(stack: Stack, email: str, text_: str) -> float:
    script = Path(sys.executable).with_name("salesbot")
    argv = ([str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]) + [
        "ask",
        "--as",
        email,
        text_,
        "--sender",
        conversation(),
    ]
    started = time.perf_counter()
    result = subprocess.run(
        argv, env={**os.environ, **stack.env()}, capture_output=True, text=True, timeout=120
    )
    elapsed = (time.perf_counter() - started) * 1000
    if result.returncode not in (0, 1):
        raise RuntimeError(f"salesbot ask failed: {result.stderr[-2000:]}")
    return elapsed


# ----------------------------------------------------------------------- reporting


def stats(samples: list[float]) -> tuple[float, float, float, float]:
    values = np.asarray(samples, dtype=float)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return float(p50), float(p95), float(p99), float(values.max())


def row(name: str, samples: list[float], first: list[float] | None = None) -> str:
    if not samples:
        return f"| {name} | 0 | | | | | |"
    p50, p95, p99, top = stats(samples)
    first_p50 = f"{np.median(first):.0f}" if first else ""
    return (
        f"| {name} | {len(samples)} | {p50:.0f} | {p95:.0f} | {p99:.0f} | {top:.0f} | {first_p50} |"
    )


def report(
    *,
    facts: dict[str, int],
    askers: list[Asker],
    timings: Timings,
    first_question: tuple[str, float],
    startup: dict[str, float],
    cli: dict[str, list[float]],
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
    questions: int,
    model: str,
    started_at: str,
) -> str:
    s = timings.samples
    overall = [v for k, values in s.items() if k.startswith("q:") for v in values]
    first_overall = [v for k, values in s.items() if k.startswith("first:") for v in values]
    p95 = stats(overall)[1]
    base = {name: stats(s[name]) for name in ("hi", "why", "parse")}
    lines = [
        "# Reply latency: `salesbot ask` on a warm stack, 100k accounts",
        "",
        "Produced by `python -m benchmarks.ask_latency` (see its docstring for what is timed); "
        f"run started {started_at}.",
        "",
        f"- store: {facts['account']:,} accounts, {facts['order_line']:,} order lines, "
        f"{facts['opportunity']:,} deals, {facts['lead']:,} leads, {facts['activity']:,} "
        f"activities; scored ({facts['scored']} score run(s)); SQLite",
        f"- Rasa model: {model}",
        "- askers: "
        + ", ".join(f"{a.label} ({a.email})" for a in askers)
        + "; every question in a new conversation",
        f"- machine: {os.cpu_count()} cores, shared; load average (1/5/15 min) "
        f"{'/'.join(f'{v:.1f}' for v in load_start)} at the start, "
        f"{'/'.join(f'{v:.1f}' for v in load_end)} at the end; "
        f"1-minute load during the measured run: mean {np.mean(timings.load):.1f}, "
        f"max {np.max(timings.load):.1f}",
        f"- start-up: stack healthy after {startup['healthy']:.0f} s; first question "
        f"({first_question[0]!r}) answered in {first_question[1] / 1000:.1f} s; background "
        f"preparation in the action server done {startup['idle']:.0f} s later",
        "",
        f"## Message in -> reply rendered, {questions} questions (ms)",
        "",
        "`first ask` is the p50 of the warm-up pass (each distinct question asked the first "
        "time, after the background preparation); the other columns are the measured run.",
        "",
        "| skill | n | p50 | p95 | p99 | max | first ask p50 |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row("**all questions**", overall, first_overall),
    ]
    for skill in SKILLS:
        lines.append(row(skill, s[f"q:{skill}"], s[f"first:{skill}"]))
    lines += [
        "",
        "Baselines, timed after every question of the measured run (same load):",
        "",
        "| baseline | n | p50 | p95 | p99 | max | |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row("`hi` via /api/ask (Rasa's turn, no custom action)", s["hi"]),
        row("`why?` via /api/ask (Rasa's turn + an action that only checks who asks)", s["why"]),
        row("Rasa `POST /model/parse` of the question (NLU only)", s["parse"]),
        "",
        "By asker (all skills):",
        "",
        "| asker | n | p50 | p95 | p99 | max | first ask p50 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for asker in askers:
        lines.append(row(asker.label, s[f"asker:{asker.label}"], s[f"firstasker:{asker.label}"]))
    verdict = "meets" if p95 <= TARGET_P95_MS else "misses"
    lines += [
        "",
        f"**Overall p95 {p95:.0f} ms: {verdict} the bar (p95 <= {TARGET_P95_MS:.0f} ms).** "
        f"Over the `hi` turn: p50 +{stats(overall)[0] - base['hi'][0]:.0f} ms, "
        f"p95 +{p95 - base['hi'][1]:.0f} ms; p95 / `hi` p95 = {p95 / base['hi'][1]:.1f}x, "
        f"p95 / `why?` p95 = {p95 / base['why'][1]:.1f}x.",
        "",
        "## Whole `salesbot ask` command (new interpreter each time), wall ms",
        "",
        "| question | runs | p50 | max |",
        "|---|---:|---:|---:|",
    ]
    for name, values in cli.items():
        lines.append(f"| {name} | {len(values)} | {np.median(values):.0f} | {max(values):.0f} |")
    if timings.unexpected:
        lines += ["", "## Replies of an unexpected kind", ""]
        for skill, text_, kinds in timings.unexpected:
            lines.append(f"- {skill}: {text_!r} -> {kinds}")
    else:
        lines += ["", "Every reply was of the kind its question asks for."]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------- main


def prepare(store_url: str, *, accounts: int, as_of: str) -> None:
    """Write the demo company into ``store_url`` and score it (the docstring's commands)."""
    env = {**os.environ, "DATABASE_URL": store_url}
    if store_url.startswith("sqlite:///"):
        home = Path(store_url.removeprefix("sqlite:///")).parent
        home.mkdir(parents=True, exist_ok=True)
        env["SALESBOT_HOME"] = str(home)
    cli = [sys.executable, "-m", "bot.cli"]
    for step in (
        ["migrate"],
        ["demo-data", "--accounts", str(accounts), "--end-date", as_of, "--replace"],
        ["score", "--as-of", as_of],
    ):
        print(f"preparing the store: salesbot {' '.join(step)}", flush=True)
        subprocess.run([*cli, *step], env=env, check=True)


def _facts_or_none(store_url: str) -> dict[str, int] | None:
    engine = make_engine(store_url)
    try:
        facts = store_facts(engine)
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return facts if facts["account"] and facts["scored"] else None


def run(args: argparse.Namespace) -> str:
    started_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    facts = _facts_or_none(args.store_url)
    if facts is None:
        prepare(args.store_url, accounts=args.accounts, as_of=args.as_of)
        facts = _facts_or_none(args.store_url)
        if facts is None:
            raise SystemExit(f"{args.store_url} still holds no scored company after preparing it")
    load_start = os.getloadavg()
    engine = make_engine(args.store_url)
    candidates = pick_askers(engine, accounts_each=ACCOUNT_CANDIDATES)
    engine.dispose()
    timings = Timings()
    with tempfile.TemporaryDirectory(prefix="ask-latency-") as tmp:
        t0 = time.perf_counter()
        stack = start_stack(
            Path(tmp), seed=lambda _engine: None, db_url=args.store_url, as_of=args.as_of
        )
        try:
            healthy = time.perf_counter() - t0
            model = next(a for a in stack.child("rasa").spec.argv if a.endswith(".tar.gz"))
            settings = Settings(**stack.env())  # type: ignore[arg-type]
            client = TerminalClient(settings, timeout=300.0)
            http = httpx.Client(timeout=60.0)
            first = question("leads", candidates[0], 0)
            elapsed, _ = timed_ask(client, first.asker.email, first.text)
            first_question = (first.text, elapsed)
            askers = [named_whole(http, stack.rasa_url, a, 3) for a in candidates]
            questions = plan(askers, args.questions)
            distinct = list({(q.asker.email, q.text): q for q in questions}.values())
            process = stack.child("actions").process
            assert process is not None
            idle = wait_idle(process.pid)
            for q in distinct:
                elapsed, replies = timed_ask(client, q.asker.email, q.text)
                timings.samples[f"first:{q.skill}"].append(elapsed)
                timings.samples[f"firstasker:{q.asker.label}"].append(elapsed)
                if not q.expected(replies):
                    timings.unexpected.append(
                        (q.skill, q.text, [str(r.get("kind")) for r in replies])
                    )
            for i, q in enumerate(questions):
                elapsed, replies = timed_ask(client, q.asker.email, q.text)
                timings.samples["q:" + q.skill].append(elapsed)
                timings.samples["asker:" + q.asker.label].append(elapsed)
                timings.load.append(os.getloadavg()[0])
                timings.samples["hi"].append(timed_ask(client, q.asker.email, "hi")[0])
                timings.samples["why"].append(timed_ask(client, q.asker.email, "why?")[0])
                timings.samples["parse"].append(timed_parse(http, stack.rasa_url, q.text))
                if (i + 1) % 25 == 0:
                    print(f"  {i + 1}/{len(questions)} questions", flush=True)
            cli: dict[str, list[float]] = defaultdict(list)
            demo = askers[0].email
            for _ in range(max(1, args.cli // 2)):
                cli["`hi`"].append(cli_wall(stack, demo, "hi"))
            for q in questions[: args.cli]:
                cli[f"{q.skill}: `{q.text}`"].append(cli_wall(stack, q.asker.email, q.text))
            client.close()
            http.close()
        finally:
            stack.stop()
            if args.logs is not None:
                args.logs.mkdir(parents=True, exist_ok=True)
                for log in (Path(tmp) / "logs").glob("*.log"):
                    shutil.copy(log, args.logs / log.name)
    return report(
        facts=facts,
        askers=askers,
        timings=timings,
        first_question=first_question,
        startup={"healthy": healthy, "idle": idle},
        cli=cli,
        load_start=load_start,
        load_end=os.getloadavg(),
        questions=len(questions),
        model=Path(model).name,
        started_at=started_at,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store-url", default=DEFAULT_STORE)
    parser.add_argument("--as-of", default="2026-06-30", help="SALESBOT_AS_OF for the stack")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument(
        "--accounts", type=int, default=100_000, help="company size when the store is prepared"
    )
    parser.add_argument("--cli", type=int, default=5, help="questions also timed as a command")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--logs", type=Path, help="copy the stack's process logs here")
    args = parser.parse_args(argv)
    text_ = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text_, encoding="utf-8")
    print(text_)
    return 0


if __name__ == "__main__":
    sys.exit(main())
