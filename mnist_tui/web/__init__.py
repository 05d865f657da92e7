"""The browser front end: the app served to a browser tab by textual-serve, behind a token.

`access` decides who may come in (a token printed at start, the Host header, loopback peers);
`server` is textual-serve's aiohttp server with those checks in front of every request and
websocket and a cap on the app processes it starts. It starts the app as a command line,
so it imports nothing of the TUI; `mnist_tui.serve_cli` (entry) builds that command.
May import `core`; aiohttp and textual-serve.
"""
