"""The seed's network and optimizer in a plain PyTorch loop, the reference to time against.

The same layers as `mnist_tui.training.model.build_model` for the default config (valid 3x3
convolutions 16/32/32 with ReLU, 2x2 max pools, dense 64 ReLU, dense 10; 33,194 weights),
initialised as Keras does (Glorot-uniform kernels, zero biases), trained with RMSprop as Keras
computes it, on the same slice and validation split, shuffled every epoch. A config with
precision "bfloat16" runs forward passes and the loss under `torch.autocast("cpu",
dtype=torch.bfloat16)`, PyTorch's own mixed precision: weights, gradients and the optimizer
stay float32, convolutions and matrix products run in bfloat16, the loss in float32 (autocast's
rule for cross-entropy). PyTorch is an optional extra (`pip install 'mnist-tui[bench]'`, i.e.
torch==2.13.0); this module imports it only inside its functions.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mnist_tui.core.config import TrainConfig
from mnist_tui.training.data import MnistData

EVAL_BATCH_SIZE = 1024
KERAS_RHO = 0.9
KERAS_EPSILON = 1e-7


def torch_available() -> bool:
    """Whether PyTorch can be imported here (it is an optional benchmark extra)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def build_torch_model(config: TrainConfig) -> Any:
    """The seed's convnet as a `torch.nn.Sequential`, initialised like Keras's defaults."""
    import torch
    from torch import nn

    k = config.kernel_size
    side = ((28 - k + 1) // 2 - k + 1) // 2 - k + 1
    model = nn.Sequential(
        nn.Conv2d(1, config.conv1_filters, k), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(config.conv1_filters, config.conv2_filters, k), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(config.conv2_filters, config.conv3_filters, k), nn.ReLU(), nn.Flatten(),
        nn.Linear(side * side * config.conv3_filters, config.dense_units), nn.ReLU(),
        nn.Linear(config.dense_units, 10),
    )
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
    return model


def keras_rmsprop(params: Any, lr: float, rho: float = KERAS_RHO,
                  epsilon: float = KERAS_EPSILON) -> Any:
    """RMSprop with Keras's arithmetic: `w -= lr * g / sqrt(v + eps)`.

    PyTorch's own RMSprop adds eps outside the square root (`sqrt(v) + eps`) and defaults to
    rho 0.99, so it would not be the same optimizer; this one uses PyTorch's fused list ops.
    """
    import torch

    class KerasRMSprop(torch.optim.Optimizer):
        """Keras's RMSprop (no momentum, not centred) as a PyTorch optimizer."""

        def __init__(self) -> None:
            super().__init__(params, {"lr": lr, "rho": rho, "eps": epsilon})
            for group in self.param_groups:
                group["velocities"] = [torch.zeros_like(p) for p in group["params"]]

        @torch.no_grad()
        def step(self, closure: Any = None) -> None:
            for group in self.param_groups:
                weights = [p for p in group["params"] if p.grad is not None]
                grads = [p.grad for p in weights]
                velocities = [v for p, v in zip(group["params"], group["velocities"],
                                                strict=True) if p.grad is not None]
                torch._foreach_mul_(velocities, group["rho"])
                torch._foreach_addcmul_(velocities, grads, grads, value=1 - group["rho"])
                denominators = torch._foreach_add(velocities, group["eps"])
                torch._foreach_sqrt_(denominators)
                torch._foreach_addcdiv_(weights, grads, denominators, value=-group["lr"])

    return KerasRMSprop()


def train_torch(config: TrainConfig, data: MnistData, threads: int = 2) -> dict[str, Any]:
    """Train and test `config` with PyTorch; return images/s and accuracies.

    Images/s counts training images over the seconds from the first batch to the end of the
    last epoch's validation pass, as the trainer's `samples_per_second` does.
    `config.precision` "bfloat16" trains under autocast (see the module); "auto" is refused.
    """
    import torch
    import torch.nn.functional as F

    if config.precision not in ("float32", "bfloat16"):
        raise ValueError(f"the PyTorch loop trains in float32 or bfloat16, not "
                         f"{config.precision!r}")
    bf16 = config.precision == "bfloat16"

    def autocast() -> Any:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    torch.set_num_threads(threads)
    if config.seed is not None:
        torch.manual_seed(config.seed)
    split = config.train_samples
    x = torch.from_numpy(data.x_train[: config.train_size]).float().div_(255.0).unsqueeze(1)
    y = torch.from_numpy(data.y_train[: config.train_size].astype(np.int64))
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    model = build_torch_model(config)
    optimizer = keras_rmsprop(model.parameters(), config.learning_rate)

    def evaluate(images: Any, labels: Any) -> tuple[float, float]:
        model.eval()
        loss_sum, correct = 0.0, 0
        with torch.no_grad(), autocast():
            for i in range(0, len(labels), EVAL_BATCH_SIZE):
                out = model(images[i:i + EVAL_BATCH_SIZE])
                target = labels[i:i + EVAL_BATCH_SIZE]
                loss_sum += F.cross_entropy(out, target, reduction="sum").item()
                correct += (out.argmax(1) == target).sum().item()
        model.train()
        return loss_sum / len(labels), correct / len(labels)

    start = time.perf_counter()
    loss_sum = correct = 0.0
    val_loss = val_acc = float("nan")
    for _ in range(config.epochs):
        order = torch.randperm(split)
        loss_sum = correct = 0.0
        for i in range(0, split, config.batch_size):
            idx = order[i:i + config.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            with autocast():
                out = model(xb)
                loss = F.cross_entropy(out, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            # What a monitor would read each batch: the loss and the hits.
            loss_sum += loss.item() * len(yb)
            correct += (out.argmax(1) == yb).sum().item()
        val_loss, val_acc = evaluate(x_val, y_val)
    seconds = time.perf_counter() - start
    x_test = torch.from_numpy(data.x_test).float().div_(255.0).unsqueeze(1)
    test_loss, test_acc = evaluate(x_test, torch.from_numpy(data.y_test.astype(np.int64)))
    return {"images_per_s": split * config.epochs / seconds, "seconds": seconds,
            "train_loss": loss_sum / split, "train_accuracy": correct / split,
            "val_accuracy": val_acc, "val_loss": val_loss, "test_accuracy": test_acc,
            "test_loss": test_loss, "bf16": bf16}
