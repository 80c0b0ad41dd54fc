#!/bin/bash
# The demo on the local twin: installs what is missing (as root), builds,
# starts the twin on loopback (a strict IMDSv2 server whose user data is a MIME
# multi-part document with a wcs-agent overlay that makes the node a CDN edge),
# and runs the agent against it: metadata, check-config, run, status.
# Nothing here talks to a real AWS endpoint.
set -euo pipefail
source "$(dirname "$0")/setup.sh"

install_deps
PYTHON=$(find_python)
echo "== building"
build_agent "$BUILD" -DAGENT_TESTS=OFF >/dev/null
AGENT=$BUILD/wcs-agent

WORK=$(mktemp -d /tmp/wcs-agent-demo.XXXXXX)
TWIN_PID=""
cleanup() {
    if [ -n "$TWIN_PID" ]; then
        kill "$TWIN_PID" 2>/dev/null || true
        wait "$TWIN_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# The operator's config file, as baked into the AMI.
cat >"$WORK/agent.ini" <<INI
[agent]
state_dir = $WORK/state
deadline = 120

[imds]
timeout_ms = 1000

[properties]
ip = {public_or_local_ipv4}
ip_local = {local_ipv4}

[licence]
key = ssm:/wcs/licence
INI

# The launch template's user data: cloud-init's shell part plus the agent's overlay.
cat >"$WORK/user-data" <<'MIME'
Content-Type: multipart/mixed; boundary="==BOUNDARY=="
MIME-Version: 1.0

--==BOUNDARY==
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/sh
echo "left to cloud-init"
--==BOUNDARY==
Content-Type: text/x-wcs-agent; charset="us-ascii"

[cdn]
role = edge
point_of_entry = {tag:wcs-origin}

[register]
target_group = arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/wcs/0123456789abcdef
--==BOUNDARY==--
MIME

echo "== starting the twin (IMDSv2 on 127.0.0.1)"
"$PYTHON" "$ROOT/tests/sim/twin.py" --env-file "$WORK/env" --user-data-file "$WORK/user-data" \
    --tag Name=wcs-edge-1 --tag wcs-origin=10.0.0.5 --fail-first-tokens 1 >"$WORK/twin.log" 2>&1 &
TWIN_PID=$!
for _ in $(seq 50); do
    [ -s "$WORK/env" ] && break
    sleep 0.1
done
set -a
# shellcheck disable=SC1091
source "$WORK/env"
set +a
echo "   $AWS_EC2_METADATA_SERVICE_ENDPOINT (the first token request fails with 503: retried)"

run() {
    echo
    echo "\$ wcs-agent $*"
    "$AGENT" -c "$WORK/agent.ini" "$@" || echo "(exit $?)"
}

run metadata
run check-config
run run
run status
echo
echo "\$ wcs-agent status --json | head -12"
"$AGENT" -c "$WORK/agent.ini" status --json | head -12
echo
echo "== demo done (the twin is stopped and $WORK removed)"
