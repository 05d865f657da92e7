"""Who may use a served app: the token, the Host header, the peer, the page's origin.

textual-serve starts an app process for anyone who opens its websocket. `mnist-tui serve`
puts these checks in front of every request: a random token made at start (in the URL it
prints; the page's own requests carry it in a cookie), and, when bound to loopback, only
loopback peers and loopback names in the Host header (a page of another site that resolves
its name to 127.0.0.1, DNS rebinding, is refused by name). Pure logic, no server here.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
"""Host names that are this machine (besides the loopback addresses)."""

HOST_HEADER = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
"""A Host header as browsers send it: a name or address, in brackets for IPv6, and a port."""

MAX_APPS_LIMIT = 64
"""The most app processes `--max-apps` may allow (each is a Python process of ~100 MB)."""


def make_token() -> str:
    """A new random token: 32 URL-safe characters (192 bits)."""
    return secrets.token_urlsafe(24)


def host_name(host: str) -> str:
    """The name in a Host header or URL authority, without its port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host  # a bare name, or an IPv6 address without brackets


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) can only be this machine."""
    name = host_name(host)
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """`host` as it goes in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def bind_problem(host: str, token: str | None) -> str | None:
    """Why serving on `host` with `token` is refused, or None if it is allowed.

    Without a token only loopback may be bound: anyone who can reach another address could
    start app processes and runs.
    """
    if not host.strip():
        return "--host: give an address or name to listen on, e.g. 127.0.0.1"
    if token is None and not is_loopback(host):
        return (f"--host {host}: a server reachable from other machines needs its token; "
                "--no-token is only for 127.0.0.1 or localhost")
    return None


def parse_max_apps(text: str) -> int:
    """`--max-apps`: a whole number from 1 to `MAX_APPS_LIMIT`; ValueError says what is wrong."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"must be a whole number from 1 to {MAX_APPS_LIMIT}, "
                         f"not {text!r}") from None
    if not 1 <= value <= MAX_APPS_LIMIT:
        raise ValueError(f"must be from 1 to {MAX_APPS_LIMIT} (app processes at once), "
                         f"not {value}")
    return value


def parse_port(text: str) -> int:
    """`--port`: a TCP port from 1 to 65535; ValueError says what is wrong."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"must be a port number from 1 to 65535, not {text!r}") from None
    if not 1 <= value <= 65535:
        raise ValueError(f"must be a port number from 1 to 65535, not {value}")
    return value


@dataclass(frozen=True)
class AccessPolicy:
    """The checks of one server: its `token` (None: none asked for, loopback only) and the
    address it is bound to (`bound_host`)."""

    token: str | None
    bound_host: str

    @property
    def loopback_only(self) -> bool:
        """Whether the server listens on loopback only, so that peers and names must be."""
        return is_loopback(self.bound_host)

    def refusal(self, *, host: str | None, peer: str | None, origin: str | None) -> str | None:
        """Why a request with this Host header, from this peer address, sent by a page of
        this Origin, is refused (None: it may go on to the token check)."""
        if host is not None and not HOST_HEADER.fullmatch(host):
            return "the Host header is not a host name"  # the page names the server by it
        if self.loopback_only:
            if not peer or not is_loopback(peer):
                return (f"this server takes connections from this machine only (it listens "
                        f"on {self.bound_host}); from another machine, use ssh -L")
            if not host or not is_loopback(host):
                return (f"the Host header {host!r} does not name this machine; open the URL "
                        "that mnist-tui serve printed")
        if origin and origin != "null" and host:
            parts = urlsplit(origin)
            if parts.netloc.lower() != host.strip().lower():
                return f"a page of {origin} may not use this server"
        return None

    def token_matches(self, given: str | None) -> bool:
        """Whether `given` (from the URL or the cookie) is the token; always without one."""
        if self.token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"),
                                                         self.token.encode("utf-8"))
