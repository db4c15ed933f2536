"""Node: record the call ``generate`` measured, with its cache stats (hits by source, the prediction)."""

from graphs.state import State


def collect_cache_stats(state: State) -> dict:
    """Reads ``measured``; appends it to ``calls`` and moves to the next question. A traced run puts
    the record's figures on this node's observation (``observability.handler``)."""
    return {"calls": [state.measured], "measured": None, "question_index": state.question_index + 1}
