"""Reading a run folder: per-variant figures, the charts every run gets, report.md and the rows two variants are compared on."""
