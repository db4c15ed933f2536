"""The agent scenario: plan -> answer -> check with a shared prefix or per-node system prompts; its plan and analysis (scenario) and charts."""
