"""Prompt text: the system prompt, the per-question instructions, the questions and the manual."""
