"""End to end: real Keras on slices of the real MNIST, TensorFlow, mnist-tui processes."""
