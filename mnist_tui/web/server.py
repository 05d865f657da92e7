"""textual-serve's server with a lock on the door: the token, the names, a cap on app processes.

textual-serve (an aiohttp server) answers `/` with a page whose script opens `/ws`; each
websocket starts one process of the app's command (`AppService`) and ends it when the tab
closes. It has no access control: `PrivateServer` puts `access.AccessPolicy`'s checks in
front of every request (page, static files, websocket, downloads), so a request without
the token gets 403 and starts nothing. The first request with the token in its URL gets a
cookie, which the page's own requests (its script, its websocket, its downloads) carry.
At most `max_apps` app processes run at once; one more tab is told so instead of getting one.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import WSMsgType, web
from textual_serve.server import Server

from mnist_tui.web.access import AccessPolicy, url_host

log = logging.getLogger("mnist-tui.serve")

TEMPLATES = Path(__file__).with_name("templates")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(title: str, message: str, status: int) -> web.Response:
    """A small HTML page that says `message` (a refusal, a full server)."""
    body = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body style='font-family: monospace; margin: 2em'>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>")
    return web.Response(status=status, text=body, content_type="text/html")


class PrivateServer(Server):
    """Serve `command` (the app) to browsers that show the token, `max_apps` at a time.

    `policy` holds the token and what the bound address allows; `announce` is called with
    the URL to open (token included) once the server listens.
    """

    def __init__(self, command: str, *, host: str, port: int, policy: AccessPolicy,
                 max_apps: int, title: str, announce: Callable[[str], None]) -> None:
        super().__init__(command, host=host, port=port, title=title,
                         templates_path=TEMPLATES)
        self.policy = policy
        self.max_apps = max_apps
        self.apps_open = 0  # websockets with an app process behind them
        self.announce = announce
        self.cookie_name = f"mnist_tui_token_{port}"  # cookies are per host, not per port

    @property
    def url(self) -> str:
        """The address to open in a browser, the token in it."""
        base = f"http://{url_host(self.host)}:{self.port}/"
        return f"{base}?token={self.policy.token}" if self.policy.token else base

    def initialize_logging(self) -> None:
        """textual-serve's log lines, without aiohttp's line per request (URLs hold tokens)."""
        super().initialize_logging()
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        # The page again, its values escaped (textual-serve's environment does not escape).
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
        app.middlewares.append(self._guard)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse (403) what the policy refuses or what lacks the token, before any handler."""
        refusal = self.policy.refusal(host=request.headers.get("Host"), peer=request.remote,
                                      origin=request.headers.get("Origin"))
        if refusal:
            log.warning("refused %s %s from %s: %s", request.method, request.path,
                        request.remote, refusal)
            return page("Refused", refusal, 403)
        in_url = self.policy.token_matches(request.query.get("token"))
        if not (in_url or self.policy.token_matches(request.cookies.get(self.cookie_name))):
            log.warning("refused %s %s from %s: no token", request.method, request.path,
                        request.remote)
            return page("Refused", "This server needs the token that `mnist-tui serve` "
                        "printed when it started: open the whole URL it printed "
                        "(…/?token=…).", 403)
        response = await handler(request)
        if in_url and self.policy.token and not response.prepared:
            response.set_cookie(self.cookie_name, self.policy.token, path="/", httponly=True,
                                samesite="Strict")
        return response

    def _full(self) -> str:
        tabs = "1 tab already has" if self.apps_open == 1 else f"{self.apps_open} tabs already have"
        return (f"{tabs} the app open here, the most this server runs at once (mnist-tui "
                f"serve --max-apps {self.max_apps}). Close a tab, then reload this page: a "
                "run goes on training when its tab closes.")

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """The app's page, its websocket and files named as this request named the server
        (through `ssh -L` that is another port), or a page saying the server is full."""
        if self.apps_open >= self.max_apps:
            return page("mnist-tui: no room for another app", self._full(), 503)
        origin = f"{request.scheme}://{request.host}"
        websocket = ("wss" if request.secure else "ws") + f"://{request.host}/ws"
        context: dict[str, Any] = {
            "font_size": _int(request.query.get("fontsize", ""), 16),
            "app_websocket_url": websocket,
            "config": {"static": {"url": f"{origin}/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Start the app for this tab, unless `max_apps` run already: then the tab's
        terminal says so and no process starts."""
        if self.apps_open >= self.max_apps:
            return await self._refuse_app(request)
        self.apps_open += 1
        try:
            return await super().handle_websocket(request)
        finally:
            self.apps_open -= 1

    async def _refuse_app(self, request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        text = "\r\n  " + self._full().replace(". ", ".\r\n  ") + "\r\n"
        await websocket.send_bytes(f"\x1b[1m{text}\x1b[0m".encode())
        async for message in websocket:  # held open, so that the tab keeps the message
            if message.type == WSMsgType.TEXT and message.data.startswith('["ping"'):
                await websocket.send_str(message.data.replace('"ping"', '"pong"', 1))
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        """Say where to open the app (the token in the URL)."""
        self.announce(self.url)


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default
