"""A real `mnist-tui serve` process and a real headless Chromium on it (Selenium).

The browser is Debian's `chromium` driven by its `chromium-driver` (`.ci/run` installs both);
Selenium is pointed at them, so nothing is downloaded. WebGL is turned off so that xterm.js
draws the app's cells as DOM text: the tests read the screen as a person sees it
(`Tab.text`), click cells and type keys, and save screenshots.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.helpers.live_processes import wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = "MNIST_TUI_BROWSER_SHOTS"  # a folder to keep the screenshots in (else tmp_path)
WAIT_SECONDS = 240.0  # a safety net against a hang, never a measure of speed


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        return (f"needs Debian's chromium and chromium-driver ({', '.join(missing)} missing): "
                "apt-get install chromium chromium-driver, as .ci/run does")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium: pip install -e '.[test]'"
    return None


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """`python -m mnist_tui serve` on a free port, its output read all the time."""

    def __init__(self, runs_dir: Path, env: dict[str, str], *flags: str) -> None:
        self.port = free_port()
        self.runs_dir = runs_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mnist_tui", "serve", "--port", str(self.port),
             "--runs-dir", str(runs_dir), *flags],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_until(lambda: self.url or self.proc.poll() is not None, "serve printed its URL")
        assert self.url, "".join(self.lines)
        self.process = psutil.Process(self.proc.pid)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def url(self) -> str | None:
        """The URL serve printed (the token in it), once printed."""
        for line in self.lines:
            found = re.search(r"open (http://\S+)", line)
            if found:
                return found.group(1)
        return None

    @property
    def token(self) -> str:
        assert self.url
        return self.url.split("token=", 1)[1]

    def children(self) -> list[psutil.Process]:
        """Every process the server started, and theirs (app processes, runs)."""
        try:
            return self.process.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def app_processes(self) -> list[psutil.Process]:
        """The app processes (one per open tab). A run an app is starting is, until its
        exec, a copy of the app with the app's command line: it is not counted."""
        apps = []  # (process, its parent's pid), read while it lives
        for child in self.children():
            with contextlib.suppress(psutil.Error):  # it may end while it is looked at
                if "--detach-runs" in child.cmdline():
                    apps.append((child, child.ppid()))
        pids = {app.pid for app, _ in apps}
        return [app for app, parent in apps if parent not in pids]

    def close(self) -> None:
        """Stop the server (SIGTERM), then anything it left (runs of a failed test)."""
        leftovers = self.children()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for child in leftovers:
            with contextlib.suppress(psutil.Error):
                child.kill()


class Browser:
    """Headless Chromium with tabs on a served app; downloads go to `downloads`."""

    def __init__(self, downloads: Path, shots: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--window-size=1280,760", "--disable-3d-apis"):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
        })
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {
            "behavior": "allow", "downloadPath": str(downloads), "eventsEnabled": False})
        self.downloads = downloads
        self.shots = shots

    def open(self, url: str, *, new_tab: bool = False) -> Tab:
        """Open `url` (in a new tab if asked) and return that tab."""
        if new_tab:
            self.driver.switch_to.new_window("tab")
        self.driver.get(url)
        return Tab(self, self.driver.current_window_handle)

    def quit(self) -> None:
        self.driver.quit()


class Tab:
    """One browser tab with the app in it."""

    def __init__(self, browser: Browser, handle: str) -> None:
        self.browser = browser
        self.driver: Any = browser.driver
        self.handle = handle

    def focus(self) -> Tab:
        """Make this the tab the driver talks to."""
        if self.driver.current_window_handle != self.handle:
            self.driver.switch_to.window(self.handle)
        return self

    def text(self) -> str:
        """The app's screen as text, row by row (what xterm.js shows)."""
        self.focus()
        return str(self.driver.execute_script(
            "const rows = document.querySelector('.xterm-rows');"
            "return rows ? rows.innerText : '';"))

    def page_text(self) -> str:
        """The page's own text (a refusal, a full server)."""
        self.focus()
        return str(self.driver.execute_script("return document.body.innerText;"))

    def wait_for(self, pattern: str, what: str | None = None,
                 seconds: float = WAIT_SECONDS) -> re.Match[str]:
        """Wait until the screen shows `pattern` (a regular expression); its match."""
        deadline = time.monotonic() + seconds
        while True:
            found = re.search(pattern, self.text())
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"the tab never showed {what or pattern!r}; it shows:\n"
                                     f"{self.text()}")
            time.sleep(0.1)

    def screenshot(self, name: str) -> Path:
        """Save what the tab shows as NAME.png (in $MNIST_TUI_BROWSER_SHOTS if set)."""
        self.focus()
        path = self.browser.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def _cell(self, row_pattern: str, column: int) -> tuple[Any, int]:
        """The row element showing `row_pattern` and the x offset (from its centre) of
        `column`."""
        from selenium.webdriver.common.by import By

        for row in self.driver.find_elements(By.CSS_SELECTOR, ".xterm-rows > div"):
            text = row.text
            if re.search(row_pattern, text):
                width = row.size["width"]
                columns = len(self.driver.execute_script("return arguments[0].innerText;", row))
                return row, int(-width / 2 + (column + 0.5) * width / max(columns, 1))
        raise AssertionError(f"no row shows {row_pattern!r}:\n{self.text()}")

    def click(self, row_pattern: str, column: int) -> None:
        """Click the cell at `column` of the row that shows `row_pattern`."""
        from selenium.webdriver.common.action_chains import ActionChains

        self.focus()
        row, x = self._cell(row_pattern, column)
        ActionChains(self.driver).move_to_element_with_offset(row, x, 0).click().perform()

    def keys(self, *keys: str, ctrl: bool = False) -> None:
        """Type `keys` (Selenium's Keys for special ones), with Ctrl held if asked."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        self.focus()
        self.driver.execute_script(  # the keys go to the terminal, as after a click on it
            "const input = document.querySelector('.xterm-helper-textarea');"
            "if (input && document.activeElement !== input) input.focus();")
        chain = ActionChains(self.driver)
        if ctrl:
            chain.key_down(Keys.CONTROL)
        chain.send_keys(*keys)
        if ctrl:
            chain.key_up(Keys.CONTROL)
        chain.perform()

    def enter(self) -> None:
        """Press Enter."""
        from selenium.webdriver.common.keys import Keys

        self.keys(Keys.ENTER)

    def set_field(self, label: str, value: str) -> None:
        """Type `value` into the form's field `label` (its input starts at column 19), at a
        person's pace: keys sent in one burst right after the click could land before the
        field has the focus."""
        shown = rf" {re.escape(label)}\s+{re.escape(value)}\s"
        for _ in range(3):
            self.click(rf"^ {re.escape(label)}\s", 21)
            for keys, ctrl in (("a", True), ("k", True), (value, False)):  # start, cut, type
                time.sleep(0.3)
                self.keys(keys, ctrl=ctrl)
            with contextlib.suppress(AssertionError):
                self.wait_for(shown, f"{label} {value}", seconds=10)
                return
        self.wait_for(shown, f"{label} {value}", seconds=0)

    def close(self) -> None:
        """Close this tab (its app process ends; the driver moves to another tab)."""
        self.focus()
        self.driver.close()
        handles = self.driver.window_handles
        if handles:
            self.driver.switch_to.window(handles[0])


def shots_folder(tmp_path: Path) -> Path:
    """Where screenshots go: $MNIST_TUI_BROWSER_SHOTS (kept for looking at), else tmp_path."""
    folder = Path(os.environ.get(SHOTS) or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def served(runs_dir: Path, env: dict[str, str], *flags: str) -> Iterator[Served]:
    """A `mnist-tui serve` process for the length of the block."""
    server = Served(runs_dir, env, *flags)
    try:
        yield server
    finally:
        server.close()
