"""One endpoint value: the stack's settings make each instance's, the graph's Context holds the one its
settings name, and a run or a scenario points a Context at another instance without rebuilding a URL."""

from dataclasses import asdict, replace

from clients.endpoint import Endpoint
from experiments.run.spec import RunSpec
from graphs.context import Context
from serving.settings import StackSettings


def fleet(**kw) -> StackSettings:
    return StackSettings(**{"name": "t", "instances": 2, "vllm_port": 9100, "lmcache_http_port": 9300, "router_port": 9400, **kw})


def test_each_instance_has_its_own_endpoint_and_lmcache_server():
    s = fleet()
    assert s.endpoint_of(1) == Endpoint(url="http://127.0.0.1:9101/v1", model="smollm2-135m-instruct",
                                        lmcache_metrics_url="http://127.0.0.1:9301")  # fmt: skip
    assert [s.endpoint_of(i).lmcache_metrics_url for i in range(2)] == s.lmcache_urls()
    assert fleet(sharing="node").endpoint_of(1).lmcache_metrics_url == "http://127.0.0.1:9300", "one server for all"
    assert fleet(lmcache=False).endpoint_of(1).lmcache_metrics_url == ""


def test_the_stacks_one_endpoint_is_the_routers_when_it_has_one():
    assert fleet().endpoint_of().url == "http://127.0.0.1:9100/v1"
    assert fleet(router="round_robin").endpoint_of().url == "http://127.0.0.1:9400/v1"


def test_an_endpoint_from_the_settings_is_called_as_the_run_calls_its_own():
    like = Endpoint(url="http://elsewhere/v1", model="mine", api_key="EMPTY", timeout_s=30)
    e = fleet().endpoint_of(1, like=like)
    assert (e.url, e.model, e.api_key, e.timeout_s) == ("http://127.0.0.1:9101/v1", "mine", "EMPTY", 30)
    assert fleet(api_key="k").endpoint_of(1, like=like).api_key == "k", "the stack's own key wins"


def test_the_contexts_default_endpoint_is_the_default_stacks_without_its_lmcache_server():
    # With --endpoint nothing says which LMCache server is behind it: LMLAB_LMCACHE_METRICS_URL does.
    assert Context().server == replace(StackSettings().endpoint_of(like=Context().server), lmcache_metrics_url="")


def test_a_context_on_another_instance_changes_its_endpoint_alone():
    ctx = Context(layout="instructions_first", request_timeout_s=30)
    on_b = ctx.on(fleet(), 1)
    assert on_b.server == fleet().endpoint_of(1, like=ctx.server)
    assert replace(on_b, endpoint=ctx.endpoint, lmcache_metrics_url="") == ctx
    assert on_b.at(ctx.server) == ctx


def test_a_run_on_the_local_stack_calls_its_endpoint_with_the_served_model_unless_one_was_asked_for():
    settings = fleet(served_model_name="served", chunk_size=128)
    spec = RunSpec.build(env={})
    ctx = spec.connect(settings)
    assert ctx.server == replace(settings.endpoint_of(0), api_key="EMPTY") and ctx.chunk_size == 128
    asked = RunSpec.build(env={"LMLAB_MODEL": "mine"}).connect(settings)
    assert asked.model == "mine"
    # summary.json keeps the Context's keys: its endpoint settings stay flat fields.
    assert {"endpoint", "model", "lmcache_metrics_url", "request_timeout_s"} <= set(spec.summary_config(ctx)["context"])
    assert "api_key" not in spec.summary_config(ctx)["context"] and "server" not in asdict(ctx)
