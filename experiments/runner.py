"""Run a scenario's sessions through the QA graph and append every call to results.csv as it lands."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

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
    ids = session.question_ids or list(range(len(session.questions)))
    metadata = {"scenario": scenario.name, "session": session.name, "variants": [session.variants[i] for i in ids]}
    config = {"run_name": session.name, "metadata": metadata}
    if tracing is not None:
        config = tracing.apply(config)
    for update in graph.stream(inputs, config=config, context=session.context, stream_mode="updates"):
        for call in (update.get("collect_cache_stats") or {}).get("calls", []):
            planned_id = ids[call["question_id"]]
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


def run_sessions(
    sessions: list[Session], scenario: Scenario, run_id: str, writer: ResultsWriter, on_call: Callable[[dict], None],
    tracing: Tracing | None = None,
) -> list[str]:
    """Run sessions in order, or ``scenario.concurrency`` at a time. In order, the first failure stops
    the run; concurrently, a failed session is reported (returned) and the others go on."""
    if scenario.concurrency <= 1:
        for session in sessions:
            run_session(session, scenario, run_id, writer, on_call, tracing)
        return []
    errors = []
    with ThreadPoolExecutor(max_workers=scenario.concurrency) as pool:
        futures = {pool.submit(run_session, s, scenario, run_id, writer, on_call, tracing): s for s in sessions}
        for future in as_completed(futures):
            if future.exception() is not None:
                errors.append(f"{futures[future].name}: {future.exception()}")
    return errors
