#!/usr/bin/env bash
# Split a Kaldi table into N contiguous parts of (almost) equal size, Kaldi's split_scp.pl
# interface. Thin wrapper over python -m s5tse.bin.split_scp.
#
# Usage: utils/split_scp.sh IN.scp OUT.1.scp OUT.2.scp ...
exec "${PYTHON:-python3}" -m s5tse.bin.split_scp "$@"
