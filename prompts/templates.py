"""Prompt constants. Static text comes first and never changes between calls; dynamic text goes last."""

SYSTEM_PROMPT = (
    "You are a precise technical assistant. Answer questions using only the reference manual below. "
    "If the manual does not contain the answer, say so."
)

# The static prefix: system text, then the manual. Byte-identical for every question on one manual,
# which is what lets vLLM and LMCache reuse its KV cache.
STATIC_PREFIX = "{system}\n\n=== REFERENCE MANUAL{edition} ===\n{manual}\n=== END OF MANUAL ==="

# The dynamic part: per-question instructions and the question itself, always after the manual.
QUESTION_INSTRUCTIONS = "Answer in one or two sentences.\n\nQuestion: {question}"

# Questions about the built-in manual (Python's own documentation topics).
DEFAULT_QUESTIONS = [
    "What does the assert statement do?",
    "How does a for loop work in Python?",
    "What is the difference between break and continue?",
    "What does the with statement do?",
    "How are exceptions raised and handled?",
    "What is a lambda expression?",
    "What does the global statement do?",
    "How do you define a class?",
    "What does the yield expression do?",
    "How does the import statement find modules?",
    "What is the purpose of the pass statement?",
    "How are default argument values evaluated?",
]
