"""The tool-loop graph: per question, ``Context.tool_turns`` model turns, each reply's find_section
result appended to the conversation before the next turn.

load_manual -> build_static_prefix -> start_question -> call_model -> run_tool -> call_model ...
                                            ^                   `-> finish_question (last turn) -> more questions? -> end
"""

from langgraph.graph import StateGraph

from graphs.context import Context
from graphs.tool_loop_state import ToolLoopInput, ToolLoopState
from nodes.manual import load_manual
from nodes.prefix import build_static_prefix
from nodes.tool_call import call_model
from nodes.tool_question import after_call, finish_question, next_question, start_question
from nodes.tool_result import run_tool

builder = StateGraph(ToolLoopState, input_schema=ToolLoopInput, context_schema=Context)
# The manual nodes are the qa graph's own, so the static prefix is the same bytes.
builder.add_node(load_manual, input_schema=ToolLoopState)
builder.add_node(build_static_prefix, input_schema=ToolLoopState)
builder.add_node(start_question)
builder.add_node(call_model)
builder.add_node(run_tool)
builder.add_node(finish_question)

builder.add_edge("__start__", "load_manual")
builder.add_edge("load_manual", "build_static_prefix")
builder.add_conditional_edges("build_static_prefix", next_question, ["start_question", "__end__"])
builder.add_edge("start_question", "call_model")
builder.add_conditional_edges("call_model", after_call, ["run_tool", "finish_question"])
builder.add_edge("run_tool", "call_model")
builder.add_conditional_edges("finish_question", next_question, ["start_question", "__end__"])

graph = builder.compile(name="LMCache manual tool loop")
