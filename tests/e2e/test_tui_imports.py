"""Import hygiene: the UI never imports TensorFlow or Keras, so the form opens at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def test_importing_every_tui_module_leaves_tensorflow_and_keras_out(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import importlib, pkgutil, sys
        import mnist_tui.tui as tui
        names = sorted(m.name for m in pkgutil.iter_modules(tui.__path__, "mnist_tui.tui."))
        for name in names:
            importlib.import_module(name)
        from mnist_tui.tui.app import MnistApp
        MnistApp()  # building the app (themes, screens) must not pull them in either
        heavy = sorted(m for m in sys.modules
                       if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
        print(len(names), heavy)
    """)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False, env=env)
    assert result.returncode == 0, result.stderr
    count, heavy = result.stdout.strip().split(" ", 1)
    assert int(count) >= 6, "expected the app, form, monitor, history, charts, messages..."
    assert heavy == "[]", f"TUI imports pulled in {heavy}"


def test_the_form_is_drawn_before_what_it_does_not_need_is_imported(tmp_path: Path) -> None:
    """`mnist-tui` shows the form first: numpy, plotext, the other screens and the run
    machinery are imported when a run or a screen needs them (benchmarks/first_frame.py)."""
    code = textwrap.dedent("""
        import asyncio, sys
        import mnist_tui.cli
        from mnist_tui.tui.app import MnistApp
        from mnist_tui.tui.screens.form import FormScreen

        async def main():
            app = MnistApp()
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause()
                assert isinstance(app.screen, FormScreen)
                await pilot.press("down")  # the form answers keys; the footer is drawn
                await pilot.pause()

        asyncio.run(main())
        later = ("numpy", "plotext", "textual_plotext", "mnist_tui.tui.screens.monitor",
                 "mnist_tui.tui.screens.summary", "mnist_tui.tui.screens.runs",
                 "mnist_tui.tui.commands",
                 "mnist_tui.tui.screens.compare", "mnist_tui.runs.driver", "mnist_tui.runs.resume",
                 "mnist_tui.training.data")
        print(sorted(name for name in later if name in sys.modules))
    """)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"imported before they were needed: {result.stdout}"
