"""Evaluation: scoring completions against the ground truth (metrics, the test-set runner, bootstrap
statistics, semantic-consistency scores) and comparing methods on one dataset."""
