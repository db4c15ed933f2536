"""The fleet scenario: N vLLM instances behind vllm-router; its plan (scenario), client, grid and chart."""
