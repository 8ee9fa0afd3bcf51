"""Scores on a split, baselines, experiments and benchmarks over seeds, provenance, results files, plots and published figures."""
