#!/usr/bin/env bash
# Inpainting kit: set-up and runs in one command.
#   ./run_all.sh [smoke|demo|study|paper]  set up if needed, then run every notebook in order (default: demo)
#   ./run_all.sh test [pytest args]   set up if needed, then run the test suite (what .ci/run calls);
#                                     the JupyterLab browser test runs when Chromium is installed
#   ./run_all.sh lab [folder] [args]  JupyterLab on notebooks/ (or folder, e.g. student/), 127.0.0.1 only
#   ./run_all.sh student              write student copies of the notebooks to student/ (solutions removed)
#   ./run_all.sh tensorboard [folder] [args]  TensorBoard on results/ (or folder): every run's losses,
#                                     learning rates and sample grids; 127.0.0.1 only
#   ./run_all.sh gpu-check [--dry-run] on a CUDA machine (within 8 minutes): the device, every CUDA-only
#                                     test, a short paper-profile training on look-alike CelebA/Paris folders
#                                     with AMP and a bit-identical resume, lite vs GLCIC steps at 128 and
#                                     256 px in float32 and AMP; one JSON (results/bench/gpu_check.json).
#                                     Without a GPU: says so, checks its own plumbing on the CPU, exits 0
#   ./run_all.sh book [--profile P] [--serve] [--port N] [--store]  a static HTML book
#                                     (build/book/<profile>/_build/html) of the profile's executed notebooks
#                                     (default: the committed study's, kept in references/study/book/),
#                                     docs/method.md, docs/teaching.md and REPRODUCTION.md, built offline
#                                     and checked; --serve serves it on 127.0.0.1; --store executes the
#                                     notebooks again and keeps them with the references
#   ./run_all.sh setup                only create / update the environment
# Environment: an already active virtualenv or conda env is used as it is; otherwise .venv is created.
# The packages are the pinned list in environment.yml (the same list conda users install from).
# A profile run locks its results folder: a second run in the same folder stops before changing anything.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
KERNEL=inpainting-kit
VALID="smoke, demo, study, paper, test, lab, student, setup, tensorboard, gpu-check, book"

usage_error() {
  echo "run_all.sh: $1; valid: $VALID (./run_all.sh --help)" >&2
  exit 2
}

if [[ $# -eq 0 ]]; then MODE=demo; else MODE=$1; shift; fi
case "$MODE" in
  smoke|demo|study|paper|setup|student) [[ $# -eq 0 ]] || usage_error "'$MODE' takes no further arguments (got: $*)" ;;
  test|lab|book) ;;
  gpu-check) [[ $# -eq 0 || ( $# -eq 1 && "$1" == --dry-run ) ]] || usage_error "gpu-check takes only --dry-run (got: $*)" ;;
  tensorboard) if [[ $# -gt 0 && "$1" != -* && ! -d "$1" ]]; then
                 usage_error "tensorboard: '$1' is not a folder (./run_all.sh tensorboard [folder] [tensorboard options])"
               fi ;;
  -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
  "") usage_error "empty argument (a profile or command is needed)" ;;
  *) usage_error "unknown profile or command '$MODE'" ;;
esac

log() { echo "[run_all $(date +%H:%M:%S)] $*"; }

# OpenMP threads sleep between parallel regions instead of spinning: paired runs of 2-thread joint
# steps (python -m inpainting.bench.wait_policy; README, Speed) cost 3-5 % more with PASSIVE on an
# idle 2-core machine, but were 5x slower (median) with the default beside two busy processes. A
# value the user set is kept. Every process started from here (notebook kernels, training, tests)
# inherits it; the runtime reads it once, when it starts.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

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

# The pip list of environment.yml: the lines under '- pip:' ("pip_requirements"), or the commented
# lines "# - <package>  # --no-deps" there ("pip_requirements --no-deps": wheels installed without
# their dependencies, which conda skips).
pip_requirements() {
  awk -v nodeps="${1:-}" '/^[[:space:]]*- pip:[[:space:]]*$/ {inpip=1; next}
       inpip && nodeps == "" && /^[[:space:]]+- / {sub(/^[[:space:]]+- /, ""); sub(/[[:space:]]+#.*$/, ""); print; next}
       inpip && nodeps != "" && /^[[:space:]]+#[[:space:]]*- [^[:space:]]+[[:space:]]+#[[:space:]]*--no-deps/ {
         sub(/^[[:space:]]+#[[:space:]]*- /, ""); sub(/[[:space:]]+#.*$/, ""); print; next}
       inpip && /^[^[:space:]]/ {inpip=0}' environment.yml
}

STAMP="$("$PY" -c 'import sys; print(sys.prefix)')/.inpainting-kit-stamp"
WANT=$( { cat environment.yml pyproject.toml; echo "$ROOT"; } | sha256sum | cut -d' ' -f1)
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]] || ! "$PY" -c 'import inpainting, torchvision' 2>/dev/null; then
  log "installing the pinned packages from environment.yml (first time: a few minutes)"
  REQ=$(mktemp); pip_requirements > "$REQ"
  "$PY" -m pip install --disable-pip-version-check -q -r "$REQ"
  pip_requirements --no-deps > "$REQ"
  "$PY" -m pip install --disable-pip-version-check -q --no-deps -r "$REQ"
  rm -f "$REQ"
  "$PY" -m pip install --disable-pip-version-check -q --no-deps -e .
  "$PY" -m ipykernel install --sys-prefix --name "$KERNEL" --display-name "Python (inpainting-kit)" >/dev/null
  "$PY" -c 'import torchvision, inpainting; torchvision.models.vgg19(); print("torch/torchvision OK")'
  echo "$WANT" > "$STAMP"
else
  log "environment up to date ($("$PY" -c 'import sys; print(sys.prefix)'))"
fi
# The perceptual weights of the smoke and demo profiles, converted once (so no training does it),
# and a check that the converted file loads.
"$PY" -c 'from inpainting.models.perceptual_weights import main; main()'

# ---------------------------------------------------------------- commands
if [[ "$MODE" == setup ]]; then exit 0; fi
if [[ "$MODE" == student ]]; then
  exec "$PY" -m inpainting.teaching.student
fi
if [[ "$MODE" == book ]]; then
  exec "$PY" -m inpainting.teaching.book "$@"
fi
if [[ "$MODE" == gpu-check ]]; then
  exec "$PY" -m inpainting.bench.gpu_check "$@"
fi
if [[ "$MODE" == test ]]; then
  CHROMIUM=${INPAINTING_CHROMIUM:-/usr/bin/chromium}
  if [[ -x "$CHROMIUM" ]]; then
    log "browser test: JupyterLab + headless Chromium ($CHROMIUM), tests/browser"
  else
    log "browser test SKIPPED: no Chromium at $CHROMIUM (Debian/Ubuntu: apt-get install chromium, or set INPAINTING_CHROMIUM; .ci/run installs it)"
  fi
  exec "$PY" -m pytest tests "$@"
fi
if [[ "$MODE" == lab ]]; then
  DIR=notebooks
  if [[ $# -gt 0 && "$1" != -* ]]; then
    [[ -d "$1" ]] || usage_error "lab: '$1' is not a folder (./run_all.sh lab [folder] [jupyter lab options])"
    DIR=$1; shift
  fi
  ARGS=(--ServerApp.ip=127.0.0.1 "--ServerApp.root_dir=$(cd "$DIR" && pwd)" "--MultiKernelManager.default_kernel_name=$KERNEL")
  if [[ $(id -u) -eq 0 ]]; then ARGS+=(--allow-root); fi
  log "JupyterLab on $DIR with the kernel 'Python (inpainting-kit)' (127.0.0.1 only; stop with Ctrl-C twice)"
  exec "$PY" -m jupyter lab "${ARGS[@]}" "$@"
fi

if [[ "$MODE" == tensorboard ]]; then
  DIR=results
  if [[ $# -gt 0 && "$1" != -* ]]; then DIR=$1; shift; fi
  mkdir -p "$DIR"
  log "TensorBoard on $DIR (every run's tensorboard/ folder; 127.0.0.1 only; stop with Ctrl-C)"
  exec "$PY" -m tensorboard.main --logdir "$DIR" --host 127.0.0.1 "$@"
fi

PROFILE=$MODE
# The folder the notebooks write to (inpainting.disk.results_dir): $INPAINTING_RESULTS/<profile>
# if the variable is set, else results/<profile>; each profile has its own run.json and summary.md.
if [[ -n "${INPAINTING_RESULTS:-}" ]]; then OUT=$INPAINTING_RESULTS/$PROFILE; else OUT=$ROOT/results/$PROFILE; fi
mkdir -p "$OUT/notebooks"
# One run per results folder: hold $OUT/.lock (flock(2) through fd 9, inherited by every child) until
# this script and its children end, even on kill -9. Taken before anything is deleted.
exec 9>>"$OUT/.lock"
if ! "$PY" -c 'import fcntl; fcntl.flock(9, fcntl.LOCK_EX | fcntl.LOCK_NB)' 2>/dev/null; then
  read -r pid host since what < "$OUT/.lock" || true
  echo "run_all.sh: $OUT is in use by another run of the kit: PID ${pid:-unknown}${host:+ on $host}${since:+" since $since"}${what:+" ($what)"}." \
       "Nothing was changed. Wait for it to finish, or stop it (kill ${pid:-<PID>}) and run again." >&2
  exit 3
fi
echo "$$ $(hostname) $(date +%Y-%m-%dT%H:%M:%S) ./run_all.sh $PROFILE" > "$OUT/.lock"
# A new run starts a new record; trained runs (runs/) and test sets stay cached for reuse/resume.
rm -f "$OUT/run.json" "$OUT/outputs.json" "$OUT/summary.md"
export INPAINTING_PROFILE=$PROFILE
"$PY" - "$PROFILE" <<'PYEOF'
import sys
from inpainting import disk, runtime
from inpainting.profiles import get_profile
p = get_profile(sys.argv[1])
disk.update_run_json(p.name, profile=p.name, seed=p.train.seed, started=disk.now_iso(),
                     finished=None, status="running", notebooks={},
                     **runtime.environment_info(runtime.select_device(p.train.device)))
PYEOF

status=ok
for nb in notebooks/[0-9][0-9]_*.ipynb; do
  name=$(basename "$nb")
  dest="$OUT/notebooks/$name"
  log "running $name (profile $PROFILE)"
  t0=$(date +%s)
  if ! "$PY" -m inpainting.teaching.notebook_runner "$nb" "$dest" --profile "$PROFILE"; then
    log "FAILED: $name. The executed copy with the traceback is $dest"
    status="failed: $name"
    break
  fi
  secs=$(( $(date +%s) - t0 ))
  log "done $name in ${secs}s"
  "$PY" -c "import sys; from inpainting import disk; disk.update_run_json(sys.argv[1], notebooks={sys.argv[2]: int(sys.argv[3])})" "$PROFILE" "$name" "$secs"
done

"$PY" -c "import sys; from inpainting import disk; disk.update_run_json(sys.argv[1], finished=disk.now_iso(), status=sys.argv[2])" "$PROFILE" "$status"
if [[ "$status" != ok ]]; then exit 1; fi
log "all notebooks done; results in $OUT (summary: $OUT/summary.md)"
