#!/usr/bin/env bash
# Inpainting kit: set-up and runs in one command.
#   ./run_all.sh [smoke|demo|paper]   set up if needed, then run every notebook in order (default: demo)
#   ./run_all.sh test                 set up if needed, then run the test suite (what .ci/run calls)
#   ./run_all.sh setup                only create / update the environment
# Environment: an already active virtualenv or conda env is used as it is; otherwise .venv is created.
# The packages are the pinned list in environment.yml (the same list conda users install from).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
KERNEL=inpainting-kit
MODE=${1:-demo}

case "$MODE" in
  smoke|demo|paper|test|setup) ;;
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "run_all.sh: unknown profile or command '$MODE'; valid: smoke, demo, paper, test, setup" >&2; exit 2 ;;
esac

log() { echo "[run_all $(date +%H:%M:%S)] $*"; }

# ---------------------------------------------------------------- environment
if [[ -n "${VIRTUAL_ENV:-}" && "${VIRTUAL_ENV}" != "$ROOT/.venv" ]]; then
  PY="$VIRTUAL_ENV/bin/python"; log "using the active virtualenv $VIRTUAL_ENV"
elif [[ -n "${CONDA_PREFIX:-}" && "$(basename "${CONDA_PREFIX}")" != "base" ]]; then
  PY="$CONDA_PREFIX/bin/python"; log "using the active conda env $CONDA_PREFIX"
else
  if [[ ! -x .venv/bin/python ]]; then
    PYTHON=${PYTHON:-python3}
    log "creating .venv with $($PYTHON --version 2>&1)"
    "$PYTHON" -m venv .venv
  fi
  PY="$ROOT/.venv/bin/python"
fi

# The pip list of environment.yml: the lines under '- pip:'.
pip_requirements() {
  awk '/^[[:space:]]*- pip:[[:space:]]*$/ {inpip=1; next}
       inpip && /^[[:space:]]+- / {sub(/^[[:space:]]+- /, ""); sub(/[[:space:]]+#.*$/, ""); print; next}
       inpip && /^[^[:space:]]/ {inpip=0}' environment.yml
}

STAMP="$("$PY" -c 'import sys; print(sys.prefix)')/.inpainting-kit-stamp"
WANT=$( { cat environment.yml pyproject.toml; echo "$ROOT"; } | sha256sum | cut -d' ' -f1)
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]] || ! "$PY" -c 'import inpainting, torchvision' 2>/dev/null; then
  log "installing the pinned packages from environment.yml (first time: a few minutes)"
  REQ=$(mktemp); pip_requirements > "$REQ"
  "$PY" -m pip install --disable-pip-version-check -q -r "$REQ"
  rm -f "$REQ"
  "$PY" -m pip install --disable-pip-version-check -q --no-deps -e .
  "$PY" -m ipykernel install --sys-prefix --name "$KERNEL" --display-name "Python (inpainting-kit)" >/dev/null
  "$PY" -c 'import torchvision, inpainting; torchvision.models.vgg19(); print("torch/torchvision OK")'
  echo "$WANT" > "$STAMP"
else
  log "environment up to date ($("$PY" -c 'import sys; print(sys.prefix)'))"
fi

# ---------------------------------------------------------------- commands
if [[ "$MODE" == setup ]]; then exit 0; fi
if [[ "$MODE" == test ]]; then
  shift || true
  exec "$PY" -m pytest tests "$@"
fi

PROFILE=$MODE
OUT="$ROOT/results/$PROFILE"
mkdir -p "$OUT/notebooks"
# A new run starts a new record; trained runs (runs/) and test sets stay cached for reuse/resume.
rm -f "$OUT/run.json" "$OUT/outputs.json" "$OUT/summary.md"
export INPAINTING_PROFILE=$PROFILE
"$PY" - "$PROFILE" <<'PYEOF'
import sys
from inpainting import runtime
from inpainting.profiles import get_profile
p = get_profile(sys.argv[1])
runtime.update_run_json(p.name, profile=p.name, seed=p.train.seed, started=runtime.now_iso(),
                        finished=None, status="running", notebooks={},
                        **runtime.environment_info(runtime.select_device(p.train.device)))
PYEOF

status=ok
for nb in notebooks/[0-9][0-9]_*.ipynb; do
  name=$(basename "$nb")
  dest="$OUT/notebooks/$name"
  log "running $name (profile $PROFILE)"
  t0=$(date +%s)
  if ! "$PY" -m inpainting.notebook_runner "$nb" "$dest" --profile "$PROFILE"; then
    log "FAILED: $name. The executed copy with the traceback is $dest"
    status="failed: $name"
    break
  fi
  secs=$(( $(date +%s) - t0 ))
  log "done $name in ${secs}s"
  "$PY" -c "import sys; from inpainting import runtime; runtime.update_run_json(sys.argv[1], notebooks={sys.argv[2]: int(sys.argv[3])})" "$PROFILE" "$name" "$secs"
done

"$PY" -c "import sys; from inpainting import runtime; runtime.update_run_json(sys.argv[1], finished=runtime.now_iso(), status=sys.argv[2])" "$PROFILE" "$status"
if [[ "$status" != ok ]]; then exit 1; fi
log "all notebooks done; results in $OUT (summary: $OUT/summary.md)"
