#!/usr/bin/env bash
# The layering of src/ and include/ (tests/check_tiers.py): no upward include
# or call, no circle, no command using another; and the check itself fails
# when each of those is introduced on purpose into a copy of the tree.
. "$(dirname "$0")/lib.sh" tiers
ROOT=$(cd "$HERE/.." && pwd)
OBJ=$(dirname "$BIN")/build/rel
[ -d "$(dirname "$BIN")/src" ] || OBJ=$(cd "$(dirname "$BIN")/../.." 2>/dev/null && pwd)/build/rel
[ -d "$OBJ" ] || OBJ=$ROOT/build/rel

if python3 "$HERE/check_tiers.py" "$ROOT" "$OBJ" >"$T/out" 2>&1; then
    ok "the tree is layered (includes and calls)"
else
    bad "layering: $(head -5 "$T/out")"
fi

# a copy of the tree with one deliberate fault at a time
mutate() { # mutate NAME FILE LINE: adds LINE at the top of FILE in a fresh copy
    rm -rf "$T/tree"; mkdir -p "$T/tree"
    cp -r "$ROOT/src" "$ROOT/include" "$T/tree/"
    printf '%s\n' "$3" | cat - "$T/tree/$2" >"$T/x" && mv "$T/x" "$T/tree/$2"
    if python3 "$HERE/check_tiers.py" "$T/tree" >"$T/out" 2>&1; then
        bad "$1 goes unnoticed"
    else
        ok "$1 is caught: $(head -1 "$T/out")"
    fi
}
mutate "the library including the command layer" include/mt_data.h '#include "app_log.h"'
mutate "a service including a command" include/app_data.h '#include "app_cmd.h"'
mutate "the base including a service" src/app_opt.c '#include "app_ckpt.h"'
mutate "a command including another" src/app_eval.c '#include "app_train.h"'
mutate "a circle among services" include/app_data.h '#include "app_ckpt.h"'

# the library names no command-line option in its messages (the commands add those hints)
if grep -nE '"[^"]*--[a-z][a-z-]+' "$ROOT"/src/mt_*.c | grep -v 'http' >"$T/opts"; then
    bad "library messages name options: $(head -3 "$T/opts")"
else
    ok "no option names in library messages"
fi
finish
