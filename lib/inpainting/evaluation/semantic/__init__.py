"""Semantic consistency: scores of a completion from the generating attributes of a procedural image
(:mod:`.scores`), the noise-free templates they compare against (:mod:`.templates`) and their
calibration on adversarial and near-correct fills (:mod:`.calibration`)."""
