#!/usr/bin/env bash
# Stage 1 of the ToyHome recipe: build the corpus (local/make_corpus.py), write the tables of
# the s5tse data contract (s5tse/fileio/contract.py). The recipe's only dataset-specific code,
# with local/*.py and db.sh; run.sh and everything else are shared with egs/dcase2026_task4.
#
# Usage: local/data.sh [--out_dir data] [--python python3] [--corpus_opts "--num_test_scenes 8"]
#                      [--num_valid_scenes 8]
set -euo pipefail
out_dir=data            # where the table folders go
python=python3
corpus_opts=            # extra options of local/make_corpus.py
num_valid_scenes=8      # validation scenes drawn from the valid pools
help_message="Usage: $0 [--out_dir data] [--python python3] [--corpus_opts OPTS] [--num_valid_scenes N]"
. utils/parse_options.sh
. ./db.sh

# shellcheck disable=SC2086
${python} local/make_corpus.py --out_dir "${TOYHOME}" --synthesis conf/synthesis.yaml ${corpus_opts}
${python} local/prepare_data.py --corpus "${TOYHOME}" --out_dir "${out_dir}"
# validation scenes: drawn from the valid pools with the recipe's rules (JSONs + tables)
${python} -m s5tse.bin.render --pools "${out_dir}" --split valid --generate "${num_valid_scenes}" \
    --seed 1 --synthesis conf/synthesis.yaml --id_prefix toyhome_valid_ --out_dir "${out_dir}/valid" \
    --metadata_only
# the corpus's pre-rendered test set
${python} -m s5tse.bin.make_soundscape_tables --soundscape_dir "${TOYHOME}/test/soundscape" \
    --oracle_dir "${TOYHOME}/test/oracle_target" --out_dir "${out_dir}/test" \
    --classes "${out_dir}/lang/classes.txt"
