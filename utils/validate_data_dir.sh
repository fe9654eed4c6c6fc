#!/usr/bin/env bash
# Validate a Kaldi-style data directory (sorted unique keys, consistent key sets, audio files
# present with the expected format). Thin wrapper over python -m s5tse.bin.validate_data_dir.
#
# Usage: utils/validate_data_dir.sh [--sample_rate 32000] [--num_channels 4] [--no_audio] DATA_DIR
exec "${PYTHON:-python3}" -m s5tse.bin.validate_data_dir "$@"
