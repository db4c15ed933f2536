"""The tool-loop graph's tool: sections of the manual by their Markdown headings."""

from graphs.tools import find_section, match_title, section_tool, sections
from prompts.manual import builtin_manual

MANUAL = "Intro line.\n\n## assert\n\nAssert statements check.\n\n## for\n\nThe for statement loops.\nMore.\n\n## while\n\nLoops while true."


def test_sections_are_the_headings_in_order_each_up_to_the_next():
    s = sections(MANUAL)
    assert list(s) == ["assert", "for", "while"]
    assert s["for"] == "## for\n\nThe for statement loops.\nMore."


def test_a_title_matches_ignoring_case_then_the_closest_one():
    titles = ["assert", "for", "while"]
    assert match_title(titles, "FOR") == "for"
    assert match_title(titles, "## whlie") == "while"
    assert match_title(titles, "lambda") is None


def test_find_section_returns_the_text_cut_to_the_limit_or_names_some_titles():
    assert find_section(MANUAL, "assert") == ("assert", "## assert\n\nAssert statements check.")
    assert find_section(MANUAL, "for", max_chars=10) == ("for", "## for\n\nTh")
    title, note = find_section(MANUAL, "lambda")
    assert title is None and "assert, for, while" in note


def test_the_builtin_manual_has_a_section_per_documentation_topic():
    s = sections(builtin_manual())
    assert len(s) > 50 and "assert" in s


def test_the_langchain_tool_looks_up_the_bound_manual():
    tool = section_tool(MANUAL)
    assert tool.name == "find_section" and "title" in tool.args
    assert tool.invoke({"title": "while"}) == "## while\n\nLoops while true."
