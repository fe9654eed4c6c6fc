#!/usr/bin/env bash
# Build the built-in mini corpus (a small DCASE2026Task4Dataset in the official layout).
#
# Usage: local/make_mini_corpus.sh --out_dir DIR [--python python3] [--opts "--num_test_scenes 20"]
set -euo pipefail
out_dir=        # dataset root to create (it will hold data/dev_set)
python=python3
opts=           # extra options of s5tse.bin.make_mini_corpus (see its --print_config)
help_message="Usage: $0 --out_dir DIR [--python python3] [--opts \"--seed 1\"]"
. utils/parse_options.sh
[ -n "${out_dir}" ] || { echo "$0: --out_dir is required" >&2; exit 2; }
# shellcheck disable=SC2086
${python} -m s5tse.bin.make_mini_corpus --out_dir "${out_dir}" ${opts}
