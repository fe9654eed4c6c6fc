#!/usr/bin/env perl
# utils/slurm.pl -- run a command as a Slurm array job and wait for it (s5tse).
# Written for s5tse; implements the interface of Kaldi's slurm.pl / queue.pl (no code taken
# from them).
use strict;
use warnings;
use Cwd qw(getcwd);
use File::Basename qw(basename dirname);
use File::Path qw(make_path);
use Time::HiRes qw(sleep time);
use FindBin;
use lib $FindBin::RealBin;    # the real utils/ directory, also via a symlink or PATH
use S5tseJobs qw(parse_command_line sq quote_word shell_quote now_str log_header log_footer
                 select_jobs report_failures);

# The built-in config; --help shows it (indented) in place of %DEFAULT_CONFIG%.
my $default_config = <<'EOF';
command sbatch --export=PATH
option name=* --job-name $0
option time=* --time $0
option mem=* --mem-per-cpu $0
option mem=0
option num_threads=* --cpus-per-task $0
option num_threads=1 --cpus-per-task 1
option num_nodes=* --nodes $0
default gpu=0
option gpu=0 -p cpu
option gpu=* -p gpu --gres=gpu:$0 -c $0
EOF

my $usage = <<'EOF';
Usage: slurm.pl [options] [VAR=START:END] <log-file> <command> [<arg> ...]
  Same interface as run.pl: submits jobs START..END as one Slurm array job (sbatch) and
  blocks until every task has finished. Every occurrence of VAR in <log-file> and in the
  arguments becomes the task index ($SLURM_ARRAY_TASK_ID). Argument quoting as in run.pl
  (escape pipes and redirections: \| \>).
Options:
  --config FILE                option mapping file (default: conf/slurm.conf if it exists,
                               else the built-in defaults shown below)
  --max-jobs-run N | -tc N     at most N tasks at a time (adds %N to --array)
  --pick all|failed|incomplete as in run.pl (submits only the selected task indices)
  --help | -h                  print this message
  --<name> <value>             a generic option mapped to sbatch flags by the config, e.g.
                               --mem 4G, --gpu 1, --num-threads 4, --time 2:00:00, --name x
                               (dashes become underscores: --num-threads -> num_threads).
                               An option without a mapping is an error.
Config format (one directive per line, '#' starts a comment):
  command <program and fixed flags>      e.g. "command sbatch --export=PATH"
  option <name>=* <flags, $0 = value>    mapping for any value
  option <name>=<value> [<flags>]        mapping for one value (wins over the wildcard)
  default <name>=<value>                 used when --<name> is not given
Built-in defaults:
%DEFAULT_CONFIG%
Files: <logdir>/q/<name>.sh (the task script; it sources ./path.sh if present), Slurm's
output <logdir>/q/<name>-<task>.out, done markers <logdir>/q/done.<pid>.<task> (removed at
the end). Per-task logs have run.pl's header/footer format.
Environment: SLURM_PL_POLL  poll interval in seconds (default 10)
             SLURM_PL_GRACE seconds to wait for missing done markers once squeue no longer
                            lists the job (default 60); those tasks then count as failed.
On SIGINT/SIGTERM the job is cancelled with scancel.
Exit status: 0 if all tasks succeed; 1 if any fails (report on stderr), on submission
failure, or on usage errors.
EOF
(my $shown_defaults = $default_config) =~ s/^/  /mg;
$usage =~ s/^%DEFAULT_CONFIG%\n/$shown_defaults/m;

sub usage_error { S5tseJobs::usage_error('slurm.pl', @_) }

# ---------------------------------------------------------------- options, job range
my $config;
my @given;       # generic options in command-line order: [name, value, original flag]
my $spec = parse_command_line('slurm.pl', $usage, \@ARGV, sub {
    my ($name, $val, $opt) = @_;
    if ($name eq 'config') {
        $config = $val;
    } else {
        @given = grep { $_->[0] ne $name } @given;    # the last occurrence wins
        push @given, [$name, $val, $opt];
    }
});
my ($jobvar, $logpattern) = @$spec{qw(var log)};

# ---------------------------------------------------------------- config
my $config_text;
my $config_name;
if (defined $config) {
    open(my $fh, '<', $config) or usage_error("cannot read config file '$config': $!");
    local $/;
    $config_text = <$fh>;
    close $fh;
    $config_name = $config;
} elsif (-f 'conf/slurm.conf') {
    open(my $fh, '<', 'conf/slurm.conf') or usage_error("cannot read conf/slurm.conf: $!");
    local $/;
    $config_text = <$fh>;
    close $fh;
    $config_name = 'conf/slurm.conf';
} else {
    $config_text = $default_config;
    $config_name = '(built-in defaults)';
}

my @command;    # submit program + fixed flags
my %exact;      # "name=value" -> [flags]
my %wild;       # name -> [flag templates with $0]
my @defaults;   # [name, value] in file order
my $lineno = 0;
for my $line (split /\n/, $config_text) {
    $lineno++;
    $line =~ s/#.*//;
    my @w = split ' ', $line;
    next unless @w;
    my $kw = shift @w;
    if ($kw eq 'command') {
        usage_error("$config_name:$lineno: 'command' needs a program") unless @w;
        @command = @w;
    } elsif ($kw eq 'option' && @w && $w[0] =~ /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/) {
        shift @w;
        if ($2 eq '*') { $wild{$1} = [@w]; } else { $exact{"$1=$2"} = [@w]; }
    } elsif ($kw eq 'default' && @w == 1 && $w[0] =~ /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/) {
        push @defaults, [$1, $2];
    } else {
        usage_error("$config_name:$lineno: cannot parse line '$line'");
    }
}
usage_error("$config_name: no 'command' line") unless @command;

# Map the generic options (given ones, then defaults for the others) to sbatch flags.
my %have = map { $_->[0] => 1 } @given;
my @opts = (@given, map { [$_->[0], $_->[1], "default $_->[0]"] } grep { !$have{$_->[0]} } @defaults);
my @flags;
my $threads = 1;
for my $o (@opts) {
    my ($name, $val, $shown) = @$o;
    $threads = $val if $name eq 'num_threads' && $val =~ /^\d+$/;
    if (exists $exact{"$name=$val"}) {
        push @flags, @{ $exact{"$name=$val"} };
    } elsif (exists $wild{$name}) {
        push @flags, map { (my $f = $_) =~ s/\$0/$val/g; $f } @{ $wild{$name} };
    } else {
        usage_error("no mapping for option $shown (value '$val') in $config_name");
    }
}

# ---------------------------------------------------------------- helpers
# Quote an argument for bash, with each occurrence of the job variable turned into
# ${SLURM_ARRAY_TASK_ID} (outside the quotes, so that it expands).
sub shell_word {
    my ($s) = @_;
    return shell_quote($s) unless defined $jobvar && index($s, $jobvar) >= 0;
    my @pieces = split /\Q$jobvar\E/, $s, -1;
    return join('"${SLURM_ARRAY_TASK_ID}"', map { length($_) ? quote_word($_) : '' } @pieces);
}

# Bash lines that echo the lines of $text (which may use "$var" and "$(cmd)" expansions),
# each indented by $indent and followed by $redirect.
sub echo_lines {
    my ($text, $indent, $redirect) = @_;
    return join("\n", map { qq{${indent}echo "$_"$redirect} } split /\n/, $text);
}

# Run a program (no shell) and return (exit status, stdout+stderr).
sub capture {
    my @cmd = @_;
    my $pid = open(my $fh, '-|');
    return (-1, "cannot fork: $!") unless defined $pid;
    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT);
        exec { $cmd[0] } @cmd or do { print "cannot run $cmd[0]: $!\n"; exit 127; };
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($?, $out);
}

# ---------------------------------------------------------------- select tasks
my @tasks = select_jobs($spec);
# --array spec: START-END when contiguous, else a comma list.
my $array = ($tasks[-1] - $tasks[0] + 1 == @tasks) ? "$tasks[0]-$tasks[-1]" : join(',', @tasks);
$array .= "%$spec->{max_jobs_run}" if defined $spec->{max_jobs_run};

# ---------------------------------------------------------------- task script
my $cwd  = getcwd();
my $logdir = dirname($logpattern);
my $qdir = "$logdir/q";
$qdir = "$cwd/$qdir" unless $qdir =~ m{^/};
eval { make_path($qdir) unless -d $qdir; 1 } or usage_error("cannot create $qdir: $@");
my $qname = basename($logpattern);
if (defined $jobvar) { $qname =~ s/\.\Q$jobvar\E//g; $qname =~ s/\Q$jobvar\E//g; }
$qname =~ s/\.log$//;
$qname = 'job' if $qname eq '' || $qname eq '.';
my $script = "$qdir/$qname.sh";
my $marker = "$qdir/done.$$";    # + ".<task>"

my @args      = @{ $spec->{args} };
my $cmd       = join(' ', map { shell_word($_) } @args);
# The command as shown in the log header; the job variable is replaced at run time.
my $header    = join(' ', map { shell_quote($_) } @args);
my $logword = shell_word($logpattern);
my $date = now_str();
my $jobvar_sq = sq(defined $jobvar ? $jobvar : '');
# The log header and footer (see S5tseJobs), with bash expressions for the run-time values.
my $echo_header = echo_lines(log_header('$header', '$(date)'), '  ', '');
my $echo_footer = echo_lines(log_footer('$ret', '$((end - start))', $threads, '$(date)'), '', ' >> "$log"');

open(my $sfh, '>', $script) or usage_error("cannot write $script: $!");
print $sfh <<"EOS";
#!/usr/bin/env bash
# Generated by slurm.pl on $date: one task of a Slurm array job.
cd @{[sq($cwd)]} || exit 1
[ -f ./path.sh ] && . ./path.sh
: "\${SLURM_ARRAY_TASK_ID:?slurm.pl: this script must run as a Slurm array task}"
log=$logword
header=@{[sq($header)]}
jobvar=$jobvar_sq
[ -n "\$jobvar" ] && header=\${header//"\$jobvar"/\$SLURM_ARRAY_TASK_ID}
mkdir -p "\$(dirname "\$log")"
start=\$(date +%s)
{
$echo_header
  echo "# Running on \$(hostname) (Slurm job \${SLURM_ARRAY_JOB_ID:-\${SLURM_JOB_ID:-?}}, task \$SLURM_ARRAY_TASK_ID)"
} > "\$log"
( $cmd ) >> "\$log" 2>&1
ret=\$?
end=\$(date +%s)
$echo_footer
echo "\$ret" > @{[sq($marker)]}".\$SLURM_ARRAY_TASK_ID.tmp"
mv @{[sq($marker)]}".\$SLURM_ARRAY_TASK_ID.tmp" @{[sq($marker)]}".\$SLURM_ARRAY_TASK_ID"
exit \$ret
EOS
close $sfh;
chmod 0755, $script;

# ---------------------------------------------------------------- submit
my @submit = (@command, @flags, '--array', $array, '-o', "$qdir/$qname-%a.out", $script);
my ($st, $out) = capture(@submit);
my ($jobid) = $out =~ /Submitted batch job (\d+)/;
($jobid) = $out =~ /^\s*(\d+)(?:;\S+)?\s*$/ unless defined $jobid;    # sbatch --parsable
if ($st != 0 || !defined $jobid) {
    print STDERR "slurm.pl: submission failed (exit status " . ($st >> 8) . "): @submit\n";
    print STDERR "slurm.pl: output: $out\n" if length $out;
    exit 1;
}

for my $sig (qw(INT TERM)) {
    $SIG{$sig} = sub {
        print STDERR "slurm.pl: caught SIG$sig, cancelling job $jobid\n";
        capture('scancel', $jobid);
        unlink map { "$marker.$_" } @tasks;
        exit($sig eq 'INT' ? 130 : 143);
    };
}

# ---------------------------------------------------------------- wait
my $poll  = (defined $ENV{SLURM_PL_POLL}  && $ENV{SLURM_PL_POLL}  =~ /^\d*\.?\d+$/) ? $ENV{SLURM_PL_POLL}  : 10;
my $grace = (defined $ENV{SLURM_PL_GRACE} && $ENV{SLURM_PL_GRACE} =~ /^\d*\.?\d+$/) ? $ENV{SLURM_PL_GRACE} : 60;
my %code;       # task -> exit code (undef: no marker, job vanished)
my %pending = map { $_ => 1 } @tasks;
my $gone_since;
while (1) {
    for my $t (keys %pending) {
        my $f = "$marker.$t";
        next unless -f $f;
        open(my $fh, '<', $f) or next;
        my $c = <$fh>;
        close $fh;
        next unless defined $c && $c =~ /^\s*(\d+)/;
        $code{$t} = $1;
        delete $pending{$t};
        unlink $f;
    }
    last unless %pending;
    # Is the job still known to Slurm? Only a clear answer counts (empty list / invalid id).
    my ($qs, $qout) = capture('squeue', '-h', '-j', $jobid, '-o', '%i');
    my $gone = ($qs == 0 && $qout !~ /\S/) || $qout =~ /Invalid job id/i;
    if (!$gone) {
        undef $gone_since;
    } else {
        $gone_since //= time;
        if (time - $gone_since >= $grace) {
            print STDERR "slurm.pl: job $jobid is no longer in squeue but task(s) "
                . join(',', sort { $a <=> $b } keys %pending) . " wrote no done marker; counting them as failed\n";
            $code{$_} = undef for keys %pending;
            last;
        }
    }
    sleep $poll;
}

# ---------------------------------------------------------------- report
exit(report_failures($spec, \@tasks, \%code, sub { "$qdir/$qname-$_[0].out" }) ? 1 : 0);
