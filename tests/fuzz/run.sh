#!/bin/sh
# tests/fuzz/run.sh SECONDS [BUILD_DIR]
#
# Runs every libFuzzer target (tests/fuzz/fuzz_<parser>.c) for SECONDS each,
# seeded from tests/fuzz/corpus/<parser>/, and prints one line per target
# with the executions and the coverage reached (a Markdown table row, for
# tests/fuzz/RESULTS.md).  New inputs go to a temporary folder, not to the
# corpus; a crash stops the script with the reproducer's path.  BUILD_DIR
# (default build-fuzz) is configured with clang and AGENT_FUZZ=ON when it
# does not exist yet.  ctest keeps replaying the corpora; this long run is
# for humans and for the record.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: tests/fuzz/run.sh SECONDS [BUILD_DIR]" >&2
    exit 64
fi
secs=$1
case $secs in
'' | *[!0-9]*)
    echo "run.sh: SECONDS must be a whole number: $secs" >&2
    exit 64
    ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${2:-$src/build-fuzz}
jobs=${FUZZ_BUILD_JOBS:-2}

if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S "$src" -B "$build" -DAGENT_FUZZ=ON -DAGENT_TESTS=ON \
        -DCMAKE_BUILD_TYPE=Debug >/dev/null
fi
targets=$(cd "$here" && ls fuzz_*.c | sed 's/\.c$//')
# shellcheck disable=SC2086
cmake --build "$build" -j"$jobs" --target $targets >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/wcs-agent-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
echo "| target | seconds | execs | execs/s | cov | ft | corpus |"
echo "|---|---|---|---|---|---|---|"
for t in $targets; do
    parser=${t#fuzz_}
    opts=""
    if [ -f "$here/$t.options" ]; then
        opts=$(cat "$here/$t.options")
    fi
    mkdir -p "$work/$parser" "$work/crash-$parser"
    log=$work/$parser.log
    # shellcheck disable=SC2086
    if ! "$build/tests/$t" -max_total_time="$secs" -timeout=5 -print_final_stats=1 \
        -artifact_prefix="$work/crash-$parser/" $opts "$work/$parser" \
        "$here/corpus/$parser" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        keep=$(mktemp -d "${TMPDIR:-/tmp}/wcs-agent-fuzz-crash.XXXXXX")
        cp -r "$work/crash-$parser/." "$keep/"
        echo "run.sh: $t failed; reproducer(s) in $keep" >&2
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p')
    echo "| $parser | $secs | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} |"
done
