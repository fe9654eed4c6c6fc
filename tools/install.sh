#!/usr/bin/env bash
# Create (or refresh) the project virtual environment at tools/venv and install s5tse into it.
#
# Usage: tools/install.sh [--python PYTHON] [--torch REQUIREMENT] [--torch-index URL] [--force]
#
#   --torch REQ        install this torch first, e.g. 'torch==2.13.0+cpu' (a CPU build: about
#                      0.9 GB instead of the 5-6 GB of PyPI's default CUDA build); s5tse's own
#                      requirement (torch>=2.4,<3) then keeps it.
#   --torch-index URL  extra index for --torch, e.g. https://download.pytorch.org/whl/cpu
#
# Idempotent: a stamp (hash of setup.py) inside the venv records what was installed; a second
# run with an unchanged setup.py and no --torch does nothing. Only package-registry packages are
# downloaded, and pip keeps no cache (the wheels would double the disk the venv needs).
set -euo pipefail

python=python3
force=false
torch_req=
torch_index=
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python=$2; shift 2 ;;
        --torch) torch_req=$2; shift 2 ;;
        --torch-index) torch_index=$2; shift 2 ;;
        --force) force=true; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "$0: unknown option '$1' (expected --python, --torch, --torch-index or --force)" >&2
           exit 2 ;;
    esac
done
[ -z "${torch_index}" ] || [ -n "${torch_req}" ] || {
    echo "$0: --torch-index needs --torch (the torch requirement to take from it)" >&2; exit 2; }

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "${tools_dir}")
venv=${tools_dir}/venv
stamp=${venv}/.s5tse_install_stamp
export PIP_NO_CACHE_DIR=1

command -v "${python}" >/dev/null 2>&1 || {
    echo "$0: '${python}' not found; install Python >= 3.9 or pass --python" >&2; exit 1; }

if [ ! -x "${venv}/bin/python" ]; then
    echo "$0: creating ${venv}"
    "${python}" -m venv "${venv}"
fi

want=$(cat "${root}/setup.py" | sha256sum | cut -d' ' -f1)
if ! ${force} && [ -z "${torch_req}" ] && [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${want}" ] \
        && "${venv}/bin/python" -c "import s5tse" >/dev/null 2>&1; then
    echo "$0: ${venv} is up to date"
    exit 0
fi

echo "$0: installing s5tse[dev] into ${venv}"
"${venv}/bin/python" -m pip install --quiet --upgrade pip setuptools wheel
if [ -n "${torch_req}" ]; then
    echo "$0: installing ${torch_req}"
    "${venv}/bin/python" -m pip install --quiet ${torch_index:+--extra-index-url "${torch_index}"} \
        "${torch_req}"
fi
"${venv}/bin/python" -m pip install --quiet -e "${root}[dev]"
"${venv}/bin/python" "${tools_dir}/torchaudio_cpu_fix.py"
"${venv}/bin/python" -c "import s5tse, torch, torchaudio; print('s5tse', s5tse.__version__, 'torch', torch.__version__, 'torchaudio', torchaudio.__version__)"
echo "${want}" > "${stamp}"
