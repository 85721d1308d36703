# tap.sh - TAP helpers for the shell tests of dg; source it first.  It makes
# $work, a scratch folder removed on exit.  Each check prints "ok N - ..." or
# "not ok N - ..." with the command's output; finish() prints the plan and
# sets the exit status.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/stdout
err=$work/stderr
checks=0
failures=0

# expect_arguments N "NAMES" "$@": exits with a usage line unless the
# script got N arguments.
expect_arguments() {
    local want=$1 names=$2
    shift 2
    if [ $# -ne "$want" ]; then
        echo "usage: $0 $names" >&2
        exit 2
    fi
}

# Runs a command, keeping its exit code in $rc and its output in $out/$err.
run() {
    "$@" >"$out" 2>"$err"
    rc=$?
}

# require DESCRIPTION: after fixture commands run with `run`, a check that
# they succeeded; the script stops there if they did not.
require() {
    if [ "$rc" -ne 0 ]; then
        not_ok "$1"
        finish
        exit 1
    fi
    ok "$1"
}

ok() {
    checks=$((checks + 1))
    echo "ok $checks - $1"
}

# skip DESCRIPTION REASON
skip() {
    checks=$((checks + 1))
    echo "ok $checks - $1 # SKIP $2"
}

not_ok() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "not ok $checks - $1"
    echo "# exit code $rc; stdout and stderr (the first 40 and last 15 lines):"
    cat "$out" "$err" | sed 's/^/#   /' | awk 'NR <= 40 { print; next }
        { tail[NR % 15] = $0 } END { if (NR > 40) { print "#   ...";
        for (i = (NR > 54 ? NR - 14 : 41); i <= NR; i++) print tail[i % 15] } }'
}

# expect_success DESCRIPTION COMMAND...
expect_success() {
    local what=$1
    shift
    run "$@"
    if [ "$rc" -eq 0 ]; then ok "$what"; else not_ok "$what"; fi
}

# expect_failure DESCRIPTION CODE STDERR_PATTERN COMMAND...: the command
# must exit with CODE and say something matching the pattern on stderr.
expect_failure() {
    local what=$1 code=$2 pattern=$3
    shift 3
    run "$@"
    if [ "$rc" -eq "$code" ] && grep -q -e "$pattern" "$err"; then
        ok "$what"
    else
        not_ok "$what (wanted exit $code and stderr matching '$pattern')"
    fi
}

# check DESCRIPTION PYTHON_CODE [ARGS...]: runs the Python code on the
# stdout of the last command; an exception fails the check.
check() {
    local what=$1 code=$2
    shift 2
    if python3 -c "$code" "$@" <"$out" 2>"$work/python"; then
        ok "$what"
    else
        cat "$work/python" >>"$err"
        not_ok "$what"
    fi
}

finish() {
    echo "1..$checks"
    [ "$failures" -eq 0 ]
}
