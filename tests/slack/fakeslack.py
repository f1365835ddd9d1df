"""A local fake of Slack's Web API (and Socket Mode server) for tests.

It runs an aiohttp server on 127.0.0.1:<free port> in its own thread, so sync tests,
async tests and bot subprocesses can all talk to it. Every call is recorded as a
:class:`SlackCall` (method, merged query/form/JSON arguments, token) and answered the
way Slack answers: ``auth.test``, ``users.info``, ``chat.postMessage`` (with a ``ts``),
``chat.postEphemeral``, ``chat.update``, ``chat.delete``, ``views.publish``,
``conversations.open``, ``files.getUploadURLExternal`` + the upload URL +
``files.completeUploadExternal`` (what ``files_upload_v2`` uses), ``files.info`` and the
``url_private`` download of files added with :meth:`FakeSlack.add_file` (bot token
required, like Slack), ``apps.connections.open``
(pointing at the fake Socket Mode WebSocket) and ``response_url`` posts. Messages are
checked like Slack checks them (channel, text or blocks, Block Kit limits), and a
method can be made to answer 429 with ``Retry-After`` or a given error.

Use::

    with FakeSlack(users={"U1": "maria@example.com"}) as slack:
        settings = ...(SLACK_API_URL=slack.api_url)
        ...
        [post] = slack.wait_for("chat.postMessage")
        assert post.args["channel"] == "D1"
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from render.blocks import MAX_HOME_BLOCKS, MAX_MESSAGE_BLOCKS, validate_blocks

JSON_ARGS = ("blocks", "view", "files", "attachments", "metadata")
BOT_TOKEN_PREFIX = "xoxb-"
APP_TOKEN_PREFIX = "xapp-"


@dataclass(frozen=True)
class SlackCall:
    method: str
    """Web API method (``chat.postMessage``), or ``response_url`` / ``upload``."""
    args: dict[str, Any]
    token: str | None = None
    path: str = ""
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Planned:
    times: int
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class FakeSlackTimeout(AssertionError):
    """The expected calls did not reach the fake in time."""


class FakeSlack:
    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        team_id: str = "T0SALES",
        bot_user_id: str = "UBOTSALES",
        bot_id: str = "BSALES",
    ) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        for user_id, email in (users or {}).items():
            self.add_user(user_id, email)
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.uploads: dict[str, bytes] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self._file_content: dict[str, bytes] = {}
        self.socket_messages: list[dict[str, Any]] = []
        self._calls: list[SlackCall] = []
        self._planned: dict[str, list[_Planned]] = {}
        self._cond = threading.Condition()
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self.port = 0

    # ------------------------------------------------------------------ set-up
    def add_user(self, user_id: str, email: str | None, *, name: str | None = None) -> None:
        """A workspace member ``users.info`` knows (``email`` None: a profile without one)."""
        profile: dict[str, Any] = {"real_name": name or user_id}
        if email:
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id,
            "name": (name or user_id).lower(),
            "deleted": False,
            "is_bot": False,
            "profile": profile,
        }

    def add_file(
        self,
        name: str,
        content: bytes,
        *,
        mimetype: str = "text/plain",
        filetype: str = "text",
        user: str = "UMARIA",
    ) -> dict[str, Any]:
        """A file someone shared: ``files.info`` describes it and its ``url_private``
        serves ``content`` to the bot token. Returns the file object (as in a
        ``message`` event's ``files``)."""
        file_id = f"F{next(self._files):06d}"
        url = f"{self.base_url}/files-pri/{self.team_id}-{file_id}/{name}"
        info = {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "size": len(content),
            "user": user,
            "url_private": url,
            "url_private_download": url + "?download=1",
            "mode": "hosted",
            "is_external": False,
        }
        with self._cond:
            self.files[file_id] = info
            self._file_content[file_id] = content
        return dict(info)

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 0) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with ``Retry-After``."""
        self._plan(
            method,
            _Planned(
                times, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
            ),
        )

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``."""
        self._plan(method, _Planned(times, 200, {"ok": False, "error": error}, {}))

    def _plan(self, method: str, planned: _Planned) -> None:
        with self._cond:
            self._planned.setdefault(method, []).append(planned)

    # ------------------------------------------------------------- addresses
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """Value for ``SLACK_API_URL``."""
        return f"{self.base_url}/api/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=fake"

    def response_url(self, name: str | None = None) -> str:
        """A ``response_url`` for a slash command or interaction payload."""
        return f"{self.base_url}/response/{name or uuid.uuid4().hex[:8]}"

    # ------------------------------------------------------------- recorded
    @property
    def calls(self) -> list[SlackCall]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[SlackCall]:
        """Block until ``count`` calls of ``method`` arrived; returns them (all of them)."""
        with self._cond:
            arrived = self._cond.wait_for(
                lambda: sum(c.method == method for c in self._calls) >= count, timeout=timeout
            )
            found = [c for c in self._calls if c.method == method]
        if not arrived:
            raise FakeSlackTimeout(
                f"expected {count} {method} call(s), got {len(found)}; calls: {self.methods()}"
            )
        return found

    async def wait_for_async(
        self, method: str, count: int = 1, timeout: float = 30.0
    ) -> list[SlackCall]:
        """:meth:`wait_for` for tests whose event loop must keep running meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls_to(method)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise FakeSlackTimeout(
                    f"expected {count} {method} call(s), got {len(found)}; calls: {self.methods()}"
                )
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> FakeSlack:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-slack", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Slack server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=50_000_000)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files-pri/{team}-{file_id}/{name}", self._download)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -------------------------------------------------------------- handlers
    def _record(self, call: SlackCall) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _take_planned(self, method: str) -> _Planned | None:
        with self._cond:
            plans = self._planned.get(method) or []
            if not plans:
                return None
            plan = plans[0]
            plan.times -= 1
            if plan.times <= 0:
                plans.pop(0)
            return plan

    @staticmethod
    async def _arguments(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    args.update(body)
            else:
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in JSON_ARGS:
            if isinstance(args.get(key), str):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._arguments(request)
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else args.get("token")
        self._record(SlackCall(method, args, token, request.path))
        plan = self._take_planned(method)
        if plan is not None:
            return web.json_response(plan.body, status=plan.status, headers=plan.headers)
        wanted = APP_TOKEN_PREFIX if method == "apps.connections.open" else BOT_TOKEN_PREFIX
        if not token or not str(token).startswith(wanted):
            return web.json_response({"ok": False, "error": "not_authed"})
        handler: Callable[[dict[str, Any]], dict[str, Any]] | None = getattr(
            self, "_m_" + method.replace(".", "_"), None
        )
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(args))

    async def _response_url(self, request: web.Request) -> web.Response:
        args = await self._arguments(request)
        self._record(SlackCall("response_url", args, None, request.path))
        problem = self._message_problem(args)
        if problem:
            return web.Response(status=400, text=problem)
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await request.read()
        self.uploads[file_id] = data
        self._record(
            SlackCall("upload", {"file_id": file_id, "bytes": len(data)}, None, request.path)
        )
        return web.Response(text=f"OK - {len(data)}")

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        self._record(SlackCall("file.download", {"file_id": file_id}, token, request.path))
        if not token or not token.startswith(BOT_TOKEN_PREFIX):
            # Slack answers an unauthenticated download with its sign-in page
            return web.Response(text="<html>sign in to Slack</html>", content_type="text/html")
        content = self._file_content.get(file_id)
        if content is None:
            return web.Response(status=404, text="file not found")
        mimetype = str(self.files[file_id].get("mimetype") or "application/octet-stream")
        return web.Response(body=content, content_type=mimetype.split(";")[0])

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self._record(SlackCall("socket.connect", dict(request.query), None, request.path))
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A0SALES"},
            }
        )
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                data = json.loads(message.data)
                with self._cond:
                    self.socket_messages.append(data)
                self._record(SlackCall("socket.message", data, None, request.path))
        self._sockets.remove(ws)
        return ws

    # --------------------------------------------------------- socket mode
    def send_envelope(
        self,
        payload: dict[str, Any],
        *,
        envelope_type: str = "events_api",
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Send a Socket Mode envelope to every connected client; returns its id."""
        assert self._loop is not None
        envelope_id = envelope_id or uuid.uuid4().hex
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": envelope_type != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }

        async def send() -> None:
            for ws in list(self._sockets):
                await ws.send_json(envelope)

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(10)
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The client's acknowledgement of ``envelope_id``."""
        with self._cond:
            self._cond.wait_for(
                lambda: any(m.get("envelope_id") == envelope_id for m in self.socket_messages),
                timeout=timeout,
            )
            for message in self.socket_messages:
                if message.get("envelope_id") == envelope_id:
                    return message
        raise FakeSlackTimeout(f"no ack for envelope {envelope_id}; calls: {self.methods()}")

    async def wait_for_ack_async(self, envelope_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """:meth:`wait_for_ack` for tests whose event loop runs the Socket Mode client."""
        deadline = time.monotonic() + timeout
        while time.monotonic() <= deadline:
            with self._cond:
                for message in self.socket_messages:
                    if message.get("envelope_id") == envelope_id:
                        return message
            await asyncio.sleep(0.02)
        raise FakeSlackTimeout(f"no ack for envelope {envelope_id}; calls: {self.methods()}")

    # ------------------------------------------------------------ methods
    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    @staticmethod
    def _message_problem(args: dict[str, Any], *, limit: int = MAX_MESSAGE_BLOCKS) -> str | None:
        blocks = args.get("blocks")
        if not args.get("text") and not blocks:
            return "no_text"
        if blocks is not None and (
            not isinstance(blocks, list) or validate_blocks(blocks, limit=limit)
        ):
            return "invalid_blocks"
        return None

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-salesbot.slack.com/",
            "team": "Fake Sales",
            "user": "salesbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        problem = self._message_problem(args)
        if problem:
            return {"ok": False, "error": problem}
        ts = self._next_ts()
        message = {"type": "message", "text": args.get("text"), "ts": ts, "bot_id": self.bot_id}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        return {"ok": True, "channel": args["channel"], "ts": ts, "message": message}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        problem = self._message_problem(args)
        if problem:
            return {"ok": False, "error": problem}
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("ts"):
            return {"ok": False, "error": "message_not_found"}
        problem = self._message_problem(args)
        if problem:
            return {"ok": False, "error": problem}
        return {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": args.get("text")}

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("ts"):
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": args["channel"], "ts": args["ts"]}

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not args.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        if validate_blocks(view.get("blocks") or [], limit=MAX_HOME_BLOCKS):
            return {"ok": False, "error": "invalid_blocks"}
        return {"ok": True, "view": {"id": "V0HOME", "type": "home", "blocks": view.get("blocks")}}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users") or "")
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        first = users.split(",")[0]
        return {"ok": True, "channel": {"id": "D" + first[1:]}}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not args.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._files):06d}"
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        missing = [f.get("id") for f in files if f.get("id") not in self.uploads]
        if missing:
            return {"ok": False, "error": "file_not_found"}
        return {
            "ok": True,
            "files": [
                {"id": f["id"], "title": f.get("title"), "size": len(self.uploads[f["id"]])}
                for f in files
            ],
        }

    def _m_files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        info = self.files.get(str(args.get("file")))
        if info is None:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": info}

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.ws_url}
