"""`make bench`: the performance targets of docs/architecture.md#performance-targets, measured in
one run (see bench.run)."""
