"""Pure logic on generated data: no Textual app, no Keras, no mnist-tui process."""
