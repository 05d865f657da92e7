"""Where a run trains: one device, every local device (mirrored), or a cluster (multi-worker).

`TrainConfig.strategy` names one of TensorFlow's own distribution strategies:

- `default`: TensorFlow's default placement (the first GPU when there is one, else the CPU).
- `mirrored`: `tf.distribute.MirroredStrategy` over all local GPUs; on a machine without a GPU,
  over the logical CPU devices, of which `$MNIST_TUI_CPU_DEVICES` (e.g. 2) makes several, to
  try data parallelism without a GPU. Each batch is split between the replicas.
- `multi-worker`: `tf.distribute.MultiWorkerMirroredStrategy`, the cluster and this process's
  place in it read from `$TF_CONFIG`. Every worker runs the same command; the chief (the
  `chief` task, else `worker` 0) reports the run, the others train quietly.

TensorFlow is imported only inside the functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mnist_tui.core import environment
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.events import TERMINAL_TYPES, Emit, Event, Phase
from mnist_tui.training.model import INPUT_SHAPE

CPU_DEVICES_ENV = environment.CPU_DEVICES
TF_CONFIG_ENV = environment.TF_CONFIG
MULTI_WORKER_SEED = 0  # used when the config has none: every worker must draw the same order
AGREE_EVERY = 10  # batches between the workers' checks for a stop (each costs ~15 ms on CPU)
_TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                      '"task": {"type": "worker", "index": 0}}')


class StrategyError(MnistTuiError, ValueError):
    """The strategy cannot be set up here; the message says why and what to do."""


@dataclass
class Placement:
    """A strategy made ready to train under, with what the run reports about it.

    `devices` are short names of where the replicas run ("CPU:0", "GPU:1", or "worker:1" for
    the tasks of a cluster); `task` is this process's "type:index" in a cluster, else "".
    """

    name: str
    strategy: Any
    devices: tuple[str, ...]
    replicas: int = 1
    is_chief: bool = True
    task: str = ""
    _agree: Any = field(default=None, repr=False)

    @property
    def multi_worker(self) -> bool:
        """Whether other processes train with this one (and must stop when it stops)."""
        return self.name == "multi-worker"

    def scope(self) -> Any:
        """The context in which the model must be built and compiled."""
        return self.strategy.scope()

    def reporting(self, emit: Emit) -> Emit:
        """`emit` for this process's run: every event on the chief; on a cluster's other
        workers their phases and their end, no progress (the chief reports it)."""
        if self.is_chief:
            return emit

        def quiet(event: Event) -> None:
            if isinstance(event, (Phase, *TERMINAL_TYPES)):
                emit(event)

        return quiet

    def agree_to_stop(self, local: bool, step: int) -> bool:
        """Whether to stop after batch `step` (of the run), given this process's wish `local`.

        Outside a cluster this is just `local`. In a cluster every worker calls this after
        every batch; every AGREE_EVERY batches they exchange their wishes (one small
        all-reduce) and all stop if any wants to, so that a stop on one worker (Ctrl+C) never
        leaves the others waiting for ever in the next gradient exchange. Between those
        batches it is False.
        """
        if not self.multi_worker:
            return local
        if step % AGREE_EVERY:
            return False
        import tensorflow as tf

        if self._agree is None:
            strategy = self.strategy

            @tf.function
            def agree(flag: Any) -> Any:
                wanted = strategy.run(lambda: tf.identity(flag))
                return strategy.reduce(tf.distribute.ReduceOp.SUM, wanted, axis=None)

            self._agree = agree
        return bool(self._agree(tf.constant(1.0 if local else 0.0)).numpy() > 0)

    def adapt(self, model: Any) -> None:
        """Make a model built under this strategy trainable by `fit` (multi-worker only).

        Keras 3 (3.15) cannot `fit` under MultiWorkerMirroredStrategy
        (keras-team/keras#20585, tensorflow/tensorflow#72388): it builds the model from a
        batch averaged with `strategy.reduce`, which the collective strategy refuses for a
        tuple, and averages the replicas' scalar metrics along an axis 0 they do not have.
        So the model is built from the input's shape instead, and its train and test steps
        return their metrics with one axis (Keras then averages them into scalars).
        """
        if not self.multi_worker:
            return
        import tensorflow as tf

        strategy = self.strategy

        def symbolic_build(iterator: Any = None, data_batch: Any = None) -> None:
            example = (tf.zeros((1, *INPUT_SHAPE)), tf.zeros((1,), tf.int32))
            with strategy.scope():
                model._symbolic_build(data_batch=example)

        def with_axis(step: Any) -> Any:
            def ranked(data: Any) -> Any:
                return {k: tf.reshape(v, [1]) for k, v in step(model, data).items()}

            return ranked

        model._maybe_symbolic_build = symbolic_build
        model.train_step = with_axis(type(model).train_step)
        model.test_step = with_axis(type(model).test_step)


def read_tf_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`$TF_CONFIG` parsed and checked; raises StrategyError with an example when it is bad."""
    raw = environment.tf_config_text(environ)
    hint = f"set {TF_CONFIG_ENV} on every worker, e.g. {_TF_CONFIG_EXAMPLE}"
    if not raw.strip():
        raise StrategyError(f"the multi-worker strategy needs ${TF_CONFIG_ENV}; {hint}")
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StrategyError(f"${TF_CONFIG_ENV} is not valid JSON ({exc}); {hint}") from None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise StrategyError(f"${TF_CONFIG_ENV} needs a \"cluster\" and a \"task\"; {hint}")
    kind, index = task.get("type"), task.get("index")
    members = cluster.get(kind) if isinstance(kind, str) else None
    if not isinstance(members, list) or not isinstance(index, int) or not (
            0 <= index < len(members)):
        raise StrategyError(f"${TF_CONFIG_ENV}'s task {task} is not in its cluster; {hint}")
    return spec


def is_chief(spec: dict[str, Any]) -> bool:
    """Whether the `TF_CONFIG` task is the chief: the `chief` task, else worker 0."""
    task = spec["task"]
    if "chief" in spec["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def cluster_tasks(spec: dict[str, Any]) -> tuple[str, ...]:
    """The training tasks of a `TF_CONFIG` cluster as "type:index", chief first."""
    return tuple(f"{kind}:{i}" for kind in ("chief", "worker")
                 for i in range(len(spec["cluster"].get(kind, []))))


def split_cpu(count: int) -> None:
    """Make `count` logical CPU devices out of the first CPU (before TensorFlow starts)."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    if tf.config.get_logical_device_configuration(cpus[0]) == wanted:
        return
    try:
        tf.config.set_logical_device_configuration(cpus[0], wanted)
    except RuntimeError:
        raise StrategyError(
            f"${CPU_DEVICES_ENV}={count} must be set before TensorFlow starts in this process "
            "(start a new one)") from None


def _short(device: str) -> str:
    return device.rsplit("/device:", 1)[-1]


def _cpu_devices_wanted(environ: Mapping[str, str] | None) -> int:
    raw = environment.cpu_devices_text(environ)
    if not raw:
        return 0
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise StrategyError(f"${CPU_DEVICES_ENV} must be a whole number from 1 to 64, got {raw!r}")
    return int(raw)


def make_placement(name: str, environ: Mapping[str, str] | None = None) -> Placement:
    """Create the strategy `name` (see the module's docstring); call before any TF work.

    `environ` (default `os.environ`) is where the settings are read and checked; TensorFlow's
    multi-worker strategy itself reads `os.environ["TF_CONFIG"]`. Raises StrategyError for an
    unknown name, a bad `$TF_CONFIG` or `$MNIST_TUI_CPU_DEVICES`, or a TensorFlow that has
    already started in a way that cannot be changed.
    """
    import tensorflow as tf

    cpu_count = _cpu_devices_wanted(environ)
    if cpu_count:
        split_cpu(cpu_count)
    if name == "default":
        gpus = tf.config.list_logical_devices("GPU")
        device = gpus[0].name if gpus else tf.config.list_logical_devices("CPU")[0].name
        return Placement(name, tf.distribute.get_strategy(), (_short(device),))
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        return Placement(name, strategy, tuple(_short(d) for d in devices),
                         replicas=strategy.num_replicas_in_sync)
    if name == "multi-worker":
        spec = read_tf_config(environ)
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as exc:
            raise StrategyError(f"cannot start the multi-worker strategy: {exc}") from None
        task = spec["task"]
        return Placement(name, strategy, cluster_tasks(spec),
                         replicas=strategy.num_replicas_in_sync, is_chief=is_chief(spec),
                         task=f"{task['type']}:{task['index']}")
    raise StrategyError(f"unknown strategy {name!r}; use default, mirrored or multi-worker")
