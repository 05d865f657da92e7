"""`mnist-tui serve`'s door, on a real server process: no token, no page and no process.

Requests are made as a browser (or a stranger) would: plain HTTP with and without the
token, a websocket upgrade, a Host header of another name, a page of another site. The
server's child processes are counted before and after: a refused request starts none.
"""

from __future__ import annotations

import asyncio
import http.client
import os
from pathlib import Path

import aiohttp
import pytest

from tests.helpers.browser import Served, served
from tests.helpers.live_processes import wait_until


@pytest.fixture
def env(mnist_path: Path) -> dict[str, str]:
    return {**os.environ, "MNIST_TUI_DATA": str(mnist_path)}


def get(server: Served, path: str, headers: dict[str, str] | None = None
        ) -> tuple[int, str, dict[str, str]]:
    """GET `path` from the server; its status, body and headers."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace"), dict(
            response.getheaders())
    finally:
        connection.close()


UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def test_without_the_token_every_request_is_refused_and_starts_nothing(
        tmp_path: Path, env: dict[str, str]) -> None:
    with served(tmp_path / "runs", env) as server:
        assert server.children() == []
        for path, headers in (("/", {}), ("/?token=wrong", {}), ("/ws?width=80&height=24",
                                                                  UPGRADE),
                              ("/static/js/textual.js", {}), ("/download/abc", {}),
                              ("/", {"Cookie": f"mnist_tui_token_{server.port}=wrong"})):
            status, body, _ = get(server, path, headers)
            assert status == 403, (path, status)
            assert "token" in body
        assert server.children() == []  # no app process was started

        # With the token: the page, and a cookie for its own requests (script, websocket).
        status, body, headers = get(server, f"/?token={server.token}")
        assert status == 200 and "/ws" in body
        cookie = headers["Set-Cookie"]
        assert server.token in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        status, _, _ = get(server, "/static/js/textual.js",
                           {"Cookie": f"mnist_tui_token_{server.port}={server.token}"})
        assert status == 200

        # The token does not let in a request naming another host (DNS rebinding), nor a
        # page of another site.
        status, body, _ = get(server, f"/?token={server.token}", {"Host": "evil.example:80"})
        assert status == 403 and "Host" in body
        status, body, _ = get(server, f"/?token={server.token}",
                              {"Origin": "http://evil.example"})
        assert status == 403 and "evil.example" in body
        # Through `ssh -L 9000:127.0.0.1:PORT` the browser names localhost and another port.
        status, _, _ = get(server, f"/?token={server.token}", {"Host": "localhost:9000"})
        assert status == 200
        assert server.children() == []


def test_each_websocket_is_an_app_process_up_to_the_cap(tmp_path: Path,
                                                       env: dict[str, str]) -> None:
    with served(tmp_path / "runs", env, "--max-apps", "1") as server:
        base = f"http://127.0.0.1:{server.port}"

        async def tabs() -> str:
            cookies = {f"mnist_tui_token_{server.port}": server.token}
            async with aiohttp.ClientSession(cookies=cookies) as session:
                first = await session.ws_connect(f"{base}/ws?width=100&height=30",
                                                 origin=base)
                await asyncio.to_thread(wait_until, lambda: len(server.app_processes()) == 1,
                                        "the first tab's app started")
                second = await session.ws_connect(f"{base}/ws?width=100&height=30")
                message = await second.receive(timeout=60)
                await second.close()
                assert len(server.app_processes()) == 1  # none for the second
                await first.close()
                await asyncio.to_thread(wait_until, lambda: server.app_processes() == [],
                                        "the closed tab's app ended")
                return bytes(message.data).decode()

        told = asyncio.run(tabs())
        assert "the most this server runs at once" in told and "--max-apps 1" in told
