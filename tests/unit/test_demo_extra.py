"""The dev-only commands without the demo extra: one line, exit 2, nothing imported."""

from __future__ import annotations

import importlib.util
import sys
from importlib.machinery import ModuleSpec

import pytest

from recvault.cli import demo
from recvault.cli.app import _main


@pytest.fixture
def without_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name.split(".")[0] == "moto" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["demo", "--count", "2"], "demo"),
        (["simulator", "serve", "--port", "0"], "simulator serve"),
    ],
)
@pytest.mark.usefixtures("without_moto")
def test_dev_command_without_demo_extra_exits_2_with_one_line(
    argv: list[str], command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded_before = "simulator.server" in sys.modules
    assert _main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"recvault: error: recvault {command} needs the demo extra")
    assert "pip install 'recvault[demo]'" in lines[0]
    assert "uv sync" in lines[0]
    assert captured.out == ""
    # Refused before the simulator was imported (when no earlier test imported it).
    assert loaded_before or "simulator.server" not in sys.modules


def test_demo_extra_present_in_the_dev_environment() -> None:
    demo.require_demo_extra("demo")  # the dev group includes the demo extra
