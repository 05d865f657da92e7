"""The tests, by kind: unit/ (pure logic on generated data), tui/ (Textual Pilot and snapshot
tests with fake event sources), e2e/ (real Keras, TensorFlow, and mnist-tui processes); shared
helpers in helpers/. A package, so that `tests.helpers` imports the same from any folder."""
