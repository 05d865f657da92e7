"""The input pipeline: MNIST as `tf.data` datasets of uint8 images, scaled inside the graph.

The images stay uint8 (a quarter of the memory of float32 copies) and are cast and divided by
255 per batch inside the dataset, so the model keeps exactly the seed's layers. Choices, each
measured on a 2-core CPU (see the README's speed section):

- The training batches come in Keras's own order: the dataset is made by the adapter that
  `model.fit` itself uses for arrays (a permutation of the indices drawn each epoch from
  TensorFlow's global seed, one vectorised gather per batch). So with a seed the trainer
  computes exactly what a plain `fit` on float NumPy arrays computes, and the gather costs
  less CPU than tf.data's per-image shuffle. (Under a global seed that permutation is the
  same every epoch, in plain `fit` too; without a seed it is new every epoch.) Should a Keras
  release move that private class, a tf.data shuffle over the whole set takes its place.
- tf.data's autotuner is switched off. Its model thread made the destruction of an iterator
  wait up to ~5 s at random, which is why `model.fit` sometimes returned seconds after
  `on_train_end` (gdb: `~RootDataset::Iterator` waiting on `Model::OptimizeLoop`). Fixed
  prefetch depths do as well here.

TensorFlow is imported only inside the functions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mnist_tui.core.config import TrainConfig
from mnist_tui.training.data import IMAGE_SIDE, MnistData

EVAL_BATCH_SIZE = 1024  # validation and test evaluation: the metrics are the same at any batch
# size, and 1024 images per call make an epoch's validation pass ~5x cheaper than 64 do
PREFETCH_BATCHES = 2  # batches made ahead of the model by a background thread


def scale_images(images: Any, labels: Any = None) -> Any:
    """uint8 (N, 28, 28) → float32 (N, 28, 28, 1) in 0..1, inside the graph; labels pass."""
    import tensorflow as tf

    scaled = tf.expand_dims(tf.cast(images, tf.float32) / 255.0, -1)
    return scaled if labels is None else (scaled, labels)


def dataset_options(shard_by_data: bool = False) -> Any:
    """`tf.data.Options` for every dataset here: no autotuner, deterministic order.

    `shard_by_data` makes a multi-worker strategy split each batch's elements between the
    workers (every worker builds the same, identically shuffled dataset).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    if shard_by_data:
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
    return options


def train_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int,
                  shard_by_data: bool = False, keras_order: bool = True) -> Any:
    """Batches of (scaled images, int32 labels) in a shuffled order; the last batch smaller.

    `keras_order` draws the order as `model.fit` does for arrays (see the module's
    docstring); without it, or without that Keras class, a tf.data shuffle draws it.
    """
    import tensorflow as tf

    labels = labels.astype(np.int32)
    adapter = _keras_array_adapter() if keras_order else None
    if adapter is not None:
        data = adapter(images, labels, batch_size=batch_size, shuffle=True).get_tf_dataset()
    else:
        data = (tf.data.Dataset.from_tensor_slices((images, labels))
                .shuffle(len(labels), reshuffle_each_iteration=True)
                .batch(batch_size))
    batches = math.ceil(len(labels) / batch_size)  # told to Keras, which cannot see it here
    return (data.map(scale_images)
            .apply(tf.data.experimental.assert_cardinality(batches))
            .prefetch(PREFETCH_BATCHES)
            .with_options(dataset_options(shard_by_data)))


def _keras_array_adapter() -> Any:
    """Keras's adapter for arrays (private, so looked up with care), or None."""
    try:
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    except ImportError:
        return None
    return ArrayDataAdapter


def eval_dataset(images: np.ndarray, labels: np.ndarray | None = None,
                 batch_size: int = EVAL_BATCH_SIZE, shard_by_data: bool = False) -> Any:
    """Batches of scaled images (with int32 labels when given), in order."""
    import tensorflow as tf

    if labels is None:
        data = tf.data.Dataset.from_tensor_slices(images)
    else:
        data = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    return (data.batch(batch_size)
            .map(scale_images)
            .prefetch(PREFETCH_BATCHES)
            .with_options(dataset_options(shard_by_data)))


def empty_dataset(batch_size: int) -> Any:
    """No batches, shaped as the training and validation batches are: calling a step on it
    traces the step without running it (`warmup.py`)."""
    images = np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8)
    return eval_dataset(images, np.zeros(0, np.uint8), batch_size)


def make_datasets(config: TrainConfig, data: MnistData,
                  shard_by_data: bool = False) -> tuple[Any, Any]:
    """The training and validation datasets of `config`: the first `train_size` images,
    the last `validation_split` of them held out (as Keras's `validation_split` does),
    validated `EVAL_BATCH_SIZE` images at a time.

    The training order comes from TensorFlow's global seed (`keras.utils.set_random_seed`).
    """
    split = config.train_samples
    x = data.x_train[: config.train_size]
    y = data.y_train[: config.train_size]
    return (train_dataset(x[:split], y[:split], config.batch_size, shard_by_data),
            eval_dataset(x[split:], y[split:], EVAL_BATCH_SIZE, shard_by_data))
