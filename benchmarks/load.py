"""Load: simulated reps asking the bot through Slack's HTTP endpoint, real Rasa and actions.

    .venv/bin/python -m benchmarks.load [--users 50] [--seconds 180] [--think 3 9]

Setup (all on loopback): a demo company on SQLite (``--accounts``, scored) whose accounts,
deals and leads are dealt out to ``--users`` minus three load reps, each linked to a Slack
user, plus the three managers; the action server, Rasa (the trained model) and the bot in
Slack HTTP mode pointed at a local fake of Slack's Web API (``tests/reliability/cluster.py``),
started as ``salesbot serve`` starts them.

Each simulated user holds one conversation for the whole run: it sends a signed
``event_callback`` (a DM, asked in a thread so every reply is tied to its event), waits
for the answer, thinks for a random ``--think`` seconds and asks the next question of a
script that covers every skill and the follow-ups ("show more", "why?"). A share of the
events (``--retries``) is delivered a second time with Slack's retry headers.

Reported (``benchmarks/results/load.md``):
- event -> reply: from the event POST to the first message of the answer at the fake
  Slack ("Working on it…" placeholders do not count), p50/p95/p99/max, and per skill;
  the HTTP ack time;
- errors: a non-200 ack, no answer within ``--reply-timeout``, or an answer that is one of
  the bot's own failure sentences (target 0);
- duplicate replies: the same message posted twice for one event (target 0);
- memory: RSS of each process (with its worker processes) after warm-up, at peak, at end;
- baselines measured in the same run at the same concurrency and think time: Rasa's
  ``/model/parse`` (NLU alone), Rasa's REST channel with a signed identity (Rasa + the
  action server, without the bot and Slack), and the bot's ``/healthz`` (the aiohttp
  round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlmodel import Session, col, select

from bot import messages
from bot.cli.serve import current_model
from bot.rasa_endpoints import write_endpoints
from bot.settings import Settings
from bot.supervisor import Child, ChildSpec
from store.db import make_engine
from store.identity import METADATA_KEY, Identity, sign_identity
from store.migrate import upgrade
from store.models import Account, Lead, Opportunity, Rep, RepRole
from tests.reliability.cluster import (
    BOT_TOKEN,
    ERROR_TEXTS,
    IDENTITY_SECRET,
    SIGNING_SECRET,
    SlackDriver,
    ThreadedSlack,
)
from tests.stack import free_port, wait_healthy

RESULTS = Path(__file__).resolve().parent / "results" / "load.md"
AS_OF = dt.date(2026, 6, 30)
MANAGERS = ("priya", "marcus", "elena")
SCRIPT = [
    ("slipping", "which of my accounts are slipping?"),
    ("show_more", "show more"),
    ("pitch", "what should I pitch to {account}?"),
    ("why", "why?"),
    ("overview", "how is {account} doing?"),
    ("pipeline", "how does my pipeline look this quarter?"),
    ("stalled", "which of my deals are stuck?"),
    ("forecast", "what's my forecast for this quarter?"),
    ("metric", "what's my win rate?"),
    ("leads", "which leads should I call first?"),
    ("reorders", "who's due to reorder this week?"),
    ("chitchat", "thanks!"),
]


# ------------------------------------------------------------------------ the store


@dataclass(frozen=True)
class User:
    slack_id: str
    email: str
    accounts: tuple[str, ...]


def build_store(url: str, *, accounts: int, users: int) -> list[User]:
    """The demo company with its book dealt out to ``users - 3`` load reps (each linked
    to a Slack user), scored; the three managers are users too."""
    from bot.cli.score import score_book
    from store.demo import DemoParams, generate_demo, write_demo

    engine = make_engine(url)
    upgrade(engine)
    write_demo(engine, generate_demo(DemoParams(end_date=AS_OF, accounts=accounts, seed=11)))
    with Session(engine) as s:
        managers = [
            s.exec(select(Rep).where(col(Rep.email).startswith(f"{m}."))).one() for m in MANAGERS
        ]
        reps = []
        for i in range(users - len(managers)):
            rep = Rep(
                external_id=f"LOAD-{i:03d}",
                name=f"Load Rep {i:03d}",
                email=f"load{i:03d}@demo-distributor.example",
                role=RepRole.rep,
                manager_id=managers[i % len(managers)].id,
                slack_user_id=f"ULOAD{i:03d}",
                timezone="America/New_York",
            )
            s.add(rep)
            reps.append(rep)
        s.flush()
        for manager in managers:
            manager.slack_user_id = f"UM{manager.name.split()[0].upper()}"
            s.add(manager)
        owner_of: dict[int, int] = {}
        for n, account in enumerate(s.exec(select(Account).order_by(col(Account.id)))):
            account.owner_id = reps[n % len(reps)].id
            owner_of[int(account.id or 0)] = int(account.owner_id or 0)
            s.add(account)
        for deal in s.exec(select(Opportunity)):
            deal.owner_id = owner_of.get(int(deal.account_id or 0), deal.owner_id)
            s.add(deal)
        for n, lead in enumerate(s.exec(select(Lead).order_by(col(Lead.id)))):
            lead.owner_id = reps[n % len(reps)].id
            s.add(lead)
        s.commit()
        out = []
        for rep in [*reps, *managers]:
            names = s.exec(select(Account.name).where(Account.owner_id == rep.id).limit(20)).all()
            out.append(User(str(rep.slack_user_id), rep.email, tuple(names) or ("Acme Foods",)))
    score_book(engine, AS_OF)
    engine.dispose()
    return out


# -------------------------------------------------------------------- processes


@dataclass
class Stack:
    children: list[Child]
    rasa_url: str
    bot_url: str

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


def start_stack(home: Path, db_url: str, slack: ThreadedSlack) -> Stack:
    model = current_model(Settings(SALESBOT_HOME=str(Path("var").resolve())))  # type: ignore[call-arg]
    if model is None:
        raise SystemExit("no trained Rasa model: run `salesbot train` (or `make setup`) first")
    ports = {name: free_port() for name in ("actions", "rasa", "bot")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    endpoints = write_endpoints(home / "rasa" / "endpoints.yml", action_server_url=url["actions"])
    credentials = home / "rasa" / "credentials.yml"
    credentials.write_text("rest:\n", encoding="utf-8")
    keep = ("SLACK_", "SALESBOT_", "RASA_", "DATABASE_URL", "ACTION_SERVER_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
    env.update(
        {
            "SALESBOT_HOME": str(home),
            "DATABASE_URL": db_url,
            "SALESBOT_IDENTITY_SECRET": IDENTITY_SECRET,
            "SALESBOT_AS_OF": AS_OF.isoformat(),
            "SALESBOT_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        }
    )
    rasa_bin = Settings().rasa_executable  # type: ignore[call-arg]
    specs = [
        ChildSpec(
            name="actions",
            argv=[sys.executable, "-m", "actions.server", "--actions", "actions", "-p", str(ports["actions"])],
            health_url=url["actions"] + "/health",
            env={**env, "SANIC_HOST": "127.0.0.1"},
        ),
        ChildSpec(
            name="rasa",
            argv=[
                str(rasa_bin), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(ports["rasa"]),
                "-m", str(model), "--endpoints", str(endpoints), "--credentials", str(credentials),
            ],
            health_url=url["rasa"] + "/status",
            env=env,
        ),
        ChildSpec(
            name="bot",
            argv=[sys.executable, "-m", "bot"],
            health_url=url["bot"] + "/healthz",
            env={
                **env,
                "RASA_URL": url["rasa"],
                "ACTION_SERVER_URL": url["actions"],
                "SALESBOT_BOT_PORT": str(ports["bot"]),
                "SALESBOT_HOST": "127.0.0.1",
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.api_url,
            },
        ),
    ]  # fmt: skip
    children = [Child(spec=s, log_path=home / "logs" / f"{s.name}.log") for s in specs]
    for child in children:
        child.start()
    try:
        wait_healthy(children, timeout=400)
    except BaseException:
        for child in children:
            child.stop()
        raise
    return Stack(children, url["rasa"], url["bot"])


def rss_mb(pgid: int) -> float:
    """Resident memory of every process in the process group ``pgid`` (a child and the
    worker processes it started), in MB."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


@dataclass
class Memory:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def sample(self, stack: Stack) -> None:
        for child in stack.children:
            if child.process is not None:
                self.samples[child.spec.name].append(rss_mb(child.process.pid))
        self.samples["load driver + fake Slack"].append(rss_mb(os.getpgid(0)))


# ------------------------------------------------------------------------ the load


@dataclass
class Sample:
    kind: str
    latency: float | None
    ack: float
    status: int
    error: str | None = None


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)
    retried: int = 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def converse(
    user: User,
    *,
    driver: SlackDriver,
    http: httpx.AsyncClient,
    bot_url: str,
    until: float,
    think: tuple[float, float],
    retries: float,
    reply_timeout: float,
    rng: random.Random,
    run: Run,
    pending: set[asyncio.Task[int]],
) -> None:
    step = rng.randrange(len(SCRIPT))
    while time.monotonic() < until:
        kind, template = SCRIPT[step % len(SCRIPT)]
        step += 1
        text = template.format(account=rng.choice(user.accounts))
        thread_ts = driver.next_ts()
        body = driver.event_body(user.slack_id, text, thread_ts=thread_ts)
        started = time.monotonic()
        status = await driver.post(http, bot_url, body)
        ack = time.monotonic() - started
        run.threads.append(thread_ts)
        if status == 200 and rng.random() < retries:
            run.retried += 1

            async def again(body: str = body, delay: float = rng.uniform(0.2, 2.0)) -> int:
                await asyncio.sleep(delay)
                return await driver.post(http, bot_url, body, retry=1)

            task = asyncio.create_task(again())
            pending.add(task)
            task.add_done_callback(pending.discard)
        if status != 200:
            run.samples.append(Sample(kind, None, ack, status, f"HTTP {status}"))
        else:
            reply = await driver.reply_to(thread_ts, timeout=reply_timeout, settle=0.0)
            final = [c for c in reply.calls if c.args.get("text") != messages.WORKING]
            if not final:
                run.samples.append(Sample(kind, None, ack, status, "no answer in time"))
            else:
                text0 = str(final[0].args.get("text") or "")
                error = "failure sentence: " + text0[:40] if text0 in ERROR_TEXTS else None
                run.samples.append(Sample(kind, final[0].at - started, ack, status, error))
        await asyncio.sleep(rng.uniform(*think))


async def closed_loop(
    users: int,
    seconds: float,
    think: tuple[float, float],
    rng: random.Random,
    request: Callable[[int, int], Awaitable[None]],
) -> list[float]:
    """``users`` loops calling ``request(user, n)`` with think time; latencies in s."""
    until = time.monotonic() + seconds
    latencies: list[float] = []

    async def one(user: int) -> None:
        n = rng.randrange(len(SCRIPT))
        await asyncio.sleep(rng.uniform(0, think[1]))
        while time.monotonic() < until:
            started = time.monotonic()
            await request(user, n)
            latencies.append(time.monotonic() - started)
            n += 1
            await asyncio.sleep(rng.uniform(*think))

    await asyncio.gather(*(one(u) for u in range(users)))
    return latencies


def duplicates(slack: ThreadedSlack, threads: list[str]) -> int:
    """Messages posted a second time for the same event (same text in one thread)."""
    found = 0
    for thread in threads:
        texts = [
            str(c.args.get("text"))
            for c in slack.in_thread(thread)
            if c.args.get("text") != messages.WORKING
        ]
        found += len(texts) - len(set(texts))
    return found


async def measure(
    args: argparse.Namespace, stack: Stack, slack: ThreadedSlack, users: list[User]
) -> dict:
    rng = random.Random(args.seed)
    driver = SlackDriver(slack)
    memory = Memory()
    think = (args.think[0], args.think[1])
    limits = httpx.Limits(max_connections=args.users * 3, max_keepalive_connections=args.users * 2)
    async with httpx.AsyncClient(timeout=args.reply_timeout, limits=limits) as http:
        print("warm-up: every skill once per manager and a few reps", flush=True)
        for user in users[-len(MANAGERS) :] + users[:3]:
            for _, template in SCRIPT:
                await driver.ask_async(
                    http,
                    stack.bot_url,
                    user.slack_id,
                    template.format(account=user.accounts[0]),
                    timeout=120,
                )
        memory.sample(stack)

        async def sampler(stop: asyncio.Event) -> None:
            while not stop.is_set():
                memory.sample(stack)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=2.0)

        print(f"baselines: {args.users} loops for {args.baseline_seconds:.0f} s each", flush=True)

        async def parse(user: int, n: int) -> None:
            text = SCRIPT[n % len(SCRIPT)][1].format(account=users[user % len(users)].accounts[0])
            response = await http.post(stack.rasa_url + "/model/parse", json={"text": text})
            response.raise_for_status()

        async def rest_turn(user: int, n: int) -> None:
            who = users[user % len(users)]
            sender = f"baseline:{who.slack_id}"
            with Session(engine) as s:
                rep_id = s.exec(select(Rep.id).where(Rep.email == who.email)).one()
            identity = Identity(rep_id=int(rep_id or 0), sender=sender, issued_at=time.time())
            body = {
                "sender": sender,
                "message": SCRIPT[n % len(SCRIPT)][1].format(account=who.accounts[0]),
                "metadata": {METADATA_KEY: sign_identity(identity, secret=IDENTITY_SECRET)},
            }
            response = await http.post(stack.rasa_url + "/webhooks/rest/webhook", json=body)
            response.raise_for_status()

        async def healthz(user: int, n: int) -> None:
            (await http.get(stack.bot_url + "/healthz")).raise_for_status()

        engine = make_engine(args.db_url)
        baselines = {
            "Rasa /model/parse (NLU alone)": await closed_loop(
                args.users, args.baseline_seconds, think, rng, parse
            ),
            "Rasa REST turn, signed (Rasa + actions, no bot)": await closed_loop(
                args.users, args.baseline_seconds, think, rng, rest_turn
            ),
            "bot /healthz (aiohttp round trip)": await closed_loop(
                args.users, args.baseline_seconds / 2, think, rng, healthz
            ),
        }
        engine.dispose()

        print(f"load: {args.users} conversations for {args.seconds:.0f} s", flush=True)
        run = Run()
        pending: set[asyncio.Task[int]] = set()
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler(stop))
        started = time.monotonic()
        until = started + args.seconds
        await asyncio.gather(
            *(
                converse(
                    users[i % len(users)],
                    driver=driver,
                    http=http,
                    bot_url=stack.bot_url,
                    until=until,
                    think=think,
                    retries=args.retries,
                    reply_timeout=args.reply_timeout,
                    rng=random.Random(args.seed * 1000 + i),
                    run=run,
                    pending=pending,
                )
                for i in range(args.users)
            )
        )
        elapsed = time.monotonic() - started
        if pending:
            await asyncio.gather(*pending)
        await asyncio.sleep(5.0)  # late duplicates would arrive now
        stop.set()
        await sampling
        memory.sample(stack)
    return {
        "run": run,
        "elapsed": elapsed,
        "baselines": baselines,
        "memory": memory,
        "duplicates": duplicates(slack, run.threads),
    }


# ------------------------------------------------------------------------- report


def row(name: str, values_s: list[float]) -> str:
    ms = [v * 1000 for v in values_s]
    if not ms:
        return f"| {name} | 0 | | | | |"
    return (
        f"| {name} | {len(ms)} | {percentile(ms, 0.5):.0f} | {percentile(ms, 0.95):.0f} | "
        f"{percentile(ms, 0.99):.0f} | {max(ms):.0f} |"
    )


def report(args: argparse.Namespace, result: dict, setup: dict) -> str:
    run: Run = result["run"]
    answered = [s for s in run.samples if s.latency is not None]
    latencies = [s.latency for s in answered if s.latency is not None]
    errors = Counter(s.error for s in run.samples if s.error)
    baselines: dict[str, list[float]] = result["baselines"]
    memory: Memory = result["memory"]
    parse_p50 = percentile(baselines["Rasa /model/parse (NLU alone)"], 0.5)
    rest_p50 = percentile(baselines["Rasa REST turn, signed (Rasa + actions, no bot)"], 0.5)
    p50 = percentile(latencies, 0.5)
    lines = [
        "# Load: simulated reps over Slack's HTTP endpoint, real Rasa and action server",
        "",
        f"Written by `{' '.join(['python -m benchmarks.load', *sys.argv[1:]])}` on {setup['when']} "
        f"({os.cpu_count()} cores shared with other work; load average at start {setup['load']}).",
        "",
        f"Setup: demo company of {args.accounts:,} accounts (3 years, scored) on SQLite, dealt to "
        f"{args.users - len(MANAGERS)} load reps + {len(MANAGERS)} managers; action server, Rasa 3.6 "
        "and the bot (Slack HTTP mode) as `salesbot serve` starts them; the Slack Web API is a "
        "local fake in the load process. "
        f"{args.users} conversations for {result['elapsed']:.0f} s, think time "
        f"{args.think[0]:g}–{args.think[1]:g} s between a reply and the next question; "
        f"{args.retries:.0%} of events delivered twice (Slack retry headers).",
        "",
        "## Event -> reply",
        "",
        "| measure | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
        row("event -> first message of the answer", latencies),
        row("event -> HTTP ack", [s.ack for s in run.samples]),
        *[row(f"baseline: {name}", values) for name, values in baselines.items()],
        "",
        f"- events sent: {len(run.samples)} ({len(run.samples) / result['elapsed']:.1f}/s), "
        f"answered: {len(answered)}, redelivered as retries: {run.retried}",
        f"- errors: {sum(errors.values())}"
        + (" (" + ", ".join(f"{k}: {v}" for k, v in errors.most_common()) + ")" if errors else "")
        + " (target 0)",
        f"- duplicate replies: {result['duplicates']} (target 0)",
        f"- reply p50 / Rasa REST turn p50 = {p50 / rest_p50:.2f}x; "
        f"reply p50 / Rasa parse p50 = {p50 / parse_p50:.1f}x",
        "",
        "## Per question (event -> reply, ms)",
        "",
        "| question | n | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for s in answered:
        if s.latency is not None:
            by_kind[s.kind].append(s.latency)
    lines += [row(kind, by_kind[kind]) for kind, _ in SCRIPT if by_kind[kind]]
    lines += [
        "",
        "## Memory (RSS, MB; a process with its worker processes)",
        "",
        "| process | after warm-up | peak | end |",
        "|---|---|---|---|",
    ]
    for name, values in memory.samples.items():
        lines.append(f"| {name} | {values[0]:.0f} | {max(values):.0f} | {values[-1]:.0f} |")
    lines += [
        "",
        "How to read it: the baselines run the same number of loops with the same think time "
        "against the same processes just before the load, so they carry the same machine "
        "load. The REST turn is what Rasa and the action server take for the same questions; "
        "the difference to the reply time is the Slack edge (signature, event claim, rep "
        "lookup, rendering, the Web API call) plus waiting behind other users' turns.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--think", type=float, nargs=2, default=(3.0, 9.0), metavar=("MIN", "MAX"))
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--retries", type=float, default=0.1)
    parser.add_argument("--reply-timeout", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not 1 <= args.users <= 500 or not 10 <= args.seconds <= 1800:
        parser.error("--users must be 1..500 and --seconds 10..1800")
    setup = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": " ".join(f"{v:.1f}" for v in os.getloadavg()),
    }
    with tempfile.TemporaryDirectory(prefix="salesbot-load-") as tmp:
        home = Path(tmp)
        args.db_url = f"sqlite:///{home / 'salesbot.db'}"
        print(f"store: {args.accounts} accounts, {args.users} users", flush=True)
        users = build_store(args.db_url, accounts=args.accounts, users=args.users)
        slack = ThreadedSlack(users={u.slack_id: u.email for u in users}).start()
        try:
            print("starting the action server, Rasa and the bot", flush=True)
            stack = start_stack(home, args.db_url, slack)
            try:
                result = asyncio.run(measure(args, stack, slack, users))
            finally:
                stack.stop()
        finally:
            slack.stop()
    text = report(args, result, setup)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
