#!/bin/sh
# house.sh - the shape rules of the source tree, measured with the project's own tools so they
# stay true: no file in src/ over 1,000 lines, no function over 120 lines (universal-ctags gives
# each function's first and last line), every C file of src/ in the folder of its subsystem with
# its includes by path and within its layer, and no reference in src/, tests/ or doc/ to a design file that is not in
# the repository. Exit 0 pass, 1 fail.
set -u
: "${top_srcdir:?run through make check (top_srcdir is not set)}"
cd "$top_srcdir" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

FILE_MAX=1000
FUNC_MAX=120

command -v ctags >/dev/null 2>&1 && ctags --version 2>/dev/null | grep -q 'Universal Ctags' ||
    { echo "FAIL: universal-ctags is missing: apt-get install -y universal-ctags"; exit 1; }

files=$(find src -name '*.[ch]' | sort)
[ -n "$files" ] || { echo "FAIL: no sources under src/"; exit 1; }

# 1. file length
for f in $files; do
    n=$(wc -l <"$f")
    [ "$n" -le "$FILE_MAX" ] || fail "$f has $n lines (at most $FILE_MAX): split it by its sections"
done

# 2. function length: ctags prints line: and end: for each function definition
# shellcheck disable=SC2086
ctags --fields=+ne --c-kinds=f -o - $files >"${TMPDIR:-/tmp}/byosmtp-house.$$" 2>/dev/null ||
    { echo "FAIL: ctags failed"; exit 1; }
long=$(awk -F'\t' -v max="$FUNC_MAX" '{
        start = ""; end = ""
        for (i = 4; i <= NF; i++) {
            if ($i ~ /^line:/) start = substr($i, 6)
            if ($i ~ /^end:/) end = substr($i, 5)
        }
        if (start != "" && end != "" && end - start + 1 > max)
            printf "%s:%s %s is %d lines\n", $2, start, $1, end - start + 1
    }' "${TMPDIR:-/tmp}/byosmtp-house.$$")
nfunc=$(grep -c 'end:' "${TMPDIR:-/tmp}/byosmtp-house.$$")
rm -f "${TMPDIR:-/tmp}/byosmtp-house.$$"
[ "$nfunc" -gt 100 ] || fail "ctags found only $nfunc functions with an end line: the measure is broken"
if [ -n "$long" ]; then
    echo "$long" | while read -r l; do echo "FAIL: $l (at most $FUNC_MAX)"; done
    fails=$((fails + $(echo "$long" | wc -l)))
fi

# 3. layout: sources live in the subsystem folders; project includes name their folder
for f in $files; do
    case "$f" in
    src/util/* | src/store/* | src/spool/* | src/cluster/* | src/smtp/* | src/milter/* | src/delivery/* | \
        src/ctl/*) ;;
    *) fail "$f is outside the subsystem folders of src/README" ;;
    esac
done
# shellcheck disable=SC2086
bad=$(grep -n '#include "[a-z_0-9]*\.h"' $files | grep -v '#include "config.h"')
[ -z "$bad" ] || fail "includes without their folder: $bad"

# 4. layers (src/README): a folder includes only from the folders below it
allowed() {
    case $1 in
    util) echo "" ;;
    smtp) echo "util" ;;
    store) echo "util smtp/smtp_mode.h" ;;
    spool) echo "util store" ;;
    cluster) echo "util store" ;;
    delivery) echo "util smtp store spool cluster" ;;
    milter | ctl) echo "util smtp store spool cluster delivery" ;;
    esac
}
for f in $files; do
    dir=${f#src/}
    dir=${dir%%/*}
    ok=$(allowed "$dir")
    for inc in $(sed -n 's|^#include "\([a-z_]*/[a-z_0-9]*\.h\)".*|\1|p' "$f"); do
        from=${inc%%/*}
        [ "$from" = "$dir" ] && continue
        case " $ok " in
        *" $from "* | *" $inc "*) ;;
        *) fail "$f includes $inc: $dir/ may use only: ${ok:-nothing of ours} (src/README, layers)" ;;
        esac
    done
done

# 5. no reference to a file outside the repository
refs=$(grep -rn 'DESIGN\.md' src tests doc 2>/dev/null | grep -v '^tests/source/house.sh:')
[ -z "$refs" ] || fail "references to DESIGN.md, which is not in the repository (point at doc/design.md): $refs"

echo "$(echo "$files" | wc -l) files, $nfunc functions measured, $fails failed"
[ "$fails" -eq 0 ]
