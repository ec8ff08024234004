"""The README stays true: its two commands come first, and it names every setting and
every command the CLI has."""

from __future__ import annotations

import re
from pathlib import Path

from contracts.settings import describe
from streamml.cli.main import COMMANDS

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def test_the_readme_begins_with_the_demo_and_the_test_command():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None and README.index("```bash") < README.index("\n## ")
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]


def test_the_settings_tables_are_the_settings_themselves():
    """One table a service, each row as `contracts/settings.py` describes it."""
    expected, section = [], None
    for who, variable, default, meaning in describe():
        if who != section:
            expected += [f"Read by {who}:", "", "| variable | default | meaning |", "|---|---|---|"]
            section = who
        expected.append(f"| `{variable}` | {default} | {meaning.replace('|', chr(92) + '|')} |")
    shown = [line for line in README.split("## Settings", 1)[1].split("\n## ", 1)[0].splitlines()
             if line.startswith(("Read by ", "| variable", "|---|", "| `STREAMML_"))]
    assert shown == [line for line in expected if line], "regenerate README's settings tables"


def test_every_command_is_in_the_cli_table():
    missing = [c for c in COMMANDS if f"`streamml {c}" not in README]
    assert not missing, f"commands missing from README.md: {missing}"
