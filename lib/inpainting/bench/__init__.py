"""Speed benchmarks behind ``python -m inpainting.bench``: generator throughput, the timed parts of every
training step, and the FLOP-rate roofs."""
