"""Reporting: what the kit writes for a reader (the results folder's figures, tables and summary,
figure helpers, the time tables of a finished run)."""
