#!/usr/bin/env bash
# Run the whole test suite; sets up tools/venv first if needed.
#
# Usage: tools/test.sh [pytest options]      e.g. tools/test.sh -x -k table
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"${root}/tools/install.sh"
cd "${root}"
export LC_ALL=C OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
# pytest exits 5 when it collects no test: that is a failure here too.
exec "${root}/tools/venv/bin/python" -m pytest -c tests/pytest.ini --rootdir "${root}" tests "$@"
