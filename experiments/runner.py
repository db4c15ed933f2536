"""Run a scenario's sessions through the QA graph and append every call to results.csv as it lands."""

from collections.abc import Callable

from experiments.results import ResultsWriter
from experiments.scenarios import Scenario, Session
from graphs.graph import graph
from observability.tracing import Tracing


def run_session(
    session: Session, scenario: Scenario, run_id: str, writer: ResultsWriter, on_call: Callable[[dict], None],
    tracing: Tracing | None = None,
) -> None:
    """Stream one graph run; each ``collect_cache_stats`` update carries one finished call.

    The run metadata names the scenario and each question's variant, for the graph's traces."""
    if session.before is not None:
        session.before()
    inputs = {"questions": session.questions, "manual_edition": session.edition}
    metadata = {"scenario": scenario.name, "session": session.name, "variants": list(session.variants)}
    config = {"run_name": session.name, "metadata": metadata}
    if tracing is not None:
        config = tracing.apply(config)
    for update in graph.stream(inputs, config=config, context=session.context, stream_mode="updates"):
        for call in (update.get("collect_cache_stats") or {}).get("calls", []):
            planned_id = session.question_ids[call["question_id"]] if session.question_ids else call["question_id"]
            row = {
                "run_id": run_id,
                "scenario": scenario.name,
                "variant": session.variants[planned_id],
                "repeat": session.repeat,
                "session": session.name,
                **call,
                "question_id": planned_id,
            }
            writer.write(row)
            on_call(row)
