"""Real `mnist-tui --headless` processes, alone or as the workers of a multi-worker cluster."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from mnist_tui.training.strategy import CPU_DEVICES_ENV


def tf_config_spec(kind: str = "worker", index: int = 0, **cluster: list[str]) -> str:
    """A TF_CONFIG value: this task of `cluster` (two placeholder workers by default)."""
    cluster = cluster or {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    return json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})


def free_ports(count: int) -> list[int]:
    """Ports the kernel gave out just now, so free: each worker of a cluster listens on one."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_headless(mnist_path: Path, runs_dir: Path, env: dict[str, str], *flags: str,
                   ) -> subprocess.Popen:
    """Start `mnist-tui --headless` on `flags`, with `env` over a TF_CONFIG-free environment."""
    command = [sys.executable, "-m", "mnist_tui", "--headless", "--data", str(mnist_path),
               "--runs-dir", str(runs_dir), *flags]
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("TF_CONFIG", CPU_DEVICES_ENV)} | env
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env)


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, dict, str]:
    """Wait for a headless process: its exit code, its last stdout line as JSON, its stderr."""
    out, err = process.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    return process.returncode, json.loads(lines[-1]) if lines else {}, err
