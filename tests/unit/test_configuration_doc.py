"""docs/configuration.md's settings tables are generated from the settings dataclasses, so they stay true.

Each field of ``StackSettings``, ``Context`` and each scenario's parameters is one row: the field, its ``LMLAB_*`` variable, its
default (before any profile) and the description the code carries (the one ``python -m serving
settings`` and LangGraph Studio show). After changing a field, rewrite the tables with
``.venv/bin/python -m tests.unit.test_configuration_doc``.
"""

import dataclasses
import re
import sys
from pathlib import Path

from experiments.scenarios import SCENARIOS
from graphs.context import Context
from lab.settings import as_text
from serving.settings import StackSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
TABLES = {"stack": (StackSettings,), "context": (Context,), "params": tuple(s.params_class for s in SCENARIOS.values() if s.params_class)}


def settings_table(classes) -> str:
    """The markdown table of the classes' fields, in declaration order."""
    rows = ["| setting | environment variable | default | description |", "|---|---|---|---|"]
    for f in (f for cls in classes for f in dataclasses.fields(cls)):
        if not f.init:
            continue
        default = "" if f.default in ("", None, ()) else f"`{as_text(f.default)}`"
        description = f.metadata.get("description", "").replace("|", "\\|")
        rows.append(f"| `{f.name}` | `LMLAB_{f.name.upper()}` | {default} | {description} |")
    return "\n".join(rows)


def _block(key: str) -> re.Pattern:
    return re.compile(rf"(<!-- settings:{key}:begin[^>]*-->\n)(.*?)(<!-- settings:{key}:end -->)", re.S)


def render(text: str) -> str:
    """``text`` with every generated block replaced by the table the code gives today."""
    for key, cls in TABLES.items():
        text, n = _block(key).subn(lambda m, cls=cls: m.group(1) + settings_table(cls) + "\n" + m.group(3), text)
        assert n == 1, f"docs/configuration.md needs one settings:{key} block"
    return text


def test_settings_tables_match_the_dataclasses():
    text = DOC.read_text()
    assert render(text) == text, "docs/configuration.md is stale: run .venv/bin/python -m tests.unit.test_configuration_doc"


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text()))
    print(f"rewrote the settings tables in {DOC}", file=sys.stderr)
