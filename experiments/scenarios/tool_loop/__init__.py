"""The tool_loop scenario: a tool-calling agent's appended turns against three cache configurations; its plan and run (scenario), pass mark (analysis) and chart."""
