"""Off loopback a server needs a key, and the Redis password stays off command lines."""

import pytest

from lab.errors import UserError
from lab.exposure import is_loopback, require_key_off_loopback
from serving.recipes import plan
from serving.settings import StackSettings


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_addresses_need_no_key(host):
    assert is_loopback(host)
    require_key_off_loopback(host, "", "vLLM")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.2", "lab.example.org"])
def test_any_other_address_or_name_needs_the_api_key(host):
    assert not is_loopback(host)
    with pytest.raises(UserError, match=r"is not a loopback address, so vLLM would answer anyone.*set LMLAB_API_KEY"):
        require_key_off_loopback(host, "", "vLLM")
    require_key_off_loopback(host, "sk-lab-mine", "vLLM")


def test_the_redis_password_goes_on_stdin_and_in_lmcache_environment_never_on_a_command_line(tmp_path):
    redis, lmcache, vllm = plan(StackSettings(redis=True, disk_dir="off"), tmp_path, redis_password="pw-1234567890")
    assert redis.name == "redis" and redis.argv[1] == "-", "redis-server - reads its configuration from stdin"
    assert redis.stdin == "requirepass pw-1234567890\n" and redis.secret == "pw-1234567890"
    assert lmcache.env == {"LMCACHE_RESP_PASSWORD": "pw-1234567890"}, "lmcache 0.5.6's resp adapter reads it there"
    assert not [s.name for s in (redis, lmcache, vllm) if "pw-1234567890" in " ".join(s.argv)]
    assert "pw-1234567890" not in str(vllm.env)
