"""The settings a scenario pins, named: a value the run resolved that the scenario replaces is said
on screen and in summary.json, never dropped silently (``cold_hit`` measures ``manual_first``
whatever ``LMLAB_LAYOUT`` says)."""

from lab.settings import ARGUMENT, DEFAULT, as_text


def spelled(value) -> str:
    """A value as a user would type it (``false``, not ``False``)."""
    return str(value).lower() if isinstance(value, bool) else as_text(value)


def pinned_notes(scenario: type, context, sources: dict[str, str]) -> list[str]:
    """One line per Context field the scenario pins (or varies itself) that the user set to something
    else (``sources``: each field's source, as ``lab.settings.resolve_with_sources`` gives it)."""
    notes = []
    for name in (*scenario.pinned_context, *scenario.varied_context):
        source, asked = sources.get(name, DEFAULT), getattr(context, name)
        pinned = scenario.pinned_context.get(name)
        if source == DEFAULT or source.startswith("profile ") or (name in scenario.pinned_context and asked == pinned):
            continue  # nothing the user set is lost
        given = f"the argument {name}={spelled(asked)}" if source == ARGUMENT else f"{source}={spelled(asked)}"
        what = f"pins {name}={spelled(pinned)}" if name in scenario.pinned_context else f"sets {name} itself, per session"
        notes.append(f"{scenario.name} {what} ({given} ignored)")
    return notes
