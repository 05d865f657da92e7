"""Import hygiene: the UI never imports TensorFlow or Keras, so the form opens at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from mnist_tui.core.config import TrainConfig
from tests.helpers.recorded_runs import record_run


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


def test_watching_a_finished_run_shows_its_summary_without_numpy_or_the_charts(
        tmp_path: Path) -> None:
    """`mnist-tui watch` of a finished run goes straight to its summary, test digits and
    all, without importing numpy (its digits are drawn from their bytes), the charts, the
    monitor or the draw screen: each would delay the summary (benchmarks/watch_replay.py)."""
    run = record_run(tmp_path / "runs", "20250101-000000-aaaa", TrainConfig(epochs=2,
                                                                            train_size=2000))
    code = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        import mnist_tui.cli
        from mnist_tui.tui.app import MnistApp
        from mnist_tui.tui.screens.summary import SummaryScreen

        async def main():
            app = MnistApp(watch=Path({str(run)!r}))
            async with app.run_test(size=(120, 40)) as pilot:
                for _ in range(400):
                    await pilot.pause(0.05)
                    if isinstance(app.screen, SummaryScreen):
                        break
                await pilot.pause()
                cards = app.screen.query("DigitCard")
                print(type(app.screen).__name__, len(cards), str(cards.first().render())[:2])

        asyncio.run(main())
        later = ("numpy", "plotext", "textual_plotext", "mnist_tui.tui.screens.monitor",
                 "mnist_tui.tui.screens.draw", "mnist_tui.runs.driver")
        print(sorted(name for name in later if name in sys.modules))
    """)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False, env=env)
    assert result.returncode == 0, result.stderr
    shown, imported = result.stdout.strip().splitlines()
    assert shown == "SummaryScreen 2 ▀▀", result.stdout
    assert imported == "[]", f"imported to show a finished run's summary: {imported}"


def test_the_preload_begins_after_the_first_frame_and_tensorflow_stays_out_of_the_app(
        tmp_path: Path) -> None:
    """`mnist-tui` (preload on): nothing heavy before the form is drawn; then the run process
    starts, imports TensorFlow and traces a model for the form's settings while the form
    still moves its focus at every Tab; Enter trains that very model there, and the app's
    own process never imports TensorFlow or Keras."""
    code = textwrap.dedent("""
        import asyncio, sys
        from mnist_tui.core.config import TrainConfig
        from mnist_tui.tui.app import MnistApp

        def heavy():
            return sorted(n for n in ("numpy", "tensorflow", "keras") if n in sys.modules)

        async def until(pilot, done, what):
            for _ in range(2400):
                if done():
                    return
                await pilot.pause(0.05)
            raise AssertionError(f"timed out waiting for {what}")

        async def main():
            config = TrainConfig(train_size=1000, epochs=1, seed=4)
            app = MnistApp(config, preload=True, runs_dir=RUNS)
            started = []
            original = app._start_preload
            def start():
                # also called by the timer set at the run's end, which may fire while the
                # app shuts down with no screen left: read the stack, not `app.screen`
                screens = [type(screen).__name__ for screen in app.screen_stack[-1:]]
                started.append((screens[0] if screens else None, heavy()))
                original()
            app._start_preload = start
            async with app.run_test(size=(120, 40)) as pilot:
                await until(pilot, lambda: app.warm is not None, "the run process")
                moves = 0
                while app.warm.prepared is None:  # TensorFlow is being imported there
                    before = app.focused
                    await pilot.press("tab")
                    await pilot.pause(0.2)
                    moves += app.focused is not before
                    if moves > 200:
                        break
                await pilot.press("home")
                app.screen.query_one("#field-model").focus()
                await until(pilot, lambda: app.warm.prepared == config, "a prepared model")
                print("started", started[:1])
                print("moves", moves)
                await pilot.press("ctrl+s")
                await until(pilot, lambda: type(app.screen).__name__ == "SummaryScreen",
                            "the summary")
                print("ended", app.final_summary.status)
                print("output", (app.run_dir / "output.log").read_text().splitlines()[-1])
                print("heavy_after", heavy())

        asyncio.run(main())
    """).replace("RUNS", repr(str(tmp_path / "runs")))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path),
           "MNIST_TUI_DATA": os.environ["MNIST_TUI_TEST_DATA"]}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600, check=False, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["started"] == "[('FormScreen', [])]", "the preload began before the form"
    assert int(lines["moves"]) >= 1, "Tab moved the focus while TensorFlow was imported"
    assert lines["ended"] == "finished"
    assert lines["output"] == "mnist-tui: models prepared ahead 1, trained 1"
    assert "tensorflow" not in lines["heavy_after"] and "keras" not in lines["heavy_after"]


def test_tensorflow_is_imported_without_jax_or_ipython_which_stay_importable() -> None:
    """TensorFlow's import would pull in JAX (its TFLite helpers) and IPython (Keras's
    saving module) when installed, for nothing a run uses: `import_keras` makes them absent
    while it imports, then a later import of either works as usual."""
    code = textwrap.dedent("""
        import importlib.util, sys
        from mnist_tui.training.keras_runtime import import_keras
        import_keras()
        print(sorted(name for name in ("jax", "IPython") if name in sys.modules))
        installed = [name for name in ("jax", "IPython") if importlib.util.find_spec(name)]
        for name in installed:
            __import__(name)
        print(len(installed), all(sys.modules.get(name) is not None for name in installed))
    """)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=180, check=False, env=env)
    assert result.returncode == 0, result.stderr
    imported, later = result.stdout.strip().splitlines()
    assert imported == "[]", f"TensorFlow's import pulled in {imported}"
    count, importable = later.split()
    assert int(count) >= 1 and importable == "True", later  # the test extra installs JAX
