"""Self-contained widgets the screens compose: charts, progress, digits, the canvas, logs.

A widget knows nothing of screens or of the app; its CSS is its own `DEFAULT_CSS`.
"""
