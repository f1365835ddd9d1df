"""``salesbot serve``: start, watch and stop the action server, Rasa and the bot.

Each child runs with its output in ``<home>/logs/<name>.log``. The supervisor polls
every child's health URL; a child that exits, or stays unhealthy for too long after it
was healthy, is restarted with exponential backoff. Ctrl-C (SIGINT) or SIGTERM stops
all children: SIGTERM first, SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

log = logging.getLogger(__name__)


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    health_url: str
    env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 120.0
    """Seconds a fresh child may take before its health URL must answer."""
    unhealthy_after: float = 30.0
    """Seconds of failed health checks (once healthy) before a restart."""


@dataclass
class Child:
    spec: ChildSpec
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    healthy_since: float | None = None
    last_healthy: float = 0.0
    restarts: int = 0
    backoff: float = 1.0
    next_start: float = 0.0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logfile = self.log_path.open("ab")
        env = {**os.environ, **self.spec.env}
        self.process = subprocess.Popen(
            self.spec.argv,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        logfile.close()
        self.started_at = time.monotonic()
        self.healthy_since = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.kill_leftovers()
        self.process = None

    def kill_leftovers(self) -> None:
        """Kill what is left of the child's process group once the child has exited. The
        action server's worker process outlives a crashed main process (SIGKILL) and keeps
        serving its port, so the restarted server could not take it over."""
        if self.process is not None and self.process.poll() is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class Supervisor:
    def __init__(
        self,
        specs: list[ChildSpec],
        *,
        log_dir: Path,
        poll_seconds: float = 1.0,
        max_backoff: float = 30.0,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.children = [Child(spec=s, log_path=log_dir / f"{s.name}.log") for s in specs]
        self.poll_seconds = poll_seconds
        self.max_backoff = max_backoff
        self.report = report or (lambda message: print(message, file=sys.stderr, flush=True))
        self._stopping = False

    def request_stop(self, *_: object) -> None:
        self._stopping = True

    def all_healthy(self) -> bool:
        return all(c.healthy_since is not None for c in self.children)

    def _check(self, child: Child, now: float) -> None:
        name = child.spec.name
        if child.process is None:
            if now >= child.next_start:
                self.report(f"starting {name} (log: {child.log_path})")
                child.start()
            return
        code = child.process.poll()
        if code is not None:
            self.report(f"{name} exited with code {code}; restarting in {child.backoff:.0f}s")
            child.kill_leftovers()
            self._schedule_restart(child, now)
            return
        if is_healthy(child.spec.health_url):
            child.last_healthy = now
            if child.healthy_since is None:
                child.healthy_since = now
                child.backoff = 1.0
                self.report(
                    f"{name} is up ({child.spec.health_url}) after {now - child.started_at:.0f}s"
                )
            return
        if child.healthy_since is None:
            if now - child.started_at > child.spec.start_timeout:
                self.report(
                    f"{name} did not become healthy within {child.spec.start_timeout:.0f}s; restarting"
                )
                child.stop()
                self._schedule_restart(child, now)
        elif now - child.last_healthy > child.spec.unhealthy_after:
            self.report(f"{name} stopped answering its health check; restarting")
            child.stop()
            self._schedule_restart(child, now)

    def _schedule_restart(self, child: Child, now: float) -> None:
        child.process = None
        child.healthy_since = None
        child.restarts += 1
        child.next_start = now + child.backoff
        child.backoff = min(child.backoff * 2, self.max_backoff)

    def run(
        self, *, on_ready: Callable[[], None] | None = None, until: Callable[[], bool] | None = None
    ) -> int:
        """Supervise until SIGINT/SIGTERM (or ``until()`` is true); returns an exit code."""
        previous = {
            sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        ready_reported = False
        try:
            while not self._stopping and not (until and until()):
                now = time.monotonic()
                for child in self.children:
                    self._check(child, now)
                if not ready_reported and self.all_healthy():
                    ready_reported = True
                    if on_ready:
                        on_ready()
                time.sleep(self.poll_seconds)
        finally:
            self.report("stopping…")
            for child in reversed(self.children):
                child.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.report("stopped")
        return 0
