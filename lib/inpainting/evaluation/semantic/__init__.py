"""Semantic consistency: graded scores of a completion from the generating attributes of a
procedural image (:mod:`.scores`: definitions and columns; :mod:`.faces`, :mod:`.facades`: the two
scores; :mod:`.base`: the comparison they share), the noise-free templates they compare against
(:mod:`.templates`), the hand-made fills (:mod:`.fills`) and their calibration (:mod:`.calibration`)."""
