"""`make bench`: the performance figures of DESIGN §8, measured in one run (see bench.run)."""
