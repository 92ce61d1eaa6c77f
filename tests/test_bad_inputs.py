"""docs/bad_inputs.md: every test a row names exists (a renamed or deleted test breaks the table)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "bad_inputs.md"


def test_every_named_test_exists():
    text = TABLE.read_text()
    named = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", text)
    assert len(named) >= 40, "the table lost its test references"
    missing = [f"{path}::{name}" for path, name in named
               if not (ROOT / path).is_file()
               or not re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M)]
    assert not missing, f"docs/bad_inputs.md names tests that do not exist: {missing}"


def test_every_row_names_a_test_or_its_owner():
    rows = [line for line in TABLE.read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| case") and "---" not in line]
    unbacked = [row for row in rows if "::test_" not in row and "test to be named" not in row]
    assert not unbacked, f"rows without a test: {unbacked}"
