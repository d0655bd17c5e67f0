# Shared by the tests/test_*.sh scripts; each starts with
#     . "$(dirname "$0")/lib.sh" NAME
# It sets BIN (MT_BIN or ./mnist-train, made absolute), HERE (this folder)
# and T (a fresh /tmp/mt_NAME.* folder, removed on exit), and gives the TAP-ish
# counters ok/bad, the checks expect/err_has/err_lines on one run of the
# binary (stdout in $T/out, stderr in $T/err), and finish, which prints the
# tally and is the script's exit status when it comes last.
set -u
BIN=${MT_BIN:-./mnist-train}
case $BIN in
    /*) ;;
    */*) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") ;;
    *) [ -x "$PWD/$BIN" ] && BIN=$PWD/$BIN ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "/tmp/mt_${1:-test}.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0 n=0

ok()  { n=$((n+1)); echo "ok   - $1"; }
bad() { n=$((n+1)); fails=$((fails+1)); echo "FAIL - $1"; }
# expect CODE "description" command...: the command's exit status is CODE
expect() {
    local code=$1 desc=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"; local rc=$?
    if [ "$rc" = "$code" ]; then ok "$desc (exit $rc)"; else bad "$desc: exit $rc, wanted $code; stderr: $(head -3 "$T/err")"; fi
}
# err_has TEXT: the last run's error line (mnist-train: ...) contains TEXT
err_has() {
    if grep '^mnist-train: ' "$T/err" | grep -qF -- "$1"; then ok "  message has '$1'"; else bad "  message lacks '$1': $(head -2 "$T/err")"; fi
}
# err_lines: the last run printed one line on stderr (besides a "Try ..." hint)
err_lines() {
    local lines; lines=$(grep -vc '^Try ' "$T/err")
    if [ "$lines" = 1 ]; then ok "  one-line error"; else bad "  $lines error lines: $(cat "$T/err")"; fi
}
finish() {
    echo "$((n - fails))/$n passed"
    [ "$fails" = 0 ]
}
