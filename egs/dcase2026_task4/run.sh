#!/usr/bin/env bash
# s5tse recipe: FOA sound-scene tagging and label-queried separation (DCASE 2026 Task 4, S5).
#
# Usage: ./run.sh [options]              all stages; local/data.sh prepares the corpus of db.sh
#        ./run.sh --stage 1 --stop-stage 2   a range of stages
# Options are "--name value" (dashes and underscores are the same); see ./run.sh --help.
set -euo pipefail

# log MESSAGE -> "2026-05-01T12:00:00 (run.sh:123:main) MESSAGE", located at log's caller.
_log() {  # called only by log, stage_start, stage_end: reports the line that called them
    printf '%s (%s:%s:%s) %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "${BASH_SOURCE[2]##*/}" \
        "${BASH_LINENO[1]}" "${FUNCNAME[2]}" "$*"
}
log() { _log "$@"; }
SECONDS=0

# Every option with its default and meaning; ./run.sh --help prints this block.
# <options>
stage=0                 # first stage to run
stop_stage=100          # last stage to run
skip_data_prep=false    # skip stages 0-2 (environment, data preparation, validation audio)
skip_train=false        # skip the training stages
skip_eval=false         # skip the decoding and scoring stages
nj=4                    # number of parallel jobs for data preparation and synthesis
local_data_opts=        # stage 1: options of local/data.sh, the recipe's corpus code (e.g. "--download true")
download_pretrained=false  # stage 0: fetch the published M2D / fPaSST weights into DOWNLOADS (db.sh) for the *_real configs
download_pretrained_opts=  # extra options of s5tse.bin.download_pretrained (e.g. "--names all")
synthesis_config=conf/synthesis.yaml  # stages 3-4: the rules of the on-the-fly training mixtures
pretrain_configs="conf/tuning/pretrain_m2d_mini.yaml conf/tuning/pretrain_fpasst_mini.yaml"  # stage 3 first pre-trains these encoders to name the training target events (one a window; the mini configs reverberate and add interference) and exports them in the published layouts (the AudioSet stand-in the mini taggers start from; empty: none; the real configs read the published weights)
tagger_configs="conf/tuning/train_tagger_fusion_mini_pretrained.yaml conf/tuning/train_tagger_m2dat_mini_pretrained.yaml"  # stage 3 trains each (proposed, baseline)
tagger_args=            # extra options of every tagger training (e.g. "--max_epochs 2"); named in the exp dir
separator_configs="conf/tuning/train_separator_lq_sr_corrnet_mini.yaml conf/tuning/train_separator_resunetk_mini.yaml"  # stage 4 trains each; the i-th is decoded with the i-th decode tagger
separator_args=         # extra options of every separator training; named in the exp dir
test_sets=test          # stage 5 decodes these sets of ${datadir}
decode_taggers=         # stage 5: the tagger configs whose models decode, one per separator config (empty: tagger_configs)
decode_config=conf/decode.yaml  # stage 5: thresholds, streaming sizes
gpu_inference=false     # stage 5: decode (and tune thresholds) on the GPU: --device cuda, ${cuda_cmd} --gpu 1
decode_args=            # extra options of s5tse.bin.decode (e.g. "--streaming long_context")
decode_tag=             # suffix of the decoding dir names (decode_<labels><tag>_<set>)
oracle_labels=both      # stage 5: false (tagger labels), true (reference labels and spans), both
tune_thresholds=true    # stage 5: grid-search the report/query thresholds on ${dumpdir}/valid first, then score each decision step (argmax, one threshold, decoupled, per-class) on the test sets
tune_opts="--per_class true"  # stage 5: extra options of s5tse.bin.tune_thresholds ("--per_class true": one report threshold per class at the selected tau_q, from the same separations)
ngpu=auto               # GPUs per training job: auto (1 if nvidia-smi lists a GPU, else 0), 0 = CPU, N > 1 = torchrun
num_nodes=1             # nodes per training job (> 1 needs --cmd_backend slurm)
train_jobs=2            # stages 3-4: trainings run at a time (CPU: nproc/train_jobs threads each); 1 when a config starts from another of its list (conf/real.conf)
submission_set=eval     # stage 7 packs the decoding directories of this set (decode_<tag>_<set>)
submission_author=Author        # stage 7: author surname in the submission name
submission_affiliation=Affiliation  # stage 7: affiliation abbreviation in the submission name
submission_number=1     # stage 7: number of the first packed system (one per decoding dir)
cmd_backend=local       # job launcher: local (utils/run.pl) or slurm (utils/slurm.pl, conf/slurm.conf)
python=python3          # python interpreter (e.g. "coverage run --append")
datadir=data            # Kaldi-style tables written by stage 1
dumpdir=dump            # rendered audio written by stage 2
expdir=exp              # experiments, logs and env_info.txt
results=RESULTS.md      # stage 6 writes the results of every system here (and into each exp dir)
# </options>

usage() {
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    echo
    echo "Options (default in brackets):"
    sed -n '/^# <options>$/,/^# <\/options>$/p' "$0" | sed '1d;$d' \
        | awk '{ i = index($0, "#"); def = substr($0, 1, i - 1); sub(/[ \t]+$/, "", def);
                 n = index(def, "="); name = substr(def, 1, n - 1); val = substr(def, n + 1);
                 printf "  --%-22s [%s] %s\n", name, val, substr($0, i + 2) }'
    echo "  --config FILE                shell file of name=value lines, read before the options above"
    echo "  --help                       print this message"
}
help_message=$(usage)

stage_on() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }

run_args=$(printf '%q ' "$0" "$@")
parse_options_exit_code=2
. utils/parse_options.sh
log "${run_args}"
if [ $# -ne 0 ]; then
    echo "$0: error: no positional arguments are accepted (got: $*)" >&2
    usage >&2
    exit 2
fi
usage_error() { echo "$0: error: $*" >&2; usage >&2; exit 2; }
for _opt in stage stop_stage nj submission_number num_nodes train_jobs; do
    [[ "${!_opt}" =~ ^[0-9]+$ ]] || usage_error "--${_opt} must be a non-negative integer, got '${!_opt}'"
done
[ "${nj}" -ge 1 ] || usage_error "--nj must be at least 1, got ${nj}"
[ "${num_nodes}" -ge 1 ] || usage_error "--num_nodes must be at least 1, got ${num_nodes}"
[ "${train_jobs}" -ge 1 ] || usage_error "--train_jobs must be at least 1, got ${train_jobs}"
last_stage=8
if [ "${stage}" -gt "${stop_stage}" ] || [ "${stage}" -gt "${last_stage}" ]; then
    usage_error "--stage ${stage} --stop_stage ${stop_stage} runs no stage (the stages are 0-${last_stage})"
fi

# One-command set-up: create the venv on first use.
[ -x ../../tools/venv/bin/python ] || ../../tools/install.sh
. ./path.sh
. ./cmd.sh
set -a  # the corpus locations reach local/ scripts too
. ./db.sh
set +a

# save_cmd DIR: append the exact command line to DIR/cmd.txt, so every output dir says how it was made.
save_cmd() { mkdir -p "$1"; printf '%s %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "${run_args}" >> "$1/cmd.txt"; }

stage_start() { stage_t0=${SECONDS}; _log "Stage $1: $2"; }
stage_end() { _log "Stage $1 done [elapsed=$((SECONDS - stage_t0))s]"; }

# decode_dirs [SET]: decoding directories ${expdir}/<system>/decode_<tag>_<set>, sorted.
decode_dirs() {
    [ -d "${expdir}" ] || return 0
    find "${expdir}" -mindepth 2 -maxdepth 2 -type d -name "decode_*_${1:-*}" | LC_ALL=C sort
}
# nothing_for N MESSAGE: a stage with no input. Asked for directly (--stage N) it is an
# error; reached in a longer run (before stage 5 exists or produced anything) it is logged.
nothing_for() {
    if [ "${stage}" -ge "$1" ]; then _log "Error: $2"; exit 1; fi
    _log "Stage $1: nothing to do: $2"
}

if [ "${ngpu}" = auto ]; then
    ngpu=0
    if nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then ngpu=1; fi
fi
# exp_tag CONFIG ARGS: <config basename without train_> plus the overrides, e.g. tagger_x_max_epochs2.
exp_tag() {
    local tag
    tag=$(basename "$1" .yaml)
    tag=${tag#train_}
    [ -z "$2" ] || tag+=$(echo "$2" | sed -e 's/--/_/g' -e 's/[ =\/]//g')
    echo "${tag}"
}

# need_table FILE STAGE WHAT: stop with one line when a table a stage reads is missing.
need_table() {
    [ -f "$1" ] || { _log "Error: $1: missing; stage $2 $3: run stage 1 (local/data.sh writes" \
        "it; the data contract: s5tse/fileio/contract.py)"; exit 1; }
}

if ! "${skip_data_prep}"; then
    if stage_on 0; then
        stage_start 0 "Check the environment -> ${expdir}/env_info.txt"
        save_cmd "${expdir}"
        ${python} -m s5tse.bin.env_check --out "${expdir}/env_info.txt" \
            --require_tools "perl" \
            --require_packages "torch torchaudio numpy scipy soundfile yaml kaldiio tensorboard tqdm sofar pyroomacoustics"
        if "${download_pretrained}"; then
            log "Pretrained tagger weights -> ${DOWNLOADS} (resumable; verified against <file>.sha256)"
            # shellcheck disable=SC2086
            ${python} -m s5tse.bin.download_pretrained --download_dir "${DOWNLOADS}" ${download_pretrained_opts}
        fi
        stage_end 0
    fi

    if stage_on 1; then
        stage_start 1 "Data preparation: local/data.sh -> ${datadir}/ (the data contract)"
        save_cmd "${datadir}"
        eval "_local_opts=( ${local_data_opts} )"
        local/data.sh --python "${python}" --out_dir "${datadir}" ${_local_opts[@]+"${_local_opts[@]}"}
        read -r -a _sets <<< "${test_sets}"
        ${python} -m s5tse.bin.validate_data_dir --contract "${datadir}" --test_sets "${_sets[*]}"
        stage_end 1
    fi

    if stage_on 2; then
        _dir=${dumpdir}/valid
        stage_start 2 "Render the validation set: ${datadir}/valid -> ${_dir}/ (logs in ${_dir}/log)"
        save_cmd "${_dir}"
        need_table "${datadir}/valid/metadata.scp" 2 "renders the validation scenes it lists"
        _nj=$(wc -l < "${datadir}/valid/metadata.scp")
        [ "${_nj}" -le "${nj}" ] || _nj=${nj}
        ${train_cmd} JOB=1:"${_nj}" "${_dir}/log/render.JOB.log" \
            ${python} -m s5tse.bin.render --data_dir "${datadir}/valid" \
                --out_dir "${_dir}" --shard "JOB/${_nj}"
        ${python} -m s5tse.bin.make_soundscape_tables --soundscape_dir "${_dir}/soundscape" \
            --oracle_dir "${_dir}/oracle_target" --out_dir "${_dir}" \
            --classes "${datadir}/lang/classes.txt"
        mkdir -p "${dumpdir}/lang" && cp "${datadir}/lang/classes.txt" "${dumpdir}/lang/"
        stage_end 2
    fi
else
    log "Skip the data preparation stages (0-2)"
fi

# train_all CONFIGS ARGS: train each config into ${expdir}/<exp_tag> (re-running resumes),
# ${train_jobs} at a time; a failed training stops the stage, naming its config and log.
train_all() {
    local conf exp _threads
    local -a pids=() confs=()
    # shellcheck disable=SC2086
    eval "launcher=( $(${python} -m s5tse.train.launch --ngpu "${ngpu}" \
        --num_nodes "${num_nodes}" --cmd_backend "${cmd_backend}") )"
    need_table "${datadir}/lang/classes.txt" "3-4" "trains on the classes it lists"
    local -a _env=()
    if [ "${ngpu}" = 0 ] && [ "${train_jobs}" -gt 1 ]; then   # share the CPU cores
        _threads=$(( $(nproc) / train_jobs ))
        [ "${_threads}" -ge 1 ] || _threads=1
        _env=(env OMP_NUM_THREADS="${_threads}")
    fi
    for conf in $1; do
        exp=${expdir}/$(exp_tag "${conf}" "$2")
        save_cmd "${exp}"
        log "Training ${conf} -> ${exp} (log: ${exp}/train.log; re-running resumes)"
        # shellcheck disable=SC2086
        ${_env[@]+"${_env[@]}"} ${cuda_cmd} --gpu "${ngpu}" --num_nodes "${num_nodes}" "${exp}/log/launch.log" \
            ${launcher[@]+"${launcher[@]}"} ${python} -m s5tse.bin.train --config "${conf}" \
                --train_data "${datadir}" --valid_data "${datadir}" \
                --classes "${datadir}/lang/classes.txt" --synthesis "${synthesis_config}" \
                --output_dir "${exp}" --ngpu "${ngpu}" $2 &
        pids+=($!)
        confs+=("${conf}")
        if [ "${#pids[@]}" -ge "${train_jobs}" ]; then
            wait_trainings "$2"
            pids=()
            confs=()
        fi
    done
    [ "${#pids[@]}" -eq 0 ] || wait_trainings "$2"
}
# wait_trainings ARGS: wait for every training in pids/confs (train_all); stop if one failed.
wait_trainings() {
    local i failed=0
    for i in "${!pids[@]}"; do
        if ! wait "${pids[i]}"; then
            log "Error: training ${confs[i]} failed; see ${expdir}/$(exp_tag "${confs[i]}" "$1")/log/launch.log"
            failed=1
        fi
    done
    [ "${failed}" -eq 0 ] || exit 1
}

if ! "${skip_train}"; then
    if stage_on 3; then
        stage_start 3 "Train the taggers: ${pretrain_configs:+pre-train ${pretrain_configs}, then }${tagger_configs}"
        if [ -n "${pretrain_configs}" ]; then
            train_all "${pretrain_configs}" ""
            for _conf in ${pretrain_configs}; do
                # the published layout (exp/<name>/m2d_weights.pth | fpasst_weights.pt)
                ${python} -m s5tse.bin.export_encoder --exp_dir "${expdir}/$(exp_tag "${_conf}" "")"
            done
        fi
        train_all "${tagger_configs}" "${tagger_args}"
        stage_end 3
    fi

    if stage_on 4; then
        stage_start 4 "Train the separators (oracle queries): ${separator_configs}"
        train_all "${separator_configs}" "${separator_args}"
        stage_end 4
    fi
else
    log "Skip the training stages (3-4)"
fi

if ! "${skip_eval}"; then
    if stage_on 5; then
        stage_start 5 "Decode ${test_sets}: tagger -> bridge -> separator (${decode_config})"
        read -r -a _taggers <<< "${decode_taggers:-${tagger_configs}}"
        read -r -a _separators <<< "${separator_configs}"
        case "${oracle_labels}" in
            false) _label_modes="estimated" ;;
            true) _label_modes="oracle" ;;
            both) _label_modes="estimated oracle" ;;
            *) log "Error: --oracle_labels must be false, true or both, got '${oracle_labels}'"; exit 1 ;;
        esac
        if [ "${oracle_labels}" != true ] && [ "${#_taggers[@]}" -ne "${#_separators[@]}" ]; then
            _what=tagger_configs
            [ -z "${decode_taggers}" ] || _what=decode_taggers
            log "Error: stage 5 decodes the i-th separator with the i-th tagger: got" \
                "${#_taggers[@]} ${_what} and ${#_separators[@]} separator_configs"
            exit 1
        fi
        _dev_opts=()
        _dec_cmd=${decode_cmd}
        if "${gpu_inference}"; then
            _dev_opts=(--device cuda)
            _dec_cmd="${cuda_cmd} --gpu 1"
        fi
        for _i in "${!_separators[@]}"; do
            _sep=${expdir}/$(exp_tag "${_separators[_i]}" "${separator_args}")
            _tag=
            [ "${oracle_labels}" = true ] || _tag=${expdir}/$(exp_tag "${_taggers[_i]}" "${tagger_args}")
            if [ -n "${_tag}" ] && "${tune_thresholds}"; then
                log "Tuning the report/query thresholds of ${_tag} on ${dumpdir}/valid with ${_sep}"
                # shellcheck disable=SC2086
                ${_dec_cmd} "${_tag}/log/tune_thresholds.log" \
                    ${python} -m s5tse.bin.tune_thresholds --config "${decode_config}" \
                        --tagger_exp "${_tag}" --separator_exp "${_sep}" --data "${dumpdir}/valid" \
                        ${_dev_opts[@]+"${_dev_opts[@]}"} ${tune_opts}
            fi
            for _mode in ${_label_modes}; do
                if [ "${_mode}" = oracle ]; then
                    _labels=oracle
                    _label_opts=(--use_oracle_labels true)
                else
                    _labels=$(basename "${_tag}")
                    _labels=${_labels#tagger_}
                    _label_opts=(--tagger_exp "${_tag}")
                fi
                for _set in ${test_sets}; do
                    _dir=${_sep}/decode_${_labels}${decode_tag}_${_set}
                    need_table "${datadir}/${_set}/wav.scp" 5 "decodes the mixtures it lists"
                    _nj=$(wc -l < "${datadir}/${_set}/wav.scp")
                    [ "${_nj}" -le "${nj}" ] || _nj=${nj}
                    save_cmd "${_dir}"
                    log "Decoding ${datadir}/${_set} -> ${_dir} (${_nj} jobs, logs in ${_dir}/log)"
                    _opts=(--config "${decode_config}" --separator_exp "${_sep}" "${_label_opts[@]}"
                           --data "${datadir}/${_set}" --output_dir "${_dir}" --num_jobs "${_nj}"
                           ${_dev_opts[@]+"${_dev_opts[@]}"})
                    # the decision steps below separate the decoded query set again: share it
                    _cache=${_sep}/separations_${_labels}${decode_tag}_${_set}
                    _steps_on=false
                    if [ "${_mode}" = estimated ] && "${tune_thresholds}" \
                            && [ -f "${datadir}/${_set}/spk1.scp" ]; then
                        _steps_on=true
                        _opts+=(--separation_cache "${_cache}")
                    fi
                    _threads=()  # parallel jobs share the cores: one thread each
                    [ "${_nj}" -eq 1 ] || _threads=(--num_threads 1)
                    # shellcheck disable=SC2086
                    ${_dec_cmd} JOB=1:"${_nj}" "${_dir}/log/decode.JOB.log" \
                        ${python} -m s5tse.bin.decode "${_opts[@]}" --job JOB --overwrite true \
                            ${_threads[@]+"${_threads[@]}"} ${decode_args}
                    # shellcheck disable=SC2086
                    ${python} -m s5tse.bin.decode "${_opts[@]}" --merge true ${decode_args}
                    if "${_steps_on}"; then
                        log "What each decision step adds on ${datadir}/${_set} -> ${_dir}/decision_steps.json"
                        _steps=(--config "${decode_config}" --tagger_exp "${_tag}"
                                --separator_exp "${_sep}" --data "${datadir}/${_set}"
                                --output "${_dir}/decision_steps.json" --num_jobs "${_nj}"
                                --separation_cache "${_cache}" ${_dev_opts[@]+"${_dev_opts[@]}"})
                        # shellcheck disable=SC2086
                        ${_dec_cmd} JOB=1:"${_nj}" "${_dir}/log/decision_steps.JOB.log" \
                            ${python} -m s5tse.bin.decision_steps "${_steps[@]}" --job JOB \
                                ${_threads[@]+"${_threads[@]}"} ${decode_args}
                        # shellcheck disable=SC2086
                        [ "${_nj}" -eq 1 ] || ${python} -m s5tse.bin.decision_steps "${_steps[@]}" \
                            --merge true ${decode_args}
                        rm -rf "${_cache}"
                    fi
                done
            done
        done
        stage_end 5
    fi

    if stage_on 6; then
        stage_start 6 "Score every decoding directory ${expdir}/*/decode_*, write ${results}"
        _dirs=$(decode_dirs)
        if [ -z "${_dirs}" ]; then
            nothing_for 6 "no decoding directories ${expdir}/*/decode_<tag>_<set>; run stage 5 first"
        else
            for _dir in ${_dirs}; do
                _set=${_dir##*_}
                if [ ! -f "${datadir}/${_set}/wav.scp" ]; then
                    log "Error: ${_dir} decodes set '${_set}' but ${datadir}/${_set}/wav.scp does not exist"
                    exit 1
                fi
                log "Scoring ${_dir} against ${datadir}/${_set} -> ${_dir}/scoring"
                ${python} -m s5tse.bin.score --data_dir "${datadir}/${_set}" --estimate_dir "${_dir}" \
                    --out_dir "${_dir}/scoring" --nj "${nj}" --unprocessed_row true
            done
            # scores that others reported for the (first) test set, when stage 1 wrote them
            read -r -a _sets <<< "${test_sets}"
            _reported=()
            [ ! -f "${datadir}/${_sets[0]}/reported_results.tsv" ] \
                || _reported=(--reported "${datadir}/${_sets[0]}/reported_results.tsv")
            ${python} -m s5tse.bin.show_results --expdir "${expdir}" --out "${results}" \
                ${_reported[@]+"${_reported[@]}"}
            log "Results: ${results} and ${expdir}/<system>/RESULTS.md"
        fi
        stage_end 6
    fi
else
    log "Skip the decoding and scoring stages (5-6)"
fi

if stage_on 7; then
    _out=${expdir}/submission
    stage_start 7 "Pack the DCASE submission(s) of set '${submission_set}' -> ${_out}"
    # oracle-label decodings used the reference labels: never a submission
    _dirs=$(decode_dirs "${submission_set}" | grep -v '/decode_oracle[^/]*$' || true)
    if [ -z "${_dirs}" ]; then
        nothing_for 7 "no decoding directories ${expdir}/*/decode_<tag>_${submission_set}; run stage 5 on that set"
    else
        _wav=$(head -n 1 "${datadir}/${submission_set}/wav.scp" | cut -d' ' -f2-)
        _number=${submission_number}
        for _dir in ${_dirs}; do
            # the dev test set's scores in the official evaluator's structure
            _dev=${_dir%_"${submission_set}"}_test/scoring/official_results.json
            _dev_opt=()
            if [ -f "${_dev}" ]; then
                _dev_wav=$(head -n 1 "${datadir}/test/wav.scp" | cut -d' ' -f2-)
                _dev_opt=(--dev_results "${_dev}" --dev_soundscape_dir "$(dirname "${_dev_wav}")")
            fi
            ${python} -m s5tse.bin.pack_submission --decode_dir "${_dir}" \
                --soundscape_dir "$(dirname "${_wav}")" --author "${submission_author}" \
                --affiliation "${submission_affiliation}" --number "${_number}" \
                --out_dir "${_out}" --overwrite true ${_dev_opt[@]+"${_dev_opt[@]}"}
            _number=$((_number + 1))
        done
    fi
    stage_end 7
fi

if stage_on 8; then
    _out=${expdir}/packed
    read -r -a _sets <<< "${test_sets}"
    stage_start 8 "Pack each estimated-label system decoded on '${_sets[0]}' for inference -> ${_out}/"
    _dirs=$(decode_dirs "${_sets[0]}" | grep -v '/decode_oracle[^/]*$' || true)
    if [ -z "${_dirs}" ]; then
        nothing_for 8 "no estimated-label decoding directories ${expdir}/*/decode_<tag>_${_sets[0]}; run stage 5"
    else
        for _dir in ${_dirs}; do
            _sys=$(basename "$(dirname "${_dir}")")
            _labels=$(basename "${_dir}")
            _labels=${_labels#decode_}
            # <separator config>+<tagger config>, e.g. lq_sr_corrnet_mini+fusion_mini_pretrained
            ${python} -m s5tse.bin.pack_model --decode_dir "${_dir}" \
                --output "${_out}/${_sys#separator_}+${_labels%_"${_sets[0]}"}" --overwrite true
        done
        log "Separate your own recordings: ${python} -m s5tse.bin.separate --model ${_out}/<system> --out_dir DIR FILE.wav"
    fi
    stage_end 8
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
