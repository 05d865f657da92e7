"""Training: MNIST, the model, the input pipeline, the trainer and its Keras callback.

Holds the data lookup and check, the seed's network, precision and devices, learning-rate
schedules and epoch rules, the trainer, the one translation from Keras to events (`bridge`,
which `MonitorCallback` shares) and the hooks it runs between two executions (checkpoints,
live predictions, system load, the learning rate set on the fly, TensorBoard, divergence),
and the warmup that gets a run ready before it is asked for (`warmup`).

May import: `mnist_tui.core`; Keras and TensorFlow only inside the functions that need them
(through `keras_runtime`), or at the top of modules that are themselves imported only once
Keras is loaded (`bridge`). Never the run folders, a front end, Textual or rich.
"""
