"""`make bench`: the figures that show what Tollgate does for a platform team (docs/benchmarks.md)."""
