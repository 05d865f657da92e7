"""mnist-tui: train the TensorFlow.js MNIST CNN with Keras and watch it learn in the terminal."""

__version__ = "0.1.0"
