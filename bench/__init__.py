"""Benchmark harness (issue 12): a real server, simulated monitors and live boards on this
machine, and the raw-insert ceiling measured in the same run. `python -m bench --help`."""
