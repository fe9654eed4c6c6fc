#!/usr/bin/env bash
# Stage 1 of the DCASE 2026 Task 4 recipe: get the corpus, write the data/ tables.
# The recipe's only corpus-specific step (with local/make_mini_corpus.sh): a fork of the
# recipe for another dataset replaces local/ and db.sh, and writes the same tables (the data
# contract: s5tse/fileio/contract.py).
#
# The corpus: DCASE2026T4 from db.sh (checked), else with --download true the real corpus
# (Zenodo, into DOWNLOADS), else the built-in mini corpus (built at MINI_CORPUS).
#
# Usage: local/data.sh [--out_dir data] [--python python3] [--download false]
#                      [--download_opts "--include '*.z0*'"] [--mini_corpus_opts "--num_test_scenes 20"]
set -euo pipefail
out_dir=data            # where the table folders go
python=python3
download=false          # download the real corpus when DCASE2026T4 in db.sh is empty
download_opts=          # extra options of s5tse.bin.download_corpus
mini_corpus_opts=       # extra options of s5tse.bin.make_mini_corpus (see its --print_config)
help_message="Usage: $0 [--out_dir data] [--python python3] [--download false] [--download_opts OPTS] [--mini_corpus_opts OPTS]"
. utils/parse_options.sh
. ./db.sh

if [ -n "${DCASE2026T4}" ]; then
    if [ ! -d "${DCASE2026T4}" ]; then
        echo "$0: error: DCASE2026T4=${DCASE2026T4} does not exist; set DCASE2026T4 in db.sh to the" \
            "folder holding data/dev_set, or leave it empty to use the built-in mini corpus" >&2
        exit 1
    fi
    ${python} -m s5tse.bin.check_corpus "${DCASE2026T4}" || {
        echo "$0: error: DCASE2026T4=${DCASE2026T4} (db.sh) is not a complete DCASE2026Task4Dataset;" \
            "fix the corpus or set DCASE2026T4 in db.sh to the folder holding data/dev_set" >&2
        exit 1
    }
    corpus_root=${DCASE2026T4}
elif "${download}"; then
    # shellcheck disable=SC2086
    ${python} -m s5tse.bin.download_corpus --out_dir "${DOWNLOADS}" --extract_dir "${DOWNLOADS}" \
        ${download_opts}
    corpus_root=${DOWNLOADS}/DCASE2026Task4Dataset
else
    local/make_mini_corpus.sh --python "${python}" --out_dir "${MINI_CORPUS}" --opts "${mini_corpus_opts}"
    corpus_root=${MINI_CORPUS}
fi
${python} -m s5tse.bin.prepare_data --corpus_root "${corpus_root}" --out_dir "${out_dir}"
