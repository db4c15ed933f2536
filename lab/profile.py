"""Hardware profiles: ``cpu`` (the default) and ``gpu``, chosen by ``LMLAB_PROFILE``.

A profile changes defaults only (``lab.settings`` applies them, below arguments and ``LMLAB_*``
variables). The gpu profile serves a real model with vLLM's CUDA build and LMCache inside vLLM, so
it wants a longer context, a bigger LMCache CPU tier and a bigger manual.
"""

PROFILES: dict[str, dict[str, object]] = {
    "cpu": {},
    "gpu": {
        # serving.settings.StackSettings
        "max_model_len": 32768,
        "lmcache_l1_gib": 20.0,  # LMCache's CPU-memory tier inside vLLM (LMCACHE_MAX_LOCAL_CPU_SIZE)
        "disk_dir": "off",
        # graphs.context.Context
        "manual_tokens": 32000,
    },
}
