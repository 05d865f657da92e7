"""Who may use a served app (`web/access.py`), and `mnist-tui serve`'s refusals of its flags."""

from __future__ import annotations

import pytest

from mnist_tui.cli import main
from mnist_tui.web.access import (
    AccessPolicy,
    bind_problem,
    host_name,
    is_loopback,
    make_token,
    parse_max_apps,
    parse_port,
)


def test_tokens_are_long_random_and_url_safe() -> None:
    tokens = {make_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t) >= 32 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


@pytest.mark.parametrize(("host", "name"), [
    ("127.0.0.1:8000", "127.0.0.1"), ("localhost", "localhost"), ("[::1]:8000", "::1"),
    ("Example.org:443", "example.org"), ("::1", "::1"),
])
def test_host_name_drops_the_port_and_brackets(host: str, name: str) -> None:
    assert host_name(host) == name


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.5.6.7:80", True), ("localhost:9000", True), ("[::1]:8000", True),
    ("0.0.0.0", False), ("192.168.1.5", False), ("evil.example", False),
    ("localhost.evil.example", False), ("", False),
])
def test_loopback_is_only_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_token_is_needed_to_listen_beyond_loopback() -> None:
    assert bind_problem("127.0.0.1", None) is None
    assert bind_problem("0.0.0.0", "t") is None
    problem = bind_problem("0.0.0.0", None)
    assert problem and "--no-token" in problem and "127.0.0.1" in problem


@pytest.mark.parametrize("text", ["0", "65", "-1", "four", "2.5"])
def test_max_apps_says_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="1 to 64"):
        parse_max_apps(text)
    assert parse_max_apps("4") == 4


@pytest.mark.parametrize("text", ["0", "65536", "http"])
def test_port_says_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="1 to 65535"):
        parse_port(text)


def test_on_loopback_a_stranger_or_another_name_is_refused() -> None:
    policy = AccessPolicy("secret", "127.0.0.1")
    assert policy.refusal(host="127.0.0.1:8000", peer="127.0.0.1", origin=None) is None
    assert policy.refusal(host="localhost:9000", peer="::1",
                          origin="http://localhost:9000") is None
    stranger = policy.refusal(host="127.0.0.1:8000", peer="10.0.0.7", origin=None)
    assert stranger and "ssh -L" in stranger
    rebound = policy.refusal(host="evil.example:8000", peer="127.0.0.1", origin=None)
    assert rebound and "evil.example" in rebound
    other_site = policy.refusal(host="127.0.0.1:8000", peer="127.0.0.1",
                                origin="http://evil.example")
    assert other_site and "evil.example" in other_site


@pytest.mark.parametrize("bound", ["127.0.0.1", "0.0.0.0"])
def test_a_host_header_that_is_no_host_name_is_refused(bound: str) -> None:
    # The page names the server by its Host header: nothing else may get into the page.
    policy = AccessPolicy("secret", bound)
    for host in ('127.0.0.1:80"><script>alert(1)</script>', "127.0.0.1:8000/x", "a b",
                 "[::1]:80:80"):
        assert policy.refusal(host=host, peer="127.0.0.1", origin=None), host
    for host in ("127.0.0.1", "localhost:8000", "[::1]:8000"):
        assert policy.refusal(host=host, peer="127.0.0.1", origin=None) is None, host


def test_beyond_loopback_any_peer_and_name_go_on_to_the_token() -> None:
    policy = AccessPolicy("secret", "0.0.0.0")
    assert policy.refusal(host="box.lan:8000", peer="10.0.0.7", origin=None) is None
    assert policy.token_matches("secret")
    assert not policy.token_matches("secreT") and not policy.token_matches(None)
    assert not policy.token_matches("")
    assert AccessPolicy(None, "127.0.0.1").token_matches(None)


def test_serve_refuses_an_open_server_without_a_token(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--no-token"]) == 2
    err = capsys.readouterr().err
    assert "needs its token" in err and "--no-token is only for 127.0.0.1" in err


@pytest.mark.parametrize(("flags", "message"), [
    (["--max-apps", "0"], "--max-apps: must be from 1 to 64"),
    (["--port", "70000"], "--port: must be a port number from 1 to 65535"),
])
def test_serve_names_a_bad_flag_and_what_is_allowed(
        flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", *flags])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_serve_says_how_to_reach_it_through_ssh() -> None:
    from mnist_tui.serve_cli import how_to_reach

    text = how_to_reach("http://127.0.0.1:8000/?token=abc", 8000, "127.0.0.1", 4)
    assert "open http://127.0.0.1:8000/?token=abc" in text
    assert "ssh -L 8000:127.0.0.1:8000 " in text and "at most 4 tabs" in text
    assert "ssh -L 8001:[::1]:8001 " in how_to_reach("http://[::1]:8001/", 8001, "::1", 2)
    assert "ssh" not in how_to_reach("http://0.0.0.0:8000/?token=abc", 8000, "0.0.0.0", 4)
