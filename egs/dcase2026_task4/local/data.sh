#!/usr/bin/env bash
# Corpus -> Kaldi-style tables (stage 1). The only corpus-specific step: a fork of this
# recipe for another dataset replaces this script.
#
# Usage: local/data.sh --corpus_root DIR [--out_dir data] [--python python3]
set -euo pipefail
corpus_root=    # dataset root: the folder holding data/dev_set
out_dir=data    # where the table folders go
python=python3
help_message="Usage: $0 --corpus_root DIR [--out_dir data] [--python python3]"
. utils/parse_options.sh
[ -n "${corpus_root}" ] || { echo "$0: --corpus_root is required" >&2; exit 2; }
# shellcheck disable=SC2086
${python} -m s5tse.bin.prepare_data --corpus_root "${corpus_root}" --out_dir "${out_dir}"
