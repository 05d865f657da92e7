"""`--strategy`: TF_CONFIG parsing, and real runs on the CPU: `mirrored` over two logical CPU
devices, `multi-worker` as two worker processes on 127.0.0.1, each in its own process."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from mnist_tui.core.config import TrainConfig, parse_values
from mnist_tui.core.events import (
    BatchEnd,
    EpochEnd,
    Evaluated,
    RunFinished,
    RunStarted,
    RunStopped,
)
from mnist_tui.runs.reading import read_events
from mnist_tui.training.data import MnistData, load_mnist
from mnist_tui.training.strategy import (
    AGREE_EVERY,
    CPU_DEVICES_ENV,
    StrategyError,
    cluster_tasks,
    is_chief,
    make_placement,
    read_tf_config,
)
from mnist_tui.training.trainer import Trainer
from tests.helpers.cluster import finish, free_ports, start_headless, tf_config_spec

# Adam at 0.001 learns steadily. A distributed run sees the images in another order
# (tf.distribute rewrites the dataset, its shuffle included), and on one device eight other
# orders of this config score 92.9-95.0% on the test set; so the runs are compared within a
# margin. A distribution that broke the training would miss it by far.
FLAGS = ("--train-size", "10000", "--epochs", "2", "--seed", "0", "--optimizer", "adam",
         "--learning-rate", "0.001")
CONFIG = TrainConfig(train_size=10000, epochs=2, seed=0, optimizer="adam", learning_rate=0.001)
IN_LINE = 0.03  # test accuracy within 3 points of the single-device run
# Under pytest-xdist, one worker runs all the clusters (this file and test_signals.py's),
# one at a time: two at once would share two cores four ways.
pytestmark = pytest.mark.xdist_group("clusters")


def test_tf_config_is_read_and_checked():
    spec = read_tf_config({"TF_CONFIG": tf_config_spec(index=1)})
    assert spec["task"] == {"type": "worker", "index": 1}
    assert not is_chief(spec) and is_chief(read_tf_config({"TF_CONFIG": tf_config_spec()}))
    with_chief = read_tf_config(
        {"TF_CONFIG": tf_config_spec("chief", 0, chief=["h:1"], worker=["h:2"])})
    assert is_chief(with_chief) and cluster_tasks(with_chief) == ("chief:0", "worker:0")
    assert not is_chief(read_tf_config(
        {"TF_CONFIG": tf_config_spec("worker", 0, chief=["h:1"], worker=["h:2"])}))
    for bad, words in (({}, "needs $TF_CONFIG"), ({"TF_CONFIG": "{nope"}, "not valid JSON"),
                       ({"TF_CONFIG": '{"cluster": {}}'}, 'needs a "cluster" and a "task"'),
                       ({"TF_CONFIG": tf_config_spec(index=2)}, "is not in its cluster")):
        with pytest.raises(StrategyError, match="TF_CONFIG") as caught:
            read_tf_config(bad)
        assert words in str(caught.value) and '"cluster"' in str(caught.value)


def test_strategy_is_a_config_field_with_its_choices():
    config, errors = parse_values({"strategy": "Mirrored"})
    assert errors == {} and config.strategy == "mirrored"
    assert TrainConfig().strategy == "default"
    _, errors = parse_values({"strategy": "tpu"})
    assert "default, mirrored, multi-worker" in errors["strategy"]
    assert "strategy" in TrainConfig(strategy="x").validate()


def test_bad_settings_are_refused_with_a_reason():
    with pytest.raises(StrategyError, match="whole number from 1 to 64"):
        make_placement("mirrored", {CPU_DEVICES_ENV: "two"})
    with pytest.raises(StrategyError, match="needs \\$TF_CONFIG"):
        make_placement("multi-worker", {})
    with pytest.raises(StrategyError, match="unknown strategy"):
        make_placement("tpu", {})


@pytest.fixture(scope="module")
def single_device(mnist_path) -> dict:
    """The same config trained on one device, in this process."""
    full = load_mnist(mnist_path)
    return Trainer(data=MnistData(full.x_train[:10000], full.y_train[:10000], full.x_test,
                                  full.y_test, source="slice")).run(CONFIG, lambda e: None)


def _check_chief_log(summary: dict, strategy: str, devices: list[str]) -> list:
    """The run log of a distributed run is the same kind as a single-device run's."""
    events = read_events(Path(summary["run_dir"]))
    started = next(e for e in events if isinstance(e, RunStarted))
    assert (started.strategy, list(started.devices)) == (strategy, devices)
    batches = [e for e in events if isinstance(e, BatchEnd)]
    assert [b.step for b in batches] == list(range(1, CONFIG.total_batches + 1))
    assert batches[-1].seen == 2 * CONFIG.train_samples
    assert len([e for e in events if isinstance(e, EpochEnd)]) == 2
    assert len([e for e in events if isinstance(e, Evaluated)]) == 1
    assert isinstance(events[-1], RunFinished)
    assert (Path(summary["run_dir"]) / "model.keras").is_file()
    return events


@pytest.mark.slow
def test_mirrored_over_two_cpu_devices(mnist_path, tmp_path, single_device):
    code, summary, err = finish(start_headless(mnist_path, tmp_path, {CPU_DEVICES_ENV: "2"},
                                               "--strategy", "mirrored", *FLAGS))
    assert code == 0, err
    assert (summary["strategy"], summary["replicas"]) == ("mirrored", 2)
    assert summary["devices"] == ["CPU:0", "CPU:1"] and summary["params"] == 33_194
    _check_chief_log(summary, "mirrored", ["CPU:0", "CPU:1"])
    assert summary["test_accuracy"] == pytest.approx(single_device["test_accuracy"],
                                                     abs=IN_LINE)


@pytest.mark.slow
def test_multi_worker_as_two_processes(mnist_path, tmp_path, single_device):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = [start_headless(mnist_path, tmp_path / f"w{i}",
                              {"TF_CONFIG": tf_config_spec("worker", i, **cluster)},
                              "--strategy", "multi-worker", *FLAGS) for i in range(2)]
    (code0, chief, err0), (code1, other, err1) = [finish(w) for w in workers]
    assert (code0, code1) == (0, 0), err0 + err1
    assert (chief["task"], other["task"]) == ("worker:0", "worker:1")
    assert chief["strategy"] == "multi-worker" and chief["replicas"] == 2
    _check_chief_log(chief, "multi-worker", ["worker:0", "worker:1"])
    assert chief["test_accuracy"] == pytest.approx(single_device["test_accuracy"], abs=IN_LINE)
    # The other worker trained the same weights, quietly: no progress in its log or stderr.
    assert other["status"] == "finished" and "model_path" not in other
    assert other["test_accuracy"] == pytest.approx(chief["test_accuracy"], abs=1e-9)
    quiet = read_events(Path(other["run_dir"]))
    assert not [e for e in quiet if isinstance(e, (RunStarted, BatchEnd, EpochEnd, Evaluated))]
    assert isinstance(quiet[-1], RunFinished)
    assert "epoch 1/2" not in err1 and "the chief reports its progress" in err1


@pytest.mark.slow
def test_ctrl_c_on_one_worker_stops_the_whole_cluster(mnist_path, tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    flags = ("--strategy", "multi-worker", "--train-size", "30000", "--seed", "0")
    workers = [start_headless(mnist_path, tmp_path / f"w{i}",
                              {"TF_CONFIG": tf_config_spec("worker", i, **cluster)}, *flags)
               for i in range(2)]
    deadline = time.monotonic() + 180
    while not any('"batch_end"' in p.read_text() for p in tmp_path.glob("w0/*/events.jsonl")):
        assert time.monotonic() < deadline and workers[0].poll() is None, "no progress"
        time.sleep(0.2)
    workers[1].send_signal(signal.SIGINT)
    (code0, chief, err0), (code1, other, _) = [finish(w) for w in workers]
    assert (code0, code1) == (1, 1), err0
    assert chief["status"] == other["status"] == "stopped"
    assert chief["reason"] == "stopped by another worker"
    assert other["reason"] == "interrupted (Ctrl+C)"
    assert chief["batches"] == other["batches"] < TrainConfig(train_size=30000).total_batches
    assert chief["batches"] % AGREE_EVERY == 0
    events = read_events(Path(chief["run_dir"]))
    assert any(isinstance(e, Evaluated) for e in events)
    assert isinstance(events[-1], RunStopped)
