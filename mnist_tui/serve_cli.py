"""`mnist-tui serve`: the app in a browser tab, private by default.

Flags → an `AccessPolicy` (a random token unless `--no-token`, allowed on loopback only) and
the app's command line (`mnist-tui --detach-runs ...`: every run a process of its own, so a
tab closed mid-run leaves the run training), handed to `web.server.PrivateServer`.
"""

from __future__ import annotations

import argparse
import shlex
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mnist_tui.core.errors import EXIT_BAD_INPUT, EXIT_OK

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_APPS = 4


def _checked(parse: Callable[[str], int]) -> Callable[[str], int]:
    """An argparse type from a parser whose ValueError says what is wrong."""
    def check(text: str) -> int:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return check


def build_serve_parser() -> argparse.ArgumentParser:
    """The parser of `mnist-tui serve`."""
    from mnist_tui.web.access import parse_max_apps, parse_port

    parser = argparse.ArgumentParser(
        prog="mnist-tui serve",
        description="Serve the app (form, monitor, summary, runs, watch) to a web browser. "
                    "It listens on 127.0.0.1 and prints a URL with a random token: a request "
                    "without it gets 403 and starts nothing. From another machine: "
                    f"ssh -L {DEFAULT_PORT}:127.0.0.1:{DEFAULT_PORT} HOST, then open the URL. "
                    "Each tab is an app process of its own; its runs are processes of their "
                    "own too, so closing a tab leaves its run training.")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}, this machine "
                             "only; another address is reachable from other machines, over "
                             "plain HTTP)")
    parser.add_argument("--port", default=DEFAULT_PORT, type=_checked(parse_port),
                        help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--runs-dir", metavar="DIR", type=Path,
                        help="where run folders are written and read (default: the user "
                             "data dir)")
    parser.add_argument("--data", metavar="PATH",
                        help="MNIST as a Keras-layout .npz or a folder of the four IDX files")
    parser.add_argument("--theme", metavar="NAME", help="colour theme of the app")
    parser.add_argument("--max-apps", metavar="N", default=DEFAULT_MAX_APPS,
                        type=_checked(parse_max_apps),
                        help=f"most tabs with the app open at once, one process each "
                             f"(default {DEFAULT_MAX_APPS}); one more is told to wait")
    parser.add_argument("--no-token", action="store_true",
                        help="no token in the URL: anyone on this machine may open the app "
                             "(only with --host 127.0.0.1 or localhost)")
    return parser


def app_command(args: argparse.Namespace, runs_dir: Path) -> str:
    """The shell command textual-serve runs for each tab: this Python's `mnist-tui`, every
    run detached, on the server's runs folder."""
    command = [sys.executable, "-m", "mnist_tui", "--detach-runs", "--runs-dir", str(runs_dir)]
    if args.data:
        command += ["--data", str(Path(args.data).expanduser().resolve())]
    if args.theme:
        command += ["--theme", args.theme]
    return shlex.join(command)


def how_to_reach(url: str, port: int, host: str, max_apps: int) -> str:
    """What `serve` prints once it listens: the URL, the SSH tunnel, the tabs allowed."""
    from mnist_tui.web.access import is_loopback, url_host

    lines = [f"mnist-tui serve: open {url}"]
    if is_loopback(host):
        lines.append(f"from another machine: ssh -L {port}:{url_host(host)}:{port} "
                     f"{socket.gethostname()}   then open the same URL there")
    else:
        lines.append("plain HTTP: anyone who sees the traffic sees the token; prefer "
                     "--host 127.0.0.1 and an SSH tunnel")
    lines.append(f"at most {max_apps} tabs at once; Ctrl+C stops the server (runs started "
                 "from it go on)")
    return "\n".join(lines)


def serve_command(argv: Sequence[str]) -> int:
    """`mnist-tui serve`: check the flags, then serve until Ctrl+C or SIGTERM."""
    from mnist_tui.runs.writer import default_runs_dir
    from mnist_tui.web.access import AccessPolicy, bind_problem, make_token

    args = build_serve_parser().parse_args(argv)
    token = None if args.no_token else make_token()
    problem = bind_problem(args.host, token)
    if problem:
        sys.stderr.write(f"mnist-tui serve: {problem}\n")
        return EXIT_BAD_INPUT
    runs_dir = Path(args.runs_dir or default_runs_dir()).expanduser().resolve()
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        sys.stderr.write(f"mnist-tui serve: cannot use the runs folder {runs_dir}: "
                         f"{exc.strerror or exc}\n")
        return EXIT_BAD_INPUT
    from mnist_tui.web.server import PrivateServer

    def announce(url: str) -> None:
        print(how_to_reach(url, args.port, args.host, args.max_apps), flush=True)

    server = PrivateServer(app_command(args, runs_dir), host=args.host, port=args.port,
                           policy=AccessPolicy(token, args.host), max_apps=args.max_apps,
                           title="mnist-tui", announce=announce)
    try:
        server.serve()
    except OSError as exc:  # the port is taken, the address is not this machine's
        sys.stderr.write(f"mnist-tui serve: cannot listen on {args.host}:{args.port}: "
                         f"{exc.strerror or exc}\n")
        return EXIT_BAD_INPUT
    return EXIT_OK
