# utils/S5tseJobs.pm -- shared helpers of utils/run.pl and utils/slurm.pl (s5tse).
# Command-line parsing (options and the VAR=START:END job range), shell quoting, the per-job
# log format, the --pick selection and the failure report. Plain functions; a "job spec" is
# the hash returned by parse_command_line (see there).
package S5tseJobs;
use strict;
use warnings;
use Exporter qw(import);
use POSIX qw(strftime);

our @EXPORT_OK = qw(usage_error parse_command_line sq quote_word shell_quote subst_job
                    job_log now_str log_header log_footer select_jobs report_failures);

# usage_error($prog, $msg): print "$prog: $msg (see $prog --help)" to stderr and exit 1.
sub usage_error {
    my ($prog, $msg) = @_;
    print STDERR "$prog: $msg (see $prog --help)\n";
    exit 1;
}

# parse_command_line($prog, $usage, \@argv, \&other) -> job spec; consumes @argv.
# Reads "[options] [VAR=START:END] <log-file> <command> [<arg> ...]". --help/-h prints $usage
# and exits 0; every other option takes a value; --max-jobs-run/-tc and --pick are handled
# here, the rest go to $other->($name, $value, $flag) with $name normalised (no leading
# dashes, '-' -> '_'). Usage errors exit 1. The spec holds prog, max_jobs_run (undef if not
# given), pick, var (undef without a range), start, end, log (the pattern) and args.
sub parse_command_line {
    my ($prog, $usage, $argv, $other) = @_;
    my %spec = (prog => $prog, max_jobs_run => undef, pick => 'all', var => undef, start => 1, end => 1);
    while (@$argv && $argv->[0] =~ /^-/) {
        my $opt = shift @$argv;
        if ($opt eq '--help' || $opt eq '-h') { print $usage; exit 0; }
        last if $opt eq '--';
        usage_error($prog, "option $opt requires a value") unless @$argv;
        my $val = shift @$argv;
        (my $name = $opt) =~ s/^-+//;
        $name =~ tr/-/_/;
        if ($name eq 'max_jobs_run' || $name eq 'tc') {
            usage_error($prog, "$opt expects a positive integer, got '$val'") unless $val =~ /^[1-9]\d*$/;
            $spec{max_jobs_run} = $val;
        } elsif ($name eq 'pick') {
            usage_error($prog, "--pick expects all, failed or incomplete, got '$val'")
                unless $val =~ /^(all|failed|incomplete)$/;
            $spec{pick} = $val;
        } else {
            $other->($name, $val, $opt);
        }
    }
    if (@$argv && $argv->[0] =~ /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/) {
        my ($var, $range) = ($1, $2);
        my $arg = shift @$argv;
        unless ($range =~ /^(\d+):(\d+)$/ && $1 >= 1 && $2 >= $1) {
            usage_error($prog, "bad job range '$arg': expected VAR=START:END with integers 1 <= START <= END");
        }
        @spec{qw(var start end)} = ($var, $1 + 0, $2 + 0);
    }
    usage_error($prog, "expected a log file and a command") if @$argv < 2;
    $spec{log} = shift @$argv;
    $spec{args} = [@$argv];
    my ($var, $start, $end, $log) = @spec{qw(var start end log)};
    if (defined $var && $end > $start && index($log, $var) < 0) {
        usage_error($prog, "the log file name '$log' must contain '$var' when running jobs $start..$end");
    }
    return \%spec;
}

# Shell operators that a user escapes on the command line (\|, \>) and that must reach bash
# unquoted.
my %operator = map { $_ => 1 } ('|', '|&', '||', '&&', ';', '&', '<', '>', '>>', '2>', '2>>',
                                '&>', '&>>', '2>&1', '1>&2', '>&2', '(', ')');

# sq($s): $s single-quoted for bash.
sub sq { my ($s) = @_; $s =~ s/'/'\\''/g; return "'$s'"; }

# quote_word($s): $s as it is if it is a safe word, else single-quoted.
sub quote_word {
    my ($s) = @_;
    return $s if $s =~ m{^[A-Za-z0-9_\-+=.,:/@%^]+$};
    return sq($s);
}

# shell_quote($s): one argument for bash: operators raw, the rest as quote_word.
sub shell_quote { my ($s) = @_; return $operator{$s} ? $s : quote_word($s); }

# subst_job($s, $var, $id): $s with every occurrence of $var replaced by $id ($s if no $var).
sub subst_job {
    my ($s, $var, $id) = @_;
    return $s unless defined $var;
    $s =~ s/\Q$var\E/$id/g;
    return $s;
}

# job_log($spec, $id): the log file of job $id.
sub job_log { my ($spec, $id) = @_; return subst_job($spec->{log}, $spec->{var}, $id); }

# now_str(): the current date as in the log header and footer.
sub now_str { return strftime('%a %b %e %H:%M:%S %Z %Y', localtime); }

# log_header($command, $date): the first lines of a job log ("# <command>", "# Started at").
sub log_header {
    my ($command, $date) = @_;
    $command =~ s/\n/\n# /g;
    return "# $command\n# Started at $date\n";
}

# log_footer($code, $elapsed, $threads, $date): the last lines of a job log; select_jobs
# relies on the final "# Ended (code <N>)" line.
sub log_footer {
    my ($code, $elapsed, $threads, $date) = @_;
    return "# Accounting: time=$elapsed threads=$threads\n"
         . "# Ended (code $code) at $date, elapsed time $elapsed seconds\n";
}

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

# The last $n lines of a file (none if missing).
sub tail_lines {
    my ($file, $n) = @_;
    open(my $fh, '<', $file) or return ();
    my @lines = <$fh>;
    close $fh;
    return @lines > $n ? @lines[-$n .. -1] : @lines;
}

# select_jobs($spec): the job ids that --pick selects (failed: log does not end in
# "# Ended (code 0)"; incomplete: no "# Ended" footer). If none, says so and exits 0.
sub select_jobs {
    my ($spec) = @_;
    my $pick = $spec->{pick};
    my @jobs;
    for my $id ($spec->{start} .. $spec->{end}) {
        next if $pick eq 'failed'     && last_line(job_log($spec, $id)) =~ /^# Ended \(code 0\)/;
        next if $pick eq 'incomplete' && last_line(job_log($spec, $id)) =~ /^# Ended /;
        push @jobs, $id;
    }
    return @jobs if @jobs;
    my $total = $spec->{end} - $spec->{start} + 1;
    print STDERR "$spec->{prog}: nothing to do (--pick $pick): all $total job(s) already done\n";
    exit 0;
}

# report_failures($spec, \@jobs, \%code, $fallback) -> number of failed jobs.
# A job failed if its code is undef (no exit status) or non-zero. Prints to stderr which
# failed, where the logs are, and the last 20 lines of the first failing log; if that log
# is missing and $fallback->($id) gives a file, the tail of that file instead.
sub report_failures {
    my ($spec, $jobs, $code, $fallback) = @_;
    my $prog = $spec->{prog};
    my @failed = grep { !defined $code->{$_} || $code->{$_} != 0 } @$jobs;
    return 0 unless @failed;
    if ($spec->{end} == $spec->{start}) {
        print STDERR "$prog: job failed, log is in " . job_log($spec, $jobs->[0]) . "\n";
    } else {
        print STDERR "$prog: " . scalar(@failed) . " / " . scalar(@$jobs)
            . " failed, log is in " . job_log($spec, '*') . "\n";
    }
    my $t = $failed[0];
    my $first = job_log($spec, $t);
    my $why = defined $code->{$t} ? "exit code $code->{$t}" : "no exit status";
    my $tail = $first;
    if (-f $first || !$fallback) {
        print STDERR "$prog: first failed job: $first ($why), last 20 lines:\n";
    } else {
        $tail = $fallback->($t);
        print STDERR "$prog: first failed job: $first ($why); the log is missing, see $tail\n";
    }
    print STDERR "  $_" for map { /\n$/ ? $_ : "$_\n" } tail_lines($tail, 20);
    return scalar @failed;
}

1;
