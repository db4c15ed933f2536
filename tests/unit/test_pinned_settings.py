"""A setting a scenario pins is named when the user set it otherwise, never dropped silently."""

from dataclasses import replace

from experiments.run.spec import RunSpec
from experiments.scenarios import SCENARIOS
from graphs.context import Context


def test_cold_hit_names_the_layout_it_pins_over_lmlab_layout():
    spec = RunSpec.build(scenario="cold_hit", env={"LMLAB_LAYOUT": "instructions_first"})
    assert spec.pinned() == ["cold_hit pins layout=manual_first (LMLAB_LAYOUT=instructions_first ignored)"]
    assert spec.summary_config(spec.context)["pinned"] == spec.pinned()


def test_nothing_is_said_when_the_user_set_nothing_or_the_same_value():
    assert RunSpec.build(scenario="cold_hit", env={}).pinned() == []
    assert RunSpec.build(scenario="cold_hit", env={"LMLAB_LAYOUT": "manual_first"}).pinned() == []


def test_the_layouts_scenario_names_lmlab_layout_as_unused_it_runs_every_layout():
    spec = RunSpec.build(scenario="layouts", env={"LMLAB_LAYOUT": "instructions_first"})
    assert spec.pinned() == ["layouts sets layout itself, per session (LMLAB_LAYOUT=instructions_first ignored)"]


def test_the_agent_scenario_pins_no_layout():
    assert RunSpec.build(scenario="agent", env={"LMLAB_LAYOUT": "instructions_first"}).pinned() == []


def test_a_boolean_is_spelled_as_the_variable_takes_it():
    spec = RunSpec.build(scenario="load", env={"LMLAB_METRICS_PER_CALL": "true"})
    assert spec.pinned() == ["load pins metrics_per_call=false (LMLAB_METRICS_PER_CALL=true ignored)"]


def test_pin_gives_the_pinned_values_and_keeps_the_rest():
    cold_hit = SCENARIOS["cold_hit"]()
    ctx = cold_hit.pin(replace(Context(), layout="instructions_first", max_tokens=7))
    assert (ctx.layout, ctx.max_tokens) == ("manual_first", 7)


def test_no_scenario_sets_a_context_field_it_has_not_declared():
    # A replace(ctx, layout=...) in a scenario's module would drop LMLAB_LAYOUT unnamed: pins and varied fields are declared.
    import inspect
    import re

    for cls in SCENARIOS.values():
        declared = {*cls.pinned_context, *cls.varied_context}
        source = inspect.getsource(inspect.getmodule(cls))
        found = set(re.findall(r"replace\([^)]*\b(layout|metrics_per_call|truncate_manual)=", source))
        assert found <= declared, (cls.name, found - declared)
