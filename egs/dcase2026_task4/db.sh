# Corpus locations. Sourced by run.sh and local/*.sh.
#
# DCASE2026T4: root of the DCASE 2026 Task 4 development dataset, i.e. the folder that holds
#   data/dev_set (after unzipping Zenodo record 19328046 this is .../DCASE2026Task4Dataset).
#   Leave it empty to use the built-in mini corpus, which stage 0 builds at MINI_CORPUS.
#   With ./run.sh --download true, stage 0 downloads the real corpus into DOWNLOADS and sets
#   DCASE2026T4 to the extracted root.
DCASE2026T4=${DCASE2026T4:-}
MINI_CORPUS=${MINI_CORPUS:-${PWD}/corpus/mini/DCASE2026Task4Dataset}
DOWNLOADS=${DOWNLOADS:-${PWD}/downloads}
