"""The Textual front end: the app, its screens, widgets and the state of the run it shows.

`app` (screens and the training worker), `leaving` (quit, SIGTERM, hang-up), `commands`
(palette), `keys` (shared bindings), `themes` and `theming`; `screens/`, `widgets/` and
`state/` below.

May import: the layers below (core, training, runs), textual, textual-plotext and rich.
Never Keras or TensorFlow: they take seconds to import, and the form is on screen first.
"""
