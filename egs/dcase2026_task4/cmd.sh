# Job launchers, Kaldi style: "${train_cmd} JOB=1:N LOG cmd ..." (see utils/run.pl --help).
#   local : run on this machine (utils/run.pl); the default.
#   slurm : submit Slurm array jobs (utils/slurm.pl); options mapped by conf/slurm.conf.
# Select with ./run.sh --cmd_backend slurm, or edit the default below.
cmd_backend=${cmd_backend:-local}

case "${cmd_backend}" in
    local)
        train_cmd="run.pl"      # CPU jobs: data preparation, synthesis, scoring
        cuda_cmd="run.pl"       # GPU jobs: training (--gpu N is accepted and ignored)
        decode_cmd="run.pl"     # decoding
        ;;
    slurm)
        train_cmd="slurm.pl --config conf/slurm.conf"
        cuda_cmd="slurm.pl --config conf/slurm.conf"
        decode_cmd="slurm.pl --config conf/slurm.conf"
        ;;
    *)
        echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (expected local or slurm)" >&2
        return 2 2>/dev/null || exit 2
        ;;
esac
export train_cmd cuda_cmd decode_cmd
