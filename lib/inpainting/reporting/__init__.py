"""Reporting: what the kit draws and writes for a reader from evaluation's results (the results
folder's figures, tables and summary, image grids, the findings in words, the reproduction report,
the time tables of a finished run). It sits above :mod:`inpainting.evaluation`."""
