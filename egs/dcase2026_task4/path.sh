# Environment for the recipe; sourced by run.sh (after option parsing, so --python applies).
# Activates the project venv (tools/venv, made by tools/install.sh) without a hard failure if it
# is missing: stage 0 reports what is absent.
MAIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export MAIN_ROOT

if [ -x "${MAIN_ROOT}/tools/venv/bin/python" ]; then
    export VIRTUAL_ENV="${MAIN_ROOT}/tools/venv"
    export PATH="${VIRTUAL_ENV}/bin:${PATH}"
else
    echo "path.sh: warning: ${MAIN_ROOT}/tools/venv not found; run ${MAIN_ROOT}/tools/install.sh" >&2
fi
export PATH="${PWD}/utils:${PATH}"

export LC_ALL=C                 # byte-order sorting of Kaldi tables
export PYTHONIOENCODING=UTF-8
export PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=1        # parallelism comes from --nj jobs, not from BLAS threads
export MKL_NUM_THREADS=1
