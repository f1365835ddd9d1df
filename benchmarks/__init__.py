"""Speed and quality benchmarks; each prints its numbers next to baselines measured in the same run."""
