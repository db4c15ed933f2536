"""The QA graph: the static prefix is built once per session, then each question is asked in turn.

load_manual -> build_static_prefix -> add_question -> generate -> collect_cache_stats
                                          ^------- more questions? -------'
"""

from langgraph.graph import StateGraph

from graphs.context import Context
from graphs.state import InputState, State
from nodes.cache_stats import collect_cache_stats
from nodes.generate import generate
from nodes.manual import load_manual
from nodes.prefix import build_static_prefix
from nodes.question import add_question, more_questions

builder = StateGraph(State, input_schema=InputState, context_schema=Context)
builder.add_node(load_manual)
builder.add_node(build_static_prefix)
builder.add_node(add_question)
builder.add_node(generate)
builder.add_node(collect_cache_stats)

builder.add_edge("__start__", "load_manual")
builder.add_edge("load_manual", "build_static_prefix")
builder.add_edge("build_static_prefix", "add_question")
builder.add_edge("add_question", "generate")
builder.add_edge("generate", "collect_cache_stats")
builder.add_conditional_edges("collect_cache_stats", more_questions, ["add_question", "__end__"])

graph = builder.compile(name="LMCache manual QA")
