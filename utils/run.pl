#!/usr/bin/env perl
# utils/run.pl -- run a (possibly parallel array of) command(s) on the local machine (s5tse).
# Written for s5tse; implements the interface of Kaldi's run.pl (no code taken from it).
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use POSIX qw(setpgid);
use FindBin;
use lib $FindBin::RealBin;    # the real utils/ directory, also via a symlink or PATH
use S5tseJobs qw(parse_command_line shell_quote subst_job job_log now_str log_header log_footer
                 select_jobs report_failures);

my $usage = <<'EOF';
Usage: run.pl [options] [VAR=START:END] <log-file> <command> [<arg> ...]
  Runs <command> with bash, appending its stdout and stderr to <log-file>. With a job range
  such as JOB=1:4 (any identifier), runs jobs START..END in parallel, replacing every
  occurrence of the identifier in <log-file> and in each argument by the job index; the log
  name must then contain the identifier. START must be >= 1 and END >= START.
Examples:
  run.pl exp/log/prep.log local/prep.sh data/train
  run.pl JOB=1:4 exp/log/infer.JOB.log python -m s5tse.bin.infer --key_file keys.JOB.scp
  run.pl exp/log/count.log cat data/wav.scp \| wc -l       # escape pipes and redirections
Arguments with spaces or shell-special characters are single-quoted (stored literally); an
argument that is exactly a shell operator (| || && ; > >> < 2> 2>&1 ...) is passed unquoted.
Each log starts with "# <command>" and "# Started at <date>" and ends with
"# Accounting: time=<s> threads=1" and "# Ended (code <N>) at <date>, elapsed time <s> seconds".
Options:
  --max-jobs-run N | -tc N     at most N jobs at a time (default: number of CPUs; with
                               --gpu N>0, the number of GPUs from nvidia-smi if any)
  --pick all|failed|incomplete all (default); failed: only jobs whose log does not end in
                               "# Ended (code 0)"; incomplete: only jobs whose log lacks an
                               "# Ended" footer
  --help | -h                  print this message
  Queue options (--gpu, --mem, --num-threads, --time, --name, --num-nodes, --config and any
  other "--name value") are accepted and ignored, so run.pl is a drop-in for slurm.pl.
Exit status: 0 if all jobs succeed; 1 if any fails (a report with the tail of the first
failing log goes to stderr) or on usage errors.
EOF

my $gpu = 0;    # only used to choose the default --max-jobs-run; other queue options are ignored
my $spec = parse_command_line('run.pl', $usage, \@ARGV, sub { $gpu = $_[1] if $_[0] eq 'gpu' });
my @args = @{ $spec->{args} };

# ---------------------------------------------------------------- helpers
sub num_cpus {
    # GNU nproc reports OMP_NUM_THREADS when it is set, and path.sh sets it to 1 for the
    # jobs themselves: count the usable CPUs without it
    my $n = `env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null`;
    return $1 if defined $n && $n =~ /^(\d+)/ && $1 > 0;
    if (open(my $fh, '<', '/proc/cpuinfo')) {
        my $c = grep { /^processor\s*:/ } <$fh>;
        return $c if $c > 0;
    }
    return 1;
}

sub num_gpus {
    my @l = grep { /^GPU \d+/ } `nvidia-smi -L 2>/dev/null`;
    return scalar @l;
}

# ---------------------------------------------------------------- select jobs
my @jobs = select_jobs($spec);
my $max_jobs_run = $spec->{max_jobs_run};
unless (defined $max_jobs_run) {
    my $ng = ($gpu =~ /^\d+$/ && $gpu > 0) ? num_gpus() : 0;
    $max_jobs_run = $ng > 0 ? $ng : num_cpus();
}

# ---------------------------------------------------------------- run one job (in a child)
sub run_job {
    my ($id) = @_;
    my $log = job_log($spec, $id);
    my $cmd = join(' ', map { shell_quote(subst_job($_, $spec->{var}, $id)) } @args);
    my $dir = dirname($log);
    eval { make_path($dir) unless -d $dir; 1 } or do { print STDERR "run.pl: cannot create $dir: $@"; exit 1; };
    open(my $fh, '>', $log) or do { print STDERR "run.pl: cannot write $log: $!\n"; exit 1; };
    print $fh log_header($cmd, now_str());
    close $fh;
    my $t0 = time;
    open(STDOUT, '>>', $log) or exit 1;
    open(STDERR, '>&', \*STDOUT) or exit 1;
    system('bash', '-c', $cmd);
    my $status = $?;
    my $code = $status == -1 ? 127 : ($status & 127) ? 128 + ($status & 127) : $status >> 8;
    my $elapsed = time - $t0;
    open($fh, '>>', $log) or exit 1;
    print $fh log_footer($code, $elapsed, 1, now_str());
    close $fh;
    exit($code > 255 ? 255 : $code);
}

# ---------------------------------------------------------------- scheduler
my %running;     # pid -> job id
my %code;        # job id -> exit code

# On SIGINT/SIGTERM kill every running job (each has its own process group) and leave.
for my $sig (qw(INT TERM)) {
    $SIG{$sig} = sub {
        for my $pid (keys %running) { kill('TERM', -$pid) or kill('TERM', $pid); }
        1 while waitpid(-1, 0) > 0;
        print STDERR "run.pl: caught SIG$sig, killed running jobs\n";
        exit($sig eq 'INT' ? 130 : 143);
    };
}

sub reap_one {
    my $pid = waitpid(-1, 0);
    if ($pid < 0) {    # no children left (should not happen): count the rest as failed
        $code{$_} = 1 for values %running;
        %running = ();
        return;
    }
    return unless exists $running{$pid};
    my $id = delete $running{$pid};
    $code{$id} = ($? & 127) ? 128 + ($? & 127) : $? >> 8;
}

for my $id (@jobs) {
    reap_one() while scalar(keys %running) >= $max_jobs_run;
    my $pid = fork();
    die "run.pl: fork failed: $!\n" unless defined $pid;
    if ($pid == 0) {
        $SIG{INT} = $SIG{TERM} = 'DEFAULT';
        setpgid(0, 0);
        run_job($id);
    }
    setpgid($pid, $pid);    # also in the parent: no race with an early signal
    $running{$pid} = $id;
}
reap_one() while %running;

# ---------------------------------------------------------------- report
exit(report_failures($spec, \@jobs, \%code) ? 1 : 0);
