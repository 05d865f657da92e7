"""The app as `mnist-tui serve` draws it, and the same screens in a terminal.

In a terminal the summary offers no downloads (there is no browser to hand a file to); the
app of a browser tab (`OutOfProcessApp`) has its form's Detach box ticked for good. The
downloads themselves and the detached runs are tested in a real browser
(tests/e2e/test_serve_browser.py).
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Checkbox, Footer
from textual.widgets._footer import FooterKey

from mnist_tui.runs.listing import RunInfo
from mnist_tui.tui.out_of_process import OutOfProcessApp
from mnist_tui.tui.screens.downloads import csv_name
from tests.helpers.summary_app import Host, make_evaluated, make_summary


async def test_in_a_terminal_the_summary_offers_no_downloads() -> None:
    app = Host(make_summary(model_path="runs/r/model.keras"), make_evaluated())
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert not app.is_web
        assert app.screen.check_action("download_csv", ()) is False
        assert app.screen.check_action("download_model", ()) is False
        assert app.screen.check_action("draw", ()) is True
        await pilot.press("x", "m")
        await pilot.pause()
        assert not app._notifications  # nothing said, nothing sent
        shown = [key.description for key in app.screen.query_one(Footer).query(FooterKey)]
        assert "Train again" in shown and "Draw" in shown
        assert not [d for d in shown if "Download" in d]


async def test_the_browser_app_always_detaches_its_runs(tmp_path: Path) -> None:
    app = OutOfProcessApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        box = app.screen.query_one("#detach", Checkbox)
        assert box.value and box.disabled
        assert "closing the browser tab leaves them training" in str(box.tooltip)
        assert app.detach


def test_csv_names_say_whose_metrics() -> None:
    one = RunInfo("20250101-120000-abcd", Path("/r/a"), {}, None)
    two = RunInfo("20250102-120000-efgh", Path("/r/b"), {}, None)
    assert csv_name([one]) == "mnist-tui-20250101-120000-abcd.csv"
    assert csv_name([one, two]) == "mnist-tui-2-runs.csv"
