"""Semantic consistency: scores of a completion from the generating attributes of a procedural image."""
from .scores import *  # noqa: F401,F403  (the pure move; split into scores/templates/calibration next)
