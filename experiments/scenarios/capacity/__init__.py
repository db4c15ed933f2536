"""The capacity scenario: the working set against each cache tier; its plan and client (scenario), analysis and chart."""
