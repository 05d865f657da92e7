"""The vocabulary every layer speaks: hyperparameters, events, the run summary, errors.

Holds `TrainConfig` and its presets, the events of a run and their JSON form, the immutable
`RunSummary`, the `Controller` a run obeys, number formats, strict JSON and TOML files,
what a folder that cannot be written means (`storage`), and every environment variable
mnist-tui reads (`environment`).

May import: the standard library and numpy. Never TensorFlow, Keras, Textual or rich, and
nothing else of mnist_tui (checked by import-linter, see pyproject.toml).
"""
