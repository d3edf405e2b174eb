"""`make bench-fleet`: how many organizations one machine carries under the real daemon.

See `bench.fleet.__main__` for the command line and `bench/results/fleet.md` for the figures.
"""
