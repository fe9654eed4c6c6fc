#!/usr/bin/env bash
# Create (or refresh) the project virtual environment at tools/venv and install s5tse into it.
#
# Usage: tools/install.sh [--python PYTHON] [--force]
#
# Idempotent: a stamp (hash of setup.py) inside the venv records what was installed; a second
# run with an unchanged setup.py does nothing. Only package-registry packages are downloaded.
set -euo pipefail

python=python3
force=false
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python=$2; shift 2 ;;
        --force) force=true; shift ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "$0: unknown option '$1' (expected --python PYTHON or --force)" >&2; exit 2 ;;
    esac
done

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "${tools_dir}")
venv=${tools_dir}/venv
stamp=${venv}/.s5tse_install_stamp

command -v "${python}" >/dev/null 2>&1 || {
    echo "$0: '${python}' not found; install Python >= 3.9 or pass --python" >&2; exit 1; }

if [ ! -x "${venv}/bin/python" ]; then
    echo "$0: creating ${venv}"
    "${python}" -m venv "${venv}"
fi

want=$(cat "${root}/setup.py" | sha256sum | cut -d' ' -f1)
if ! ${force} && [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${want}" ] \
        && "${venv}/bin/python" -c "import s5tse" >/dev/null 2>&1; then
    echo "$0: ${venv} is up to date"
    exit 0
fi

echo "$0: installing s5tse[dev] into ${venv}"
"${venv}/bin/python" -m pip install --quiet --upgrade pip setuptools wheel
"${venv}/bin/python" -m pip install --quiet -e "${root}[dev]"
"${venv}/bin/python" -c "import s5tse, torch, torchaudio; print('s5tse', s5tse.__version__, 'torch', torch.__version__, 'torchaudio', torchaudio.__version__)"
echo "${want}" > "${stamp}"
