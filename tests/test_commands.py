"""The kit's commands: one list, ``[project.scripts]`` of pyproject.toml; each entry is a ``main``
returning an exit code, runs as its console script and as ``python -m <module>`` (issue 27)."""
import importlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_entry_is_a_main_of_a_module_that_also_runs_with_python_m():
    for name, target in SCRIPTS.items():
        module, _, func = target.partition(":")
        assert func == "main", f"{name}: {target}"
        assert callable(getattr(importlib.import_module(module), func)), target
        source = (ROOT / "lib" / (module.replace(".", "/") + ".py")).read_text()
        assert re.search(r'if __name__ == "__main__":\n    (sys\.exit|raise SystemExit)\(main\(\)\)', source), \
            f"{module} must end with sys.exit(main()) so python -m {module} returns its exit code"


def test_no_forwarder_modules_at_the_package_root():
    """A command lives in the module that does its work; no second name for it at the root."""
    for path in (ROOT / "lib" / "inpainting").glob("*.py"):
        text = path.read_text()
        assert not (len(text.splitlines()) < 10 and "import main" in text), \
            f"{path.name} only forwards a main: list the command in [project.scripts]"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_the_console_script_answers_help(name):
    script = shutil.which(name, path=str(Path(sys.executable).parent))
    assert script, (f"{name} is not installed next to {sys.executable}: "
                    f"./run_all.sh setup installs the kit's commands (pip install -e .)")
    proc = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage" in proc.stdout.lower(), proc.stderr[-2000:]
