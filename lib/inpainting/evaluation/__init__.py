"""Evaluation: computing scores of completions against the ground truth (metrics, the test-set
runner, intervals and tests, realism, semantic-consistency scores, records and the claims ledger)
and comparing methods on one dataset. It draws and writes nothing for a reader:
:mod:`inpainting.reporting`, one floor up, does."""
