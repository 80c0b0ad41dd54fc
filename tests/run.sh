#!/bin/bash
# The whole test suite on a fresh Debian 12 machine: installs what is missing
# (as root), builds, runs ctest plain and under ASan+UBSan, checks the format
# and the banned functions.
#   tests/run.sh           everything
#   tests/run.sh --quick   plain build and ctest only
set -euo pipefail
source "$(dirname "$0")/setup.sh"

quick=0
if [ "${1:-}" = "--quick" ]; then
    quick=1
fi

install_deps
PYTHON=$(find_python)
echo "== python: $PYTHON"

echo "== build (plain)"
build_agent "$BUILD" -DAGENT_TESTS=ON
echo "== ctest (plain)"
ctest --test-dir "$BUILD" --output-on-failure --no-tests=error -j2

if [ "$quick" = 1 ]; then
    exit 0
fi

echo "== build (ASan+UBSan)"
build_agent "$BUILD-asan" -DAGENT_TESTS=ON -DAGENT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== ctest (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$BUILD-asan" --output-on-failure --no-tests=error -j2

# The .deb as an operator installs it: dpkg -i, the binary runs, purge (root; CI or asked for).
if [ "$(id -u)" = 0 ] && { [ "${CI:-}" = true ] || [ "${WCS_AGENT_PACKAGE_INSTALL_TEST:-}" = 1 ]; }; then
    echo "== package install check"
    cmake --build "$BUILD" --target package >/dev/null
    deb=$(ls "$BUILD"/wcs-agent_*.deb | head -1)
    dpkg-deb -c "$deb"
    ls "$BUILD"/*.rpm 2>/dev/null && rpm -qlp "$BUILD"/*.rpm
    dpkg -i "$deb"
    /usr/bin/wcs-agent version
    test -f /etc/wcs-agent/agent.ini
    test "$(stat -c %a /var/lib/wcs-agent)" = 700
    dpkg --purge wcs-agent
    test ! -e /usr/bin/wcs-agent
fi

echo "== source checks"
"$ROOT/tests/scripts/format-check.sh"
"$ROOT/tests/scripts/checksrc.sh"
echo "== all tests passed"
