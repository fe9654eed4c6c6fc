# Corpus location. Sourced by run.sh (which exports it) and local/data.sh.
# TOYHOME: the ToyHome corpus; stage 1 builds it there (local/make_corpus.py) if it is missing.
TOYHOME=${TOYHOME:-${PWD}/corpus/toyhome}
