"""Names and messages typed by users or taken from abusers' exports are printed as they are.

Rich reads `[...]` as markup: a case titled `[/]` made every `jikimi case list` crash with a
MarkupError, and `[link=...]` was obeyed. The CLI's consoles have markup off.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import jikimi

HOSTILE = ["[/]", "[link=https://evil.example]click me[/link]", "[bold red]x", "\\[/]", "[/bold]"]


def run(home, *args):
    env = {**os.environ, "JIKIMI_HOME": str(home), "COLUMNS": "400"}  # tables unwrapped
    return subprocess.run([sys.executable, "-m", "jikimi", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_markup_in_names_is_printed_as_typed(tmp_path):
    home = tmp_path / "home"
    assert run(home, "init").returncode == 0
    for i, name in enumerate(HOSTILE):
        created = run(home, "case", "create", name)
        assert created.returncode == 0, created.stderr
        assert name in created.stdout
        assert run(home, "bank", "create", f"bank{i}{name}").returncode == 0
        assert run(home, "host", "add", f"host{i}", "--email", "abuse@example.org", "--notes", name).returncode == 0
    for listing in (("case", "list"), ("bank", "list"), ("host", "list")):
        shown = run(home, *listing)
        assert shown.returncode == 0, shown.stderr
        assert "MarkupError" not in shown.stderr
        for name in HOSTILE:
            assert name in shown.stdout, (listing, name)
        assert "\x1b]8;" not in shown.stdout  # no terminal hyperlink was made


def test_error_messages_with_markup_stay_one_clear_line(tmp_path):
    home = tmp_path / "home"
    run(home, "init")
    failed = run(home, "scan", str(tmp_path / "[/]missing"))
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [f"error: source not found: {tmp_path / '[/]missing'}"]


def test_every_console_of_the_cli_has_markup_off():
    """A new `Console()` with markup on would bring the crash back for whatever it prints."""
    package = Path(jikimi.__file__).parent
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Console":
                markup = [k for k in node.keywords if k.arg == "markup"]
                assert markup and isinstance(markup[0].value, ast.Constant) and markup[0].value.value is False, \
                    f"{path.relative_to(package)}:{node.lineno} creates a Console with markup on"
