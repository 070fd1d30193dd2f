"""`minigpt studio --serve`: this machine only unless told, and the studio working in a real
browser (headless Chromium driven by Playwright) through textual-serve."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.cli import main
from tui.cli.parsers import build_parser
from tui.cli.serve import is_local, public_url, studio_command


def _one_line_error(capsys, code: int, pattern: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert pattern in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("host", "local"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True)]
    + [("0.0.0.0", False), ("192.168.1.5", False), ("studio.example", False)],
)
def test_only_loopback_hosts_count_as_local(host, local) -> None:
    assert is_local(host) is local


def test_a_host_others_can_reach_needs_allow_remote(capsys) -> None:
    code = main(["studio", "--serve", "--host", "0.0.0.0"])
    _one_line_error(capsys, code, "add --allow-remote")


def test_allow_remote_serves_with_a_warning(capsys, monkeypatch) -> None:
    pytest.importorskip("textual_serve", reason="textual-serve is not installed")
    monkeypatch.setattr("textual_serve.server.Server.serve", lambda self: None)
    assert main(["studio", "--serve", "--host", "0.0.0.0", "--allow-remote"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("warning: serving the studio on http://")
    assert "anyone who opens it can train, load and delete runs" in said


def test_a_taken_port_is_one_line(tmp_path) -> None:
    pytest.importorskip("textual_serve", reason="textual-serve is not installed")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        # a process of its own: serving installs signal handlers and logging for good
        done = subprocess.run(
            [sys.executable, "-m", "tui.cli", "studio", "--serve", "--port", port],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
    err = done.stderr.strip()
    assert done.returncode == 2 and len(err.splitlines()) == 1, err
    assert "choose another --port or --host" in err


def test_host_and_port_need_serve(capsys) -> None:
    _one_line_error(capsys, main(["studio", "--port", "9000"]), "only apply with --serve")


def test_a_port_past_65535_is_refused(capsys) -> None:
    _one_line_error(capsys, main(["studio", "--serve", "--port", "70000"]), "65535")


def test_every_interface_is_shown_by_this_machines_name() -> None:
    assert public_url("0.0.0.0", 8000) == f"http://{socket.getfqdn()}:8000"
    assert public_url("::1", 8000) == "http://[::1]:8000"


def test_each_tab_runs_the_studio_with_the_same_flags() -> None:
    args = build_parser().parse_args(
        ["studio", "--serve", "--preset", "tiny", "--data", "my corpus.txt", "--threads", "1"]
    )
    argv = shlex.split(studio_command(args))
    assert argv[:4] == [sys.executable, "-m", "tui.cli", "studio"]
    again = build_parser().parse_args(argv[3:])
    assert (again.preset, again.data, again.threads, again.serve) == (
        "tiny",
        "my corpus.txt",
        1,
        False,
    )


# --- the real browser ---------------------------------------------------------------------

# textual-serve's page keeps its xterm.js terminal in a closure; the test's copy of the script
# also hands it to the page, so the test reads the characters the page shows (not just pixels)
EXPOSE = ("this.terminal=new ", "this.terminal=window.minigptTerminal=new ")
SCREEN = """() => {
    const terminal = window.minigptTerminal;
    if (!terminal) return "";
    const buffer = terminal.buffer.active, rows = [];
    for (let row = 0; row < terminal.rows; row++) {
        const line = buffer.getLine(buffer.viewportY + row);
        rows.push(line ? line.translateToString(true) : "");
    }
    return rows.join("\\n");
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with code {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {timeout:.0f} s")


def _wait_for_text(page, shots: Path, *texts: str, timeout: float = 120.0) -> str:
    """The page's screen once it shows every one of `texts`; on a timeout, what it showed
    instead (and a screenshot of it beside the test's other output)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = page.evaluate(SCREEN)
        if all(text in screen for text in texts):
            return screen
        page.wait_for_timeout(200)
    page.screenshot(path=str(shots / "studio-in-browser-failed.png"))
    raise AssertionError(f"{texts} never appeared in the page together; it shows:\n{screen}")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip("no chromium executable on PATH (Debian: apt-get install chromium)")


# holds every character of the studio's default prompt, so Generate continues it
CORPUS = (
    "JULIET.\nO Romeo, Romeo, wherefore art thou Romeo?\n\n"
    "ROMEO.\nBut soft, what light through yonder window breaks?\n\n"
) * 12


@pytest.mark.slow
def test_studio_trains_and_generates_in_a_real_browser(tmp_path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    chromium = _chromium()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS)
    port = _free_port()
    command = ["studio", "--serve", "--port", str(port), "--preset", "tiny"]
    command += ["--data", str(corpus), "--threads", "1"]
    server = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *command],
        cwd=tmp_path,  # the runs land in tmp_path/checkpoints
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its studios and their training children go with it
    )
    try:
        said = server.stdout.readline()
        assert f"serving the studio on http://127.0.0.1:{port} (this machine only" in said
        _wait_for_port(port, server)
        with sync_api.sync_playwright() as playwright:
            try:
                browser = playwright.chromium.launch(
                    executable_path=chromium, headless=True, args=["--no-sandbox"]
                )
            except sync_api.Error as error:
                pytest.skip(f"Chromium cannot start here: {str(error).splitlines()[0]}")
            try:
                _drive(browser, f"http://127.0.0.1:{port}/", tmp_path)
            finally:
                browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        server.stdout.close()
    runs = [path for path in (tmp_path / "checkpoints").iterdir() if path.is_dir()]
    assert len(runs) == 1 and (runs[0] / "checkpoint.json").is_file()


def _drive(browser, url: str, shots: Path) -> None:
    """Train a tiny run and generate a token from it, by keys, as a person would."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})

    def expose_terminal(route) -> None:
        script = route.fetch().text()
        assert EXPOSE[0] in script, "textual-serve's page no longer builds its terminal so"
        route.fulfill(body=script.replace(*EXPOSE, 1), content_type="application/javascript")

    page.route(re.compile(r".*/static/js/textual\.js$"), expose_terminal)
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1).*"), lambda route: route.abort())
    page.goto(url, wait_until="domcontentloaded")
    _wait_for_text(page, shots, "a step needs")  # the Train screen and its form have drawn
    page.click("#terminal")
    page.keyboard.press("t")
    finished = _wait_for_text(page, shots, "✓ finished")
    assert re.search(r"step (\d+)/\1", finished)
    page.keyboard.press("w")  # the weights just trained, into Generate
    page.keyboard.press("2")
    # the run just saved, by its folder name, loaded and ready to step
    _wait_for_text(page, shots, "trained studio-tiny-", "0 tokens generated")
    page.keyboard.press("Space")
    generate = _wait_for_text(page, shots, "1 tokens generated")
    assert "next token: the ranked vocabulary" in generate
    assert "│ JULIET." in generate  # the prompt, continued in the generated text
    screenshot = shots / "studio-in-browser.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000
