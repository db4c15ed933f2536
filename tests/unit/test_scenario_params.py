"""A scenario's own parameters: resolved once by the run spec, saved in run.json, reused by --resume."""

import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from experiments.run.experiment import _Run
from experiments.run.spec import RUN_JSON, RunSpec
from experiments.scenarios import SCENARIOS
from lab.errors import UserError

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "experiments" / "scenarios"


def first_run(tmp_path, scenario: str, env: dict) -> Path:
    """Build a run's spec and write its run.json the way a run does; the folder."""
    spec = RunSpec.build(scenario=scenario, out=tmp_path / "run", env=env)
    run = _Run(spec, Console(quiet=True))
    run.open_folder(SCENARIOS[scenario]())
    return run.out


def test_a_parameter_from_the_environment_is_the_one_resume_uses_after_the_environment_changed(tmp_path):
    out = first_run(tmp_path, "capacity", {"LMLAB_CAPACITY_SIZES": "3,1", "LMLAB_CAPACITY_PATTERNS": "round_robin"})
    assert json.loads((out / RUN_JSON).read_text())["params"]["capacity_sizes"] == [1, 3]
    # Between the runs the environment changes, even to a value that would be refused now.
    resumed = RunSpec.resume(out, env={"LMLAB_CAPACITY_SIZES": "2,4,8", "LMLAB_CAPACITY_PATTERNS": "lru"})
    assert resumed.params.capacity_sizes == (1, 3)
    assert resumed.params.capacity_patterns == ("round_robin",)
    assert resumed.params.capacity_configs == ("vllm_only", "lmcache_memory", "lmcache_disk")
    assert resumed.params_sources["capacity_sizes"] == "LMLAB_CAPACITY_SIZES"
    assert resumed.params_sources["capacity_configs"] == "default"


def test_the_stack_a_resumed_fleet_starts_follows_the_saved_cells(tmp_path):
    out = first_run(tmp_path, "fleet", {"LMLAB_FLEET_CELLS": "consistent_hash:node,round_robin:none"})
    resumed = RunSpec.resume(out, env={"LMLAB_FLEET_CELLS": "round_robin:redis"})
    assert resumed.params.fleet_cells == (("consistent_hash", "node"), ("round_robin", "none"))
    assert (resumed.stack.router, resumed.stack.sharing) == ("consistent_hash", "node")


def test_parameters_and_their_sources_are_in_the_summary_config():
    spec = RunSpec.build(scenario="hit_accounting", env={"LMLAB_ACCOUNTING_STACKS": "3"})
    config = spec.summary_config(spec.context)
    assert config["params"] == {"accounting_sizes": (), "accounting_stacks": 3}
    assert config["sources"]["params"] == {"accounting_sizes": "default", "accounting_stacks": "LMLAB_ACCOUNTING_STACKS"}


@pytest.mark.parametrize(("scenario", "env", "message"), [
    ("capacity", {"LMLAB_CAPACITY_SIZES": "1,x"}, "LMLAB_CAPACITY_SIZES='1,x' is not a comma-separated list"),
    ("sweep", {"LMLAB_SWEEP_SIZES": "512,big"}, "LMLAB_SWEEP_SIZES='512,big' is not a comma-separated list"),
    ("hit_accounting", {"LMLAB_ACCOUNTING_STACKS": "two"}, "LMLAB_ACCOUNTING_STACKS='two' is not a number of stacks"),
    ("fleet", {"LMLAB_FLEET_CELLS": "fastest:none"}, "LMLAB_FLEET_CELLS: 'fastest:none' is not a cell"),
])  # fmt: skip
def test_a_bad_parameter_is_refused_when_the_spec_is_built(scenario, env, message):
    with pytest.raises(UserError, match=re.escape(message)):
        RunSpec.build(scenario=scenario, env=env)


def test_no_scenario_reads_the_environment_or_names_a_port():
    for path in SCENARIOS_DIR.rglob("*.py"):
        text = path.read_text()
        assert "os.environ" not in text, path
        assert not re.search(r"_port\"?\s*[:=]\s*\d", text), f"{path}: ports come from serving.settings.SCENARIO_PORTS"
