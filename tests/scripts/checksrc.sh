#!/bin/sh
# Bans functions that truncate silently, overflow, or invoke a shell (style.md §2).
# Usage: tests/scripts/checksrc.sh [DIR...]   (default: agent tests)
set -eu
cd "$(dirname "$0")/../.."
dirs=${*:-agent tests}
pattern='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|system|popen|mktemp|tmpnam)[[:space:]]*\('
# shellcheck disable=SC2086
hits=$(grep -rnE --include='*.c' --include='*.h' "$pattern" $dirs | grep -vE '(snprintf|vsnprintf|//|/\*.*\*/)' || true)
if [ -n "$hits" ]; then
    echo "checksrc: banned functions used:" >&2
    echo "$hits" >&2
    exit 1
fi
echo "checksrc: ok"
