"""The tool-loop graph's tool: ``find_section(title)`` over the manual, as LangChain tools are written
(one module of tools, as in LangChain's react-agent template).

The manual's sections are its Markdown headings (the built-in manual is ``## <topic>`` sections of
Python's documentation topics); a section runs to the next heading. A title is matched exactly
(ignoring case), else to the closest title; a result is cut to ``max_chars`` so that each tool turn
adds a bounded number of tokens.
"""

import difflib
import re

from langchain_core.tools import StructuredTool

HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
# A tool result's length, in characters (about 4 a token for English text).
RESULT_CHARS = 800


def sections(manual: str) -> dict[str, str]:
    """Title -> the section's text (its heading included), in the manual's order."""
    heads = list(HEADING.finditer(manual))
    return {h.group(1): manual[h.start() : heads[i + 1].start() if i + 1 < len(heads) else len(manual)].strip()
            for i, h in enumerate(heads)}  # fmt: skip


def match_title(titles: list[str], title: str) -> str | None:
    """The manual's title for ``title``: the same ignoring case, else the closest one, else None."""
    wanted = title.strip().strip("#").strip().lower()
    by_lower = {t.lower(): t for t in titles}
    if wanted in by_lower:
        return by_lower[wanted]
    close = difflib.get_close_matches(wanted, list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def find_section(manual: str, title: str, max_chars: int = RESULT_CHARS) -> tuple[str | None, str]:
    """(the title found or None, the tool's result text): the section's text, cut to ``max_chars``,
    or a short note naming some titles the manual has."""
    found = sections(manual)
    match = match_title(list(found), title)
    if match is None:
        some = ", ".join(list(found)[:8]) or "none"
        return None, f"No section titled {title!r}. Some titles: {some}."
    return match, found[match][:max_chars]


def section_tool(manual: str) -> StructuredTool:
    """``find_section`` bound to one manual, as a LangChain tool (its name, description and schema)."""

    def lookup(title: str) -> str:
        """Return the text of the manual's section with this title."""
        return find_section(manual, title)[1]

    return StructuredTool.from_function(lookup, name="find_section")
