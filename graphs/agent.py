"""The agent graph: per question, three LLM nodes over one manual, with a bounded retry loop.

load_manual -> build_static_prefix -> plan -> answer -> check -> finish_question -> more questions? -> plan
                                                ^---------' rejected, retries left         `-> end
"""

from langgraph.graph import StateGraph

from graphs.agent_state import AgentInput, AgentState
from graphs.context import Context
from nodes.answer import answer
from nodes.check import after_check, check
from nodes.manual import load_manual
from nodes.plan import plan
from nodes.prefix import build_static_prefix
from nodes.turn import finish_question, next_question

builder = StateGraph(AgentState, input_schema=AgentInput, context_schema=Context)
# The manual nodes are the qa graph's own; they read only the fields both states share.
builder.add_node(load_manual, input_schema=AgentState)
builder.add_node(build_static_prefix, input_schema=AgentState)
builder.add_node(plan)
builder.add_node(answer)
builder.add_node(check)
builder.add_node(finish_question)

builder.add_edge("__start__", "load_manual")
builder.add_edge("load_manual", "build_static_prefix")
builder.add_conditional_edges("build_static_prefix", next_question, ["plan", "__end__"])  # no questions: nothing to do
builder.add_edge("plan", "answer")
builder.add_edge("answer", "check")
builder.add_conditional_edges("check", after_check, ["answer", "finish_question"])
builder.add_conditional_edges("finish_question", next_question, ["plan", "__end__"])

graph = builder.compile(name="LMCache manual agent")
