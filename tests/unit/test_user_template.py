"""A user's prompt template: its two file formats, its placeholders, and the errors it can get."""

import json

import pytest

from lab.errors import UserError
from prompts.user_template import parse_template, read_template, render


def test_a_plain_text_template_is_one_user_message():
    text = "Manual: {manual}\nQ: {question}"
    assert parse_template(text) == [{"role": "user", "content": text}]


def test_section_lines_split_a_text_template_into_messages():
    text = "--- system ---\nYou help. {manual}\n\n--- user ---\n{question}\n"
    assert parse_template(text) == [
        {"role": "system", "content": "You help. {manual}"},
        {"role": "user", "content": "{question}"},
    ]


def test_a_json_template_is_a_list_of_messages(tmp_path):
    path = tmp_path / "prompt.json"
    messages = [{"role": "system", "content": "Time: {now}"}, {"role": "user", "content": "{question}"}]
    path.write_text(json.dumps(messages))
    assert read_template(path) == messages


@pytest.mark.parametrize(("name", "content", "message"), [
    ("prompt.txt", "Answer using the manual: {manual}", "has no {question} placeholder"),
    ("prompt.txt", "  \n", "is empty"),
    ("prompt.json", "[{\"role\": \"user\"", "is not valid JSON"),
    ("prompt.json", "{\"role\": \"user\", \"content\": \"{question}\"}", "must be a JSON list of messages"),
])  # fmt: skip
def test_unusable_templates_are_refused_with_a_reason(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        read_template(path)


def test_a_missing_template_is_refused(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_template(tmp_path / "nope.txt")


def test_rendering_fills_placeholders_once_and_leaves_other_braces_alone():
    template = [{"role": "user", "content": 'JSON like {"a": 1}. {manual}\nQ: {question}'}]
    out = render(template, "what is {manual}?", manual="THE MANUAL")
    assert out[0]["content"] == 'JSON like {"a": 1}. THE MANUAL\nQ: what is {manual}?'


def test_time_and_request_id_change_with_every_rendering():
    template = [{"role": "system", "content": "{now} {request_id}"}, {"role": "user", "content": "{question}"}]
    assert render(template, "q")[0] != render(template, "q")[0]
