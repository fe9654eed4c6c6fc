#!/usr/bin/env perl
# utils/run.pl -- run a (possibly parallel array of) command(s) on the local machine (s5tse).
# Written for s5tse; implements the interface of Kaldi's run.pl (no code taken from it).
use strict;
use warnings;
use File::Basename qw(basename dirname);
use File::Path qw(make_path);
use POSIX qw(strftime setpgid WNOHANG);

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

sub usage_error {
    print STDERR "run.pl: $_[0] (see run.pl --help)\n";
    exit 1;
}

# ---------------------------------------------------------------- options
my $max_jobs_run;
my $pick = 'all';
my $gpu  = 0;
while (@ARGV && $ARGV[0] =~ /^-/) {
    my $opt = shift @ARGV;
    if ($opt eq '--help' || $opt eq '-h') { print $usage; exit 0; }
    last if $opt eq '--';
    usage_error("option $opt requires a value") unless @ARGV;
    my $val = shift @ARGV;
    (my $name = $opt) =~ s/^-+//;
    $name =~ tr/-/_/;
    if ($name eq 'max_jobs_run' || $name eq 'tc') {
        usage_error("$opt expects a positive integer, got '$val'") unless $val =~ /^[1-9]\d*$/;
        $max_jobs_run = $val;
    } elsif ($name eq 'pick') {
        usage_error("--pick expects all, failed or incomplete, got '$val'")
            unless $val =~ /^(all|failed|incomplete)$/;
        $pick = $val;
    } elsif ($name eq 'gpu') {
        $gpu = $val;    # only used to choose the default --max-jobs-run
    }
    # everything else (--mem, --num-threads, --time, --name, --config, ...) is ignored
}

# ---------------------------------------------------------------- job range
my ($jobvar, $start, $end) = (undef, 1, 1);
if (@ARGV && $ARGV[0] =~ /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/) {
    my ($var, $range) = ($1, $2);
    my $arg = shift @ARGV;
    unless ($range =~ /^(\d+):(\d+)$/ && $1 >= 1 && $2 >= $1) {
        usage_error("bad job range '$arg': expected VAR=START:END with integers 1 <= START <= END");
    }
    ($jobvar, $start, $end) = ($var, $1 + 0, $2 + 0);
}
usage_error("expected a log file and a command") if @ARGV < 2;
my $logpattern = shift @ARGV;
my @args = @ARGV;
if (defined $jobvar && $end > $start && index($logpattern, $jobvar) < 0) {
    usage_error("the log file name '$logpattern' must contain '$jobvar' when running jobs $start..$end");
}

# ---------------------------------------------------------------- helpers
# Shell operators that a user escapes on the command line (\|, \>) and that must reach bash
# unquoted.
my %operator = map { $_ => 1 } ('|', '|&', '||', '&&', ';', '&', '<', '>', '>>', '2>', '2>>',
                                '&>', '&>>', '2>&1', '1>&2', '>&2', '(', ')');

# Quote one argument for bash: safe words as they are, operators raw, the rest single-quoted.
sub shell_quote {
    my ($s) = @_;
    return $s if $operator{$s};
    return $s if $s =~ m{^[A-Za-z0-9_\-+=.,:/@%^]+$};
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

sub subst_job {
    my ($s, $id) = @_;
    return $s unless defined $jobvar;
    $s =~ s/\Q$jobvar\E/$id/g;
    return $s;
}

sub now_str { return strftime('%a %b %e %H:%M:%S %Z %Y', localtime); }

# Last non-empty line of a file ('' if missing).
sub last_line {
    my ($file) = @_;
    open(my $fh, '<', $file) or return '';
    my $size = -s $fh;
    seek($fh, $size > 4096 ? $size - 4096 : 0, 0);
    local $/;
    my $tail = <$fh> // '';
    close $fh;
    my @lines = grep { /\S/ } split /\n/, $tail;
    return @lines ? $lines[-1] : '';
}

sub tail_lines {
    my ($file, $n) = @_;
    open(my $fh, '<', $file) or return ();
    my @lines = <$fh>;
    close $fh;
    return @lines > $n ? @lines[-$n .. -1] : @lines;
}

sub num_cpus {
    my $n = `nproc 2>/dev/null`;
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
my @jobs;
for my $id ($start .. $end) {
    my $log = subst_job($logpattern, $id);
    if ($pick eq 'failed') {
        next if last_line($log) =~ /^# Ended \(code 0\)/;
    } elsif ($pick eq 'incomplete') {
        next if last_line($log) =~ /^# Ended /;
    }
    push @jobs, $id;
}
my $total = $end - $start + 1;
if (!@jobs) {
    print STDERR "run.pl: nothing to do (--pick $pick): all $total job(s) already done\n";
    exit 0;
}

unless (defined $max_jobs_run) {
    my $ng = ($gpu =~ /^\d+$/ && $gpu > 0) ? num_gpus() : 0;
    $max_jobs_run = $ng > 0 ? $ng : num_cpus();
}

# ---------------------------------------------------------------- run one job (in a child)
sub run_job {
    my ($id) = @_;
    my $log = subst_job($logpattern, $id);
    my $cmd = join(' ', map { shell_quote(subst_job($_, $id)) } @args);
    my $dir = dirname($log);
    eval { make_path($dir) unless -d $dir; 1 } or do { print STDERR "run.pl: cannot create $dir: $@"; exit 1; };
    open(my $fh, '>', $log) or do { print STDERR "run.pl: cannot write $log: $!\n"; exit 1; };
    (my $shown = $cmd) =~ s/\n/\n# /g;
    print $fh "# $shown\n# Started at " . now_str() . "\n";
    close $fh;
    my $t0 = time;
    open(STDOUT, '>>', $log) or exit 1;
    open(STDERR, '>&', \*STDOUT) or exit 1;
    system('bash', '-c', $cmd);
    my $status = $?;
    my $code = $status == -1 ? 127 : ($status & 127) ? 128 + ($status & 127) : $status >> 8;
    my $elapsed = time - $t0;
    open($fh, '>>', $log) or exit 1;
    print $fh "# Accounting: time=$elapsed threads=1\n";
    print $fh "# Ended (code $code) at " . now_str() . ", elapsed time $elapsed seconds\n";
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
my @failed = grep { $code{$_} != 0 } @jobs;
exit 0 unless @failed;

if ($total == 1) {
    print STDERR "run.pl: job failed, log is in " . subst_job($logpattern, $jobs[0]) . "\n";
} else {
    (my $shown = $logpattern) =~ s/\Q$jobvar\E/*/g;
    print STDERR "run.pl: " . scalar(@failed) . " / " . scalar(@jobs) . " failed, log is in $shown\n";
}
my $first = subst_job($logpattern, $failed[0]);
print STDERR "run.pl: first failed job: $first (exit code $code{$failed[0]}), last 20 lines:\n";
print STDERR "  $_" for map { /\n$/ ? $_ : "$_\n" } tail_lines($first, 20);
exit 1;
