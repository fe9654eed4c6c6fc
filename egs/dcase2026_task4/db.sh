# Corpus locations. Sourced by run.sh (which exports them) and local/*.sh.
#
# DCASE2026T4: root of the DCASE 2026 Task 4 development dataset, i.e. the folder that holds
#   data/dev_set (after unzipping Zenodo record 19328046 this is .../DCASE2026Task4Dataset).
#   Leave it empty to use the built-in mini corpus, which stage 1 builds at MINI_CORPUS.
#   With ./run.sh --local_data_opts "--download true", stage 1 downloads the real corpus into
#   DOWNLOADS and uses the extracted root.
# DOWNLOADS: also where stage 0 puts the published M2D / fPaSST weights (--download_pretrained).
DCASE2026T4=${DCASE2026T4:-}
MINI_CORPUS=${MINI_CORPUS:-${PWD}/corpus/mini/DCASE2026Task4Dataset}
DOWNLOADS=${DOWNLOADS:-${PWD}/downloads}
