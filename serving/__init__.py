"""The local serving stack: model provisioning, the LMCache cache server and vLLM, started and stopped together."""
