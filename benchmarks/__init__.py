"""fxgen's benchmarks: `python -m benchmarks` runs them all and prints ratios."""
