"""The studio in a real terminal: start it in tmux, send keys, read the screen, quit cleanly."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class TmuxStudio:
    """One detached tmux session running `python -m tui`."""

    def __init__(self, cwd: Path, args: list[str], size: tuple[int, int] = (120, 40)) -> None:
        self.name = f"studio-test-{uuid.uuid4().hex[:8]}"
        self.exit_file = cwd / "exit-code"
        # a running tmux server gives the command its own environment, not this process's:
        # `env` sets PYTHONPATH inside the command, so it runs this checkout, and drops any
        # COLUMNS/LINES there (pytest's process has 80x24 ones), so the studio sizes to the pane
        command = shlex.join(
            ["env", "-u", "COLUMNS", "-u", "LINES", f"PYTHONPATH={ROOT}", sys.executable]
            + ["-m", "tui", *args]
        )
        subprocess.run(
            [
                "tmux", "new-session", "-d", "-s", self.name, "-x", str(size[0]),
                "-y", str(size[1]), "-c", str(cwd),
                f"{command}; echo $? > {shlex.quote(str(self.exit_file))}; sleep 30",
            ],
            check=True,
        )  # fmt: skip

    def screen(self) -> str:
        result = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return result.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    async def wait_for(self, text: str, timeout: float = 40.0) -> str:
        return await self.wait_until(lambda screen: text in screen, repr(text), timeout)

    async def wait_until(
        self, shows: Callable[[str], bool], what: str = "the screen", timeout: float = 40.0
    ) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            screen = self.screen()
            if shows(screen):
                return screen
            if loop.time() > deadline:
                raise AssertionError(f"{what} did not appear; the screen shows:\n{screen}")
            await asyncio.sleep(0.1)

    async def wait_exit(self, timeout: float = 40.0) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.exit_file.exists() or not self.exit_file.read_text().strip():
            if loop.time() > deadline:
                raise AssertionError(f"the studio did not exit; the screen shows:\n{self.screen()}")
            await asyncio.sleep(0.1)
        return int(self.exit_file.read_text())

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


async def test_studio_in_a_real_terminal(tmp_path, studio_corpus, tiny_checkpoint):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(studio_corpus)
    (tmp_path / "checkpoints").mkdir()  # training writes here, not into the project
    args = ["--preset", "tiny", "--data", str(corpus), "--checkpoint", str(tiny_checkpoint)]
    studio = TmuxStudio(tmp_path, args)
    try:
        await studio.wait_for("Press t to train")  # written after the first refresh
        # as typed, each step seen on screen before the next: tab (from the samples) to steps,
        # clear it, type the new count (a burst of keys can reach the app out of order)
        studio.keys("Tab", "Tab", "Tab")
        await asyncio.sleep(0.2)
        studio.keys("C-u")
        await studio.wait_until(lambda screen: re.search(r"│ steps +│", screen) is not None)
        studio.keys("1000000")
        await studio.wait_for("steps         1000000")
        studio.keys("Enter")
        await asyncio.sleep(0.2)
        studio.keys("t")
        screen = await studio.wait_for("▶ training")
        await studio.wait_for("/1000000")

        studio.keys("2")  # generation keeps working while the model trains
        await studio.wait_for("choices (uniform")  # the checkpoint is loaded, the prompt read
        studio.keys("space")
        screen = await studio.wait_for("last step:")
        assert "1 tokens generated" in screen and "KV cache" in screen

        studio.keys("3")
        await studio.wait_for("your turn")
        studio.keys("Romeo", "Enter")
        await studio.wait_for("tok/s")

        studio.keys("C-c")  # quits from anywhere, asking first while a run trains
        await studio.wait_for("Stop and save it, then quit?")
        studio.keys("y")  # stops and saves the training run, then quits
        assert await studio.wait_exit() == 0
        assert "1 Train" not in studio.screen()  # the terminal is restored
    finally:
        studio.close()
    saved = list((tmp_path / "checkpoints").glob("studio-tiny-*/checkpoint.json"))
    assert len(saved) == 1
    assert 0 < json.loads(saved[0].read_text())["step"] < 1_000_000
