#!/bin/sh
# Fails when a C file under agent/ or tests/ differs from clang-format's output.
set -eu
cd "$(dirname "$0")/../.."
files=$(find agent tests -name '*.c' -o -name '*.h' | sort)
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
echo "clang-format: $(echo "$files" | wc -l) files clean"
