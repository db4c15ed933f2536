"""A scenario's comparison on the console: tables and short lines, never a JSON dump.

summary.json keeps the whole dict; the console shows what a reader scans. Single figures, small
mappings of figures (flattened, ``part_spread.fixed``) and short lists go in one table of figures; a
mapping or list of like records (one per tier, per variant, per difference) gets a table of its own,
a row per record; anything nested deeper is named on one line that points to summary.json (the scenario's own
headline lines and detail rows present it).
"""

import math
from numbers import Number

from rich.table import Table

SHORT = 8  # entries a list or a mapping of figures may have to be shown inline


def is_figure(value) -> bool:
    return value is None or isinstance(value, (str, bool, Number))


def is_short_list(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) <= SHORT and all(map(is_figure, value))


def is_record(value) -> bool:
    """A flat mapping: every value a figure or a short list."""
    return isinstance(value, dict) and bool(value) and all(is_figure(v) or is_short_list(v) for v in value.values())


def cell(value) -> str:
    """A figure as the console shows it: 4 significant digits, thousands separated; NaN and None as -."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        # Counts and milliseconds in full (31,024, not 3.102e+04); fractions and ratios to 4 digits.
        return f"{value:,.0f}" if abs(value) >= 1000 or value.is_integer() else f"{value:.4g}"
    if isinstance(value, Number):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(cell, value)) or "none"
    return str(value)


def comparison_view(name: str, comparison: dict) -> tuple[list[Table], list[str]]:
    """The tables and short lines that show ``comparison`` (scenario ``name``) on the console."""
    figures: list[tuple[str, str]] = []
    tables: list[Table] = []
    nested: list[str] = []
    # Top-level records with the same fields (one per tier, say) are rows of one table.
    alike: dict[tuple, dict] = {}
    for key, value in comparison.items():
        if is_record(value):
            alike.setdefault(tuple(value), {})[key] = value
    for group in alike.values():
        if len(group) > 1:
            tables.append(records_table(f"{name}: {', '.join(group)}", group))
    grouped = {k for group in alike.values() if len(group) > 1 for k in group}
    for key, value in comparison.items():
        if key in grouped:
            continue
        if is_figure(value) or is_short_list(value):
            figures.append((key, cell(value)))
        elif is_record(value) and len(value) <= SHORT:
            figures += [(f"{key}.{k}", cell(v)) for k, v in value.items()]
        elif isinstance(value, dict) and value and all(map(is_record, value.values())):
            tables.append(records_table(f"{name}: {key}", value))
        elif isinstance(value, list) and value and all(map(is_record, value)):
            rows = {str(i): r for i, r in enumerate(value[:SHORT], 1)}
            more = f" (first {SHORT} of {len(value)}; all in summary.json)" if len(value) > SHORT else ""
            tables.append(records_table(f"{name}: {key}{more}", rows))
        elif isinstance(value, (list, tuple)) and value and all(map(is_figure, value)):
            figures.append((key, f"{len(value)} values, {cell(list(value[:3]))}, ..."))
        elif value in ({}, []):
            figures.append((key, "none"))
        else:
            nested.append(key)
    if figures:
        t = Table(title=f"{name}: figures")
        t.add_column("figure")
        t.add_column("value", justify="right")
        for key, text in figures:
            t.add_row(key, text)
        tables.insert(0, t)
    lines = [f"  in summary.json ({name}'s comparison): {', '.join(nested)}"] if nested else []
    return tables, lines


def records_table(title: str, records: dict[str, dict]) -> Table:
    """One row per record, one column per field any record has."""
    columns = list(dict.fromkeys(k for r in records.values() for k in r))
    t = Table(title=title)
    t.add_column("")
    for c in columns:
        t.add_column(c, justify="right")
    for key, r in records.items():
        t.add_row(str(key), *(cell(r.get(c)) if c in r else "" for c in columns))
    return t
