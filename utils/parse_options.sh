# shellcheck shell=bash
# utils/parse_options.sh -- command-line option parser for recipe scripts (s5tse).
#
# Usage (inside a bash script, AFTER declaring every option variable with its default):
#   stage=0
#   stop_stage=100
#   cmd=run.pl
#   help_message="Usage: $0 [options] <arg>"   # optional, printed by --help / -h
#   parse_options_exit_code=2                  # optional, exit code for usage errors (default 1)
#   . utils/parse_options.sh
#   # "$@" now holds only the positional arguments.
#
# Rules:
#   --name VALUE     sets the existing variable `name`; dashes become underscores
#                    (--stop-stage 6 == --stop_stage 6). Unknown names are errors. Values are
#                    stored literally (no eval): spaces, quotes and `$` are kept as typed.
#   --config FILE    (anywhere among the options) FILE holds shell `name=value` lines; it is
#                    sourced before the other options are applied, so explicit options win.
#   --help, -h       print $help_message and exit 0.
#   A variable whose current value is true/false only accepts true/false.
#   --name=value is rejected; an option without a value is rejected. On any error the
#   caller's $help_message (if set) follows the one-line error on stderr.
#   Parsing stops at the first argument not starting with `--`, or after a lone `--`.
#
# The file is sourced (not executed), so it works on the caller's variables and positional
# parameters, and `exit` leaves the caller. It is safe under `set -euo pipefail`. All internal
# names start with `__po_` and are unset at the end.

__po_code=${parse_options_exit_code:-1}

# Print an error (one line, stderr), then the caller's usage if it has one, and leave.
__po_die() {
    echo "$0: $*" >&2
    if [ -n "${help_message:-}" ]; then printf '%s\n' "${help_message}" >&2; fi
    exit "${__po_code}"
}

# Pass 1: walk the option region, validate syntax, collect configs and (name, value) pairs.
__po_names=()
__po_values=()
__po_configs=()
__po_nshift=0
__po_args=("$@")
__po_nargs=${#__po_args[@]}
while [ "${__po_nshift}" -lt "${__po_nargs}" ]; do
    __po_opt=${__po_args[${__po_nshift}]}
    case "${__po_opt}" in
        --help | -h)
            if [ -n "${help_message:-}" ]; then
                printf '%s\n' "${help_message}"
            else
                echo "Usage: $0 [--name value ...] (no help message available)"
            fi
            exit 0
            ;;
        --)
            __po_nshift=$((__po_nshift + 1))
            break
            ;;
        --*=*)
            __po_die "invalid option ${__po_opt}: options to scripts must be of the form --name value, not --name=value"
            ;;
        --?*)
            if [ $((__po_nshift + 1)) -ge "${__po_nargs}" ]; then
                __po_die "option ${__po_opt} requires a value (options must be of the form --name value)"
            fi
            __po_value=${__po_args[$((__po_nshift + 1))]}
            if [ "${__po_opt}" = "--config" ]; then
                __po_configs+=("${__po_value}")
            else
                __po_names+=("${__po_opt}")
                __po_values+=("${__po_value}")
            fi
            __po_nshift=$((__po_nshift + 2))
            ;;
        *)
            break  # first positional argument
            ;;
    esac
done

# Pass 2: source the config files (lowest priority).
for __po_cfg in ${__po_configs[@]+"${__po_configs[@]}"}; do
    if [ ! -f "${__po_cfg}" ] || [ ! -r "${__po_cfg}" ]; then
        __po_die "config file '${__po_cfg}' (given with --config) does not exist or is not readable"
    fi
    case "${__po_cfg}" in
        */*) . "${__po_cfg}" ;;
        *) . "./${__po_cfg}" ;;  # a bare name would otherwise be looked up in PATH
    esac
done

# Pass 3: apply the explicit options, in order.
__po_i=0
while [ "${__po_i}" -lt "${#__po_names[@]}" ]; do
    __po_opt=${__po_names[${__po_i}]}
    __po_value=${__po_values[${__po_i}]}
    __po_var=${__po_opt#--}
    __po_var=${__po_var//-/_}
    # Must be a plain identifier, not one of ours, and already defined by the caller.
    if ! [[ "${__po_var}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [[ "${__po_var}" == __po_* ]] \
        || [ -z "${!__po_var+set}" ]; then
        __po_die "invalid option ${__po_opt}"
    fi
    __po_old=${!__po_var}
    if [ "${__po_old}" = true ] || [ "${__po_old}" = false ]; then
        if [ "${__po_value}" != true ] && [ "${__po_value}" != false ]; then
            __po_die "expected \"true\" or \"false\" for option ${__po_opt}, got \"${__po_value}\""
        fi
    fi
    printf -v "${__po_var}" '%s' "${__po_value}"  # literal assignment, no eval
    __po_i=$((__po_i + 1))
done

# Leave only the positional arguments in "$@".
shift "${__po_nshift}"

unset -f __po_die
unset __po_code __po_names __po_values __po_configs __po_nshift __po_args __po_nargs \
    __po_opt __po_value __po_cfg __po_i __po_var __po_old
true
