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


def test_a_scenario_that_pins_nothing_honours_lmlab_layout():
    spec = RunSpec.build(scenario="layouts", env={"LMLAB_LAYOUT": "instructions_first"})
    assert spec.pinned() == [] and spec.context.layout == "instructions_first"


def test_a_boolean_is_spelled_as_the_variable_takes_it():
    spec = RunSpec.build(scenario="load", env={"LMLAB_METRICS_PER_CALL": "true"})
    assert spec.pinned() == ["load pins metrics_per_call=false (LMLAB_METRICS_PER_CALL=true ignored)"]


def test_pin_gives_the_pinned_values_and_keeps_the_rest():
    cold_hit = SCENARIOS["cold_hit"]()
    ctx = cold_hit.pin(replace(Context(), layout="instructions_first", max_tokens=7))
    assert (ctx.layout, ctx.max_tokens) == ("manual_first", 7)
