"""Detached runs: training as a background process of its own, steered through its run folder.

`start_detached` prepares a run folder and starts `python -m mnist_tui.headless RUN_DIR` in a
new session (no controlling terminal, SIGHUP ignored), its output going to `output.log` in the
folder: closing the terminal or losing SSH leaves it training, and `mnist-tui watch` follows it.
Watchers pause and stop it through the folder's control channel (`mnist_tui.runs.channel`), which
the run opens as every run does (`runs.execute_run`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from mnist_tui.core import environment
from mnist_tui.core.config import ConfigError, TrainConfig
from mnist_tui.core.jsonio import write_json_atomic
from mnist_tui.runs.channel import create_control_file
from mnist_tui.runs.writer import default_runs_dir, new_run_id, write_process_file

OUTPUT_FILE = "output.log"


@dataclass(frozen=True)
class DetachedRun:
    """A run started in the background: its id, folder and process id."""

    run_id: str
    run_dir: Path
    pid: int


def start_detached(config: TrainConfig, *, runs_dir: Path | None = None,
                   data_path: str | Path | None = None, run_id: str | None = None,
                   python: str | None = None, resume_dir: Path | None = None) -> DetachedRun:
    """Start training `config` as a background process of its own; return where it runs.

    The folder (config, control file, `process.json`, `output.log`) exists when this
    returns, so a watcher can follow it at once; the events come once the process has
    loaded MNIST and TensorFlow. `resume_dir` is a run folder that `resume.begin_resume`
    opened: the process goes on from its checkpoint there instead.
    """
    errors = config.validate()
    if errors:
        raise ConfigError(errors)
    if resume_dir is not None:
        run_dir = Path(resume_dir).expanduser().resolve()
        run_id = run_dir.name
    else:
        root = Path(runs_dir or default_runs_dir()).expanduser().resolve()
        run_id = run_id or new_run_id()
        run_dir = root / run_id
        run_dir.mkdir(parents=True, exist_ok=False)
        write_json_atomic(run_dir / "config.json", config.to_dict())
        create_control_file(run_dir)
    command = [python or sys.executable, "-m", "mnist_tui.headless", str(run_dir)]
    if resume_dir is not None:
        command.append("--resume")
    if data_path is not None:
        command += ["--data", str(Path(data_path).expanduser().resolve())]
    env = {environment.TF_CPP_MIN_LOG_LEVEL: "3", **os.environ}  # quiet unless asked otherwise
    try:
        with open(run_dir / OUTPUT_FILE, "ab") as output:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    close_fds=True, env=env)
    except OSError:
        if resume_dir is None:
            shutil.rmtree(run_dir, ignore_errors=True)  # a folder no process will ever fill
        raise
    write_process_file(run_dir, proc.pid)
    # Reap it when it ends, so that this process never holds a zombie that looks alive.
    threading.Thread(target=proc.wait, name=f"mnist-tui-reap-{proc.pid}", daemon=True).start()
    return DetachedRun(run_id, run_dir, proc.pid)
