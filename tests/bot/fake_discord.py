"""A small fake Discord (REST + gateway) on 127.0.0.1 for running the real
discord.py client offline.

It only does what Discord does with what it is sent: it records every request
and gateway frame, stores the command schema it is given, creates and edits the
messages interaction replies ask for, and pushes the gateway events a test asks
it to push. It never produces an answer: the answers come from the bot.

It runs its own event loop in a background thread, so the bot can run under
`asyncio.run` in the test's thread and the CLI (which calls `asyncio.run`
itself) can talk to it too.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = 1100000000000000001
BOT_ID = 1100000000000000002
GUILD_ID = 1100000000000000003
CHANNEL_ID = 1100000000000000004
OWNER_ID = 1100000000000000005
ASKER_ID = 1100000000000000006
OTHER_ID = 1100000000000000007
EPHEMERAL = 1 << 6
LOADING = 1 << 7
# Interaction callback types (https://discord.com/developers/docs/interactions/receiving-and-responding)
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, AUTOCOMPLETE = 4, 5, 6, 7, 8


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py only decodes a body whose Content-Type is exactly application/json;
    # aiohttp's json_response would add "; charset=utf-8" and the client would get a str.
    return web.Response(status=status, body=json.dumps(data).encode(),
                        headers={"Content-Type": "application/json"})


def _user(uid: int, name: str, *, bot: bool = False) -> dict:
    return {"id": str(uid), "username": name, "discriminator": "0", "global_name": name,
            "avatar": None, "bot": bot, "public_flags": 0, "flags": 0}


@dataclass
class Request:
    """One HTTP request as the fake received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        """Return the body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class FakeDiscord:
    """Records what discord.py sends; see the module docstring."""

    token: str
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    sent_frames: list[dict] = field(default_factory=list)  # gateway frames from the client
    commands: dict[int | None, list[dict]] = field(default_factory=dict)  # guild (None: global)
    callbacks: list[dict] = field(default_factory=list)  # {"interaction_id", "token", "body"}
    messages: dict[int, dict] = field(default_factory=dict)
    identified: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1200000000000000000)
        self._seq = itertools.count(1)
        self._by_token: dict[str, int] = {}  # interaction token -> its reply message id
        self._interactions: dict[int, dict] = {}
        self._ws: web.WebSocketResponse | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- URLs for discord.py --------------------------------------------------

    @property
    def api_base(self) -> str:
        """Return the value for discord.http.Route.BASE."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Return the gateway websocket URL."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    # --- lifecycle ------------------------------------------------------------

    def start(self) -> FakeDiscord:
        """Start serving in a background thread; return self once the port accepts."""
        self.port = self.port or free_port()
        started = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start_app())
            started.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="fake-discord", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the fake Discord did not start")
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _start_app(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    # --- REST -------------------------------------------------------------------

    def _bot_user(self) -> dict:
        return _user(BOT_ID, "abiwatch-test", bot=True)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _api(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.requests.append(Request(request.method, request.path, request.query_string,
                                     dict(request.headers), body))
        parts = request.match_info["tail"].split("/")
        method = request.method
        # Interaction callbacks and webhook edits are authorised by the token in the URL.
        if parts[0] == "interactions" and len(parts) == 4 and parts[3] == "callback":
            return self._callback(int(parts[1]), parts[2], json.loads(body or "{}"))
        if parts[0] == "webhooks" and len(parts) >= 3:
            return self._webhook(method, parts[2], parts[3:], json.loads(body or "{}"))
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        if method == "GET" and parts == ["users", "@me"]:
            return _json(self._bot_user())
        if method == "GET" and parts == ["oauth2", "applications", "@me"]:
            return _json({"id": str(APP_ID), "name": "abiwatch-test", "description": "",
                          "icon": None, "bot_public": False, "bot_require_code_grant": False,
                          "owner": _user(OWNER_ID, "owner"), "verify_key": "00" * 32,
                          "flags": 0, "team": None, "bot": self._bot_user()})
        if method == "GET" and parts[0] == "gateway":
            return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": {
                "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})
        if method == "PUT" and parts[:3] == ["applications", str(APP_ID), "commands"]:
            return _json(self._store_commands(None, json.loads(body)))
        if method == "PUT" and len(parts) == 5 and parts[0] == "applications" \
                and parts[2] == "guilds" and parts[4] == "commands":
            return _json(self._store_commands(int(parts[3]), json.loads(body)))
        return _json({"message": "404: Not Found", "code": 0}, 404)

    def _store_commands(self, guild: int | None, payload: list[dict]) -> list[dict]:
        out = []
        for cmd in payload:
            out.append({**cmd, "id": str(next(self._ids)), "application_id": str(APP_ID),
                        "version": str(next(self._ids)), "default_member_permissions": None,
                        **({"guild_id": str(guild)} if guild else {})})
        self.commands[guild] = out
        return out

    def _new_message(self, data: dict, interaction: dict) -> dict:
        msg = {"id": str(next(self._ids)), "channel_id": str(CHANNEL_ID), "type": 20,
               "author": self._bot_user(), "content": data.get("content", ""),
               "embeds": data.get("embeds", []), "components": data.get("components", []),
               "attachments": [], "mentions": [], "mention_roles": [], "pinned": False,
               "mention_everyone": False, "tts": False, "timestamp": "2026-01-01T00:00:00+00:00",
               "edited_timestamp": None, "flags": data.get("flags", 0) or 0,
               "application_id": str(APP_ID),
               "interaction_metadata": {"id": interaction["id"], "type": interaction["type"],
                                        "user": interaction["member"]["user"]}}
        self.messages[int(msg["id"])] = msg
        return msg

    def _edit(self, msg: dict, data: dict) -> dict:
        for key in ("content", "embeds", "components"):
            if key in data:
                msg[key] = data[key] if data[key] is not None else ([] if key != "content" else "")
        msg["flags"] &= ~LOADING
        msg["edited_timestamp"] = "2026-01-01T00:00:01+00:00"
        return msg

    def _callback(self, interaction_id: int, token: str, body: dict) -> web.Response:
        self.callbacks.append({"interaction_id": interaction_id, "token": token, "body": body})
        interaction = self._interactions.get(interaction_id)
        if interaction is None or interaction["token"] != token:
            return _json({"message": "Unknown interaction", "code": 10062}, 404)
        kind, data = body.get("type"), body.get("data") or {}
        if kind == AUTOCOMPLETE:
            return web.Response(status=204)
        if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            flags = (data.get("flags") or 0) | (LOADING if kind == DEFERRED_CHANNEL_MESSAGE else 0)
            msg = self._new_message({**data, "flags": flags}, interaction)
            self._by_token[token] = int(msg["id"])
        elif kind in (UPDATE_MESSAGE, DEFERRED_UPDATE):
            msg = self.messages[int(interaction["message"]["id"])]
            if kind == UPDATE_MESSAGE:
                self._edit(msg, data)
            self._by_token[token] = int(msg["id"])
        else:
            return _json({"message": f"Invalid callback type {kind}", "code": 50035}, 400)
        return _json({"interaction": {"id": str(interaction_id), "type": interaction["type"],
                                      "response_message_id": msg["id"],
                                      "response_message_loading": bool(msg["flags"] & LOADING),
                                      "response_message_ephemeral": bool(msg["flags"] & EPHEMERAL)},
                      "resource": {"type": kind, "message": msg}})

    def _webhook(self, method: str, token: str, rest: list[str], body: dict) -> web.Response:
        interaction = next((i for i in self._interactions.values() if i["token"] == token), None)
        if interaction is None:
            return _json({"message": "Unknown Webhook", "code": 10015}, 404)
        if rest == ["messages", "@original"] and method == "PATCH":
            mid = self._by_token.get(token)
            if mid is None:
                return _json({"message": "Unknown Message", "code": 10008}, 404)
            return _json(self._edit(self.messages[mid], body))
        if rest == ["messages", "@original"] and method == "DELETE":
            self.messages.pop(self._by_token.pop(token, 0), None)
            return web.Response(status=204)
        if not rest and method == "POST":  # a follow-up message
            return _json(self._new_message(body, interaction))
        return _json({"message": "404: Not Found", "code": 0}, 404)

    # --- gateway ------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            data = json.loads(frame.data)
            self.sent_frames.append(data)
            if data.get("op") == 1:  # heartbeat
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif data.get("op") == 2:  # identify
                # Fields discord.py 2.7 reads from READY: user, guilds, session_id,
                # resume_gateway_url and application {id, flags}.
                await self._send_dispatch(ws, "READY", {
                    "v": 10, "user": self._bot_user(), "guilds": [], "session_id": "fake-session",
                    "resume_gateway_url": self.gateway_url, "shard": [0, 1],
                    "application": {"id": str(APP_ID), "flags": 0}})
                self.identified.set()
        return ws

    async def _send_dispatch(self, ws: web.WebSocketResponse, event: str, data: dict) -> None:
        await ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})

    async def dispatch(self, event: str, data: dict) -> None:
        """Push a gateway dispatch to the connected client (awaitable from any loop)."""
        if self._ws is None:
            raise RuntimeError("no client is connected to the gateway")
        fut = asyncio.run_coroutine_threadsafe(self._send_dispatch(self._ws, event, data),
                                               self._loop)
        await asyncio.wrap_future(fut)

    # --- interactions a test sends ------------------------------------------------

    async def guild_create(self, roles: dict[int, str]) -> None:
        """Push GUILD_CREATE for GUILD_ID with these roles (id -> name), as Discord does for
        each server a bot with the guilds intent is in (it is how the bot learns role names)."""
        everyone = {"id": str(GUILD_ID), "name": "@everyone", "position": 0}
        payload = {
            "id": str(GUILD_ID), "name": "kernel", "owner_id": str(OWNER_ID), "icon": None,
            "member_count": 3, "large": False, "unavailable": False, "features": [],
            "joined_at": "2025-01-01T00:00:00+00:00", "emojis": [], "stickers": [],
            "roles": [{**r, "color": 0, "hoist": False, "icon": None, "unicode_emoji": None,
                       "permissions": "0", "managed": False, "mentionable": False, "flags": 0}
                      for r in [everyone, *({"id": str(i), "name": n, "position": k}
                                            for k, (i, n) in enumerate(roles.items(), 1))]],
            "channels": [{"id": str(CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID),
                          "name": "kernel", "position": 0, "permission_overwrites": [],
                          "nsfw": False, "parent_id": None, "topic": None}],
            "threads": [], "members": [], "voice_states": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
        }
        await self.dispatch("GUILD_CREATE", payload)

    def _interaction(self, kind: int, data: dict, user_id: int, message: dict | None = None,
                     roles: list[int] | None = None) -> dict:
        iid = next(self._ids)
        payload = {
            "id": str(iid), "application_id": str(APP_ID), "type": kind,
            "token": f"interaction-token-{iid}", "version": 1, "data": data,
            "guild_id": str(GUILD_ID), "channel_id": str(CHANNEL_ID),
            "channel": {"id": str(CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID),
                        "name": "kernel", "position": 0, "permission_overwrites": [],
                        "nsfw": False, "parent_id": None, "topic": None, "rate_limit_per_user": 0,
                        "last_message_id": None},
            "member": {"user": _user(user_id, f"user{user_id % 1000}"),
                       "roles": [str(r) for r in roles or []],
                       "joined_at": "2025-01-01T00:00:00+00:00", "deaf": False, "mute": False,
                       "flags": 0, "pending": False, "permissions": "2248473465835073",
                       "nick": None, "avatar": None},
            "app_permissions": "2248473465835073", "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": str(GUILD_ID)},
            "context": 0, "attachment_size_limit": 10485760,
        }
        if message is not None:
            payload["message"] = message
        self._interactions[iid] = payload
        return payload

    def _command_id(self, name: str) -> str:
        for cmds in self.commands.values():
            for c in cmds:
                if c["name"] == name:
                    return c["id"]
        return str(next(self._ids))  # not synced in this run: Discord would still know it

    async def slash(self, name: str, options: dict[str, Any] | None = None, *,
                    user_id: int = ASKER_ID, roles: list[int] | None = None) -> dict:
        """Send INTERACTION_CREATE for /name with options; return the interaction payload."""
        opts = [{"name": k, "type": 5 if isinstance(v, bool) else 4 if isinstance(v, int) else 3,
                 "value": v} for k, v in (options or {}).items()]
        payload = self._interaction(2, {"id": self._command_id(name), "name": name, "type": 1,
                                        "options": opts}, user_id, roles=roles)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def autocomplete(self, name: str, focused: str, value: str,
                           others: dict[str, Any] | None = None, *, user_id: int = ASKER_ID) -> dict:
        """Send an autocomplete INTERACTION_CREATE with one focused option; return it."""
        opts = [{"name": k, "type": 3, "value": v} for k, v in (others or {}).items()]
        opts.append({"name": focused, "type": 3, "value": value, "focused": True})
        payload = self._interaction(4, {"id": self._command_id(name), "name": name, "type": 1,
                                        "options": opts}, user_id)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def click(self, message_id: int, custom_id: str, *, user_id: int = ASKER_ID,
                    roles: list[int] | None = None) -> dict:
        """Send a button-click INTERACTION_CREATE on a stored message; return it."""
        payload = self._interaction(3, {"custom_id": custom_id, "component_type": 2}, user_id,
                                    message=self.messages[message_id], roles=roles)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    # --- waiting for what the client sends -----------------------------------------

    async def wait_for_callback(self, interaction: dict, timeout: float = 10) -> dict:
        """Return the callback body the client posted for interaction."""
        iid = int(interaction["id"])
        return await self._wait(lambda: next((c["body"] for c in self.callbacks
                                              if c["interaction_id"] == iid), None), timeout)

    async def wait_for_reply(self, interaction: dict, timeout: float = 10) -> dict:
        """Return the interaction's reply message once it is no longer 'thinking'."""
        def done() -> dict | None:
            mid = self._by_token.get(interaction["token"])
            msg = self.messages.get(mid) if mid else None
            # A copy: later edits (page turns) must not change what the test saw.
            return copy.deepcopy(msg) if msg and not msg["flags"] & LOADING else None
        return await self._wait(done, timeout)

    @staticmethod
    async def _wait(probe, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = probe()
            if found is not None:
                return found
            await asyncio.sleep(0.01)
        raise TimeoutError(f"the client sent nothing matching within {timeout}s")
