"""The run engine: a run spec, its plan of sessions and their clients, the executor, the results files and run_experiment."""
