"""Programs: generator functions `program(proc) -> exit code` that yield simulated-time events."""
