#!/bin/bash
# The demo on the local twin, in under a minute: installs what is missing (as
# root), builds, and starts on loopback a fake stock WCS node (install tree,
# fake systemctl, stats page), a strict IMDSv2 server whose user data is a MIME
# multi-part document with a wcs-agent overlay that makes the node a CDN edge,
# moto_server (target group, licence in SSM, keystore password in Secrets
# Manager) and the Auto Scaling endpoint holding a launch hook.  Then it runs
# the agent against it: metadata, plan, run, status, and shows what changed:
# flashphoner.properties, the target's registration and the completed hook;
# a second run shows that a converged node changes nothing.  Then a scale-in:
# `wcs-agent watch` sees the twin take the node out of service with live calls,
# drains it (CDN route-away, deregistration, heartbeats on the terminate hook
# while the calls end) and completes the hook.  Last, the operator's view:
# `wcs-agent fleet` over the target group's other nodes (different loads, one
# failed launch with its wcs-agent:result tag) and `wcs-agent doctor`.
# Nothing here talks to a real AWS endpoint or to 169.254.169.254.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=setup.sh
source "$(dirname "$0")/setup.sh"

T0=$(date +%s%N)
install_deps
PYTHON=$(find_python)
AGENT=$BUILD-demo/wcs-agent

WORK=$(mktemp -d /tmp/wcs-agent-demo.XXXXXX)
TWIN_PID=""
WATCH_PID=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    if [ -n "$WATCH_PID" ]; then
        kill "$WATCH_PID" 2>/dev/null || true
        wait "$WATCH_PID" 2>/dev/null || true
    fi
    if [ -n "$TWIN_PID" ]; then
        kill "$TWIN_PID" 2>/dev/null || true
        wait "$TWIN_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

indent() { sed 's/^/    /'; }

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
--==BOUNDARY==--
MIME

# The fleet's other nodes: three with different loads and one whose launch failed
# (its wcs-agent:result tag says why; its WCS never answers).
cat >"$WORK/fleet.json" <<'JSON'
[
  {"fields": {"connections": "40", "connections_websocket": "36", "streams_webrtc_in": "6"}},
  {"fields": {"connections": "17", "connections_websocket": "15", "streams_webrtc_in": "2"}},
  {"fields": {"connections": "3", "connections_websocket": "3"}},
  {"hang": true, "lifecycle": "Terminating:Wait",
   "tags": {"wcs-agent:result": "failed at secrets: licence.key: ssm:/wcs/licence: AccessDeniedException: not authorized to perform ssm:GetParameter"}}
]
JSON

# The twin starts first (moto is the slow part) and comes up while the agent builds.
# The instance tags: the seeded instance's, plus the address of the CDN origin.
"$PYTHON" "$ROOT/tests/sim/twin.py" --env-file "$WORK/env" --aws --moto-log "$WORK/moto.log" \
    --fleet-file "$WORK/fleet.json" \
    --wcs "$WORK/root" --wcs-stats-delay-ms 1500 --terminate-hook-timeout 30 \
    --user-data-file "$WORK/user-data" --fail-first-tokens 1 \
    --tag Name=wcs-node-1 --tag aws:autoscaling:groupName=wcs-asg --tag wcs-origin=10.0.1.10 \
    >"$WORK/twin.log" 2>&1 &
TWIN_PID=$!

echo "== building"
build_agent "$BUILD-demo" -DAGENT_TESTS=OFF >/dev/null

for _ in $(seq 450); do
    [ -s "$WORK/env" ] && break
    if ! kill -0 "$TWIN_PID" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [ ! -s "$WORK/env" ]; then
    echo "demo: the twin did not start:" >&2
    cat "$WORK/twin.log" >&2
    exit 1
fi
set -a
# shellcheck disable=SC1091
source "$WORK/env"
set +a

echo "== the twin (all on 127.0.0.1)"
echo "   IMDSv2     $AWS_EC2_METADATA_SERVICE_ENDPOINT  (the first token request fails with 503)"
echo "   moto       $TWIN_MOTO_URL  (ELBv2, SSM, Secrets Manager; signatures checked)"
echo "   ASG hook   $TWIN_AWS_ENDPOINT_URL  ($TWIN_ASG / $TWIN_HOOK, instance Pending:Wait)"
echo "   WCS        $TWIN_WCS_VERSION, running, stats page $TWIN_STATS_URL"
echo "              (not ready for 1.5 s after a restart)"
echo "   the fleet  4 more nodes in the target group, stats pages on 127.0.0.2-5"

# TLS material, as an operator would put it on the node (optional: needs openssl).
TLS=""
if command -v openssl >/dev/null; then
    mkdir -m 0700 "$WORK/tls"
    if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \
        -subj "/CN=wcs-edge.example.com" -keyout "$WORK/tls/key.pem" \
        -out "$WORK/tls/cert.pem" >/dev/null 2>&1; then
        chmod 0600 "$WORK/tls/key.pem" "$WORK/tls/cert.pem"
        TLS="certificate = file:$WORK/tls/cert.pem
private_key = file:$WORK/tls/key.pem"
    fi
fi

# The operator's config file, as baked into the AMI (0600: it names secrets).
(
    umask 077
    cat >"$WORK/agent.ini" <<INI
[agent]
state_dir = $WORK/state
deadline = 60

[wcs]
home = $TWIN_WCS_HOME
restart_command = $TWIN_RESTART_COMMAND
status_command = $TWIN_STATUS_COMMAND
enable_command = $TWIN_ENABLE_COMMAND

[licence]
key = ssm:$TWIN_SSM_LICENCE

[tls]
keystore_password = secretsmanager:$TWIN_SECRET_ID#password
$TLS

[ready]
url = $TWIN_STATS_URL
timeout = 30

[register]
target_group = $TWIN_TARGET_GROUP_ARN

[signal]
lifecycle_hook = $TWIN_HOOK

[watch]
interval = 1

[drain]
rest_url = $TWIN_REST_URL
timeout = 120

[fleet]
stats_url = $TWIN_FLEET_STATS_URL
INI
)
echo
echo "== the operator's agent.ini ($(stat -c %a "$WORK/agent.ini")), paths shortened"
sed -e "s|$WORK|\$DEMO|g" -e '/^$/d' "$WORK/agent.ini" | indent
echo "== the user data's wcs-agent part (a MIME multi-part document)"
sed -n '/^Content-Type: text\/x-wcs-agent/,/^--/p' "$WORK/user-data" | sed -e '1,2d' -e '$d' | indent

agent() {
    echo
    echo "\$ wcs-agent $*"
    local rc=0
    "$AGENT" -c "$WORK/agent.ini" "$@" 2>&1 | tee -a "$WORK/agent.out" | sed "s|$WORK|\$DEMO|g" | indent || rc=$?
    return $rc
}

agent metadata
agent plan
agent run
agent status

PROPS=$TWIN_WCS_PROPERTIES
echo
echo "== flashphoner.properties after the run (the lines the agent owns)"
grep -nE '^(ip|ip_local|cdn_[a-z_]*) *=|set by wcs-agent' "$PROPS" | indent
echo "   restarts of WCS so far: $(cat "$TWIN_WCS_SERVICE_DIR/restarts")"

# A tiny client of the twin: moto's view of the target group, the endpoint's calls.
# Explicit endpoints and the seeded IAM user's key (from the endpoint's control
# API): it never looks at the environment's AWS settings or at IMDS.
twin_show() {
    AWS_EC2_METADATA_DISABLED=true "$PYTHON" - "$@" <<'PY'
import json, os, ssl, sys, urllib.request
import boto3

# The twin's AWS endpoints speak https with a test CA (AWS_CA_BUNDLE).
CTX = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)

def control(path, body=None, base=None):
    req = urllib.request.Request((base or os.environ["TWIN_AWS_ENDPOINT_URL"]) + path,
                                 headers={"X-Twin-Control": "1"},
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=5, context=CTX) as r:
        return json.load(r)

WCS = os.environ.get("TWIN_STATS_URL", "").split("/?")[0]

what = sys.argv[1]
if what == "targets":
    s = control("/_twin/info")["seeded"]
    elbv2 = boto3.client("elbv2", endpoint_url=os.environ["TWIN_MOTO_URL"], region_name=s["region"],
                         aws_access_key_id=s["user_access_key_id"],
                         aws_secret_access_key=s["user_secret_access_key"])
    r = elbv2.describe_target_health(TargetGroupArn=os.environ["TWIN_TARGET_GROUP_ARN"])
    print("%s (DescribeTargetHealth):" % s["target_group_name"])
    for d in r["TargetHealthDescriptions"]:
        print("  %-22s port %-5s %s" % (d["Target"]["Id"], d["Target"].get("Port"), d["TargetHealth"]["State"]))
    if not r["TargetHealthDescriptions"]:
        print("  (no targets)")
elif what == "calls":
    # Live calls on the node: the stats page's counters (sys.argv[2], [3]).
    control("/_twin/fields", {"connections": int(sys.argv[2]), "connections_websocket": int(sys.argv[3])}, WCS)
elif what == "fall":
    control("/_twin/fall", {"seconds": float(sys.argv[2])}, WCS)
elif what == "connections":
    f = control("/_twin/fields", base=WCS)["fields"]
    print("connections=%s connections_websocket=%s" % (f["connections"], f["connections_websocket"]))
elif what == "scale-in":
    s = control("/_twin/info")["seeded"]
    r = control("/_twin/move", {"group": s["asg_name"], "instance_id": s["instance_id"], "to": "scale-in"})
    print("%s: %s (pending terminate action on %s)" % (s["instance_id"], r["state"], s["terminate_hook_name"]))
elif what == "drain-report":
    s = control("/_twin/info")["seeded"]
    hist = [h for h in control("/_twin/history?group=" + s["asg_name"])["history"] if h["kind"] == "terminate"]
    for h in hist:
        beats = ", ".join("+%.1f s" % (t - h["started"]) for t in h["heartbeat_times"])
        print("terminate action on %s: %d heartbeats (%s), %s %s after %.1f s" % (
            h["hook"], h["heartbeats"], beats or "none", h["how"], h["result"], h["finished"] - h["started"]))
    done = [c for c in control("/_twin/calls?action=CompleteLifecycleAction")["calls"]
            if c["params"].get("LifecycleHookName") == s["terminate_hook_name"]]
    print("CompleteLifecycleAction on the terminate hook: %d call(s)" % len(done))
    for h in control("/_twin/cdn", base=WCS)["history"]:
        print("CDN enforce_node_state: %s" % (h["body"] or "(empty body: cleared)"))
    sys.exit(0 if len(hist) == 1 and hist[0]["how"] == "completed" and len(done) == 1 else 1)
elif what == "secrets":
    # No secret value the twin gave out may show in what the demo printed or in the state file.
    s = control("/_twin/info")["seeded"]
    values = {"the licence": s["ssm_licence_value"], "the keystore password": s["secret_password"]}
    found = []
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        found += ["%s in %s" % (k, os.path.basename(path)) for k, v in values.items() if v in text]
    print("secret values in the output and state.json: %s" % (", ".join(found) or "none"))
    sys.exit(1 if found else 0)
else:
    calls = control("/_twin/calls?action=CompleteLifecycleAction")["calls"]
    print("CompleteLifecycleAction calls: %d" % len(calls))
    if what == "count":
        sys.exit(0)
    for c in calls:
        p = c["params"]
        print("  %s/%s %s -> %s  (HTTP %s, signature %s, signed with the role's session token: %s)" % (
            p.get("AutoScalingGroupName"), p.get("LifecycleHookName"), p.get("InstanceId"),
            p.get("LifecycleActionResult"), c["status"], "ok" if c["auth_ok"] else c.get("auth_error"),
            "yes" if c.get("session_token_sent") else "no"))
    for g in control("/_twin/state")["groups"].values():
        for i in g["instances"].values():
            print("instance %s in %s: %s" % (i["instance_id"], g["name"], i["lifecycle_state"]))
PY
}

echo
echo "== the target group, as moto sees it"
twin_show targets | indent
echo "== the launch hook, as the Auto Scaling endpoint saw it"
twin_show hook | indent

MTIME=$(stat -c %y "$PROPS")
RESTARTS=$(cat "$TWIN_WCS_SERVICE_DIR/restarts")
agent run
echo
echo "== converged"
UNEXPECTED=0
if [ "$(stat -c %y "$PROPS")" = "$MTIME" ]; then
    echo "   flashphoner.properties untouched (mtime $MTIME)"
else
    echo "   flashphoner.properties was rewritten (unexpected)"
    UNEXPECTED=1
fi
AFTER=$(cat "$TWIN_WCS_SERVICE_DIR/restarts")
echo "   restarts of WCS: $RESTARTS before, $AFTER after"
[ "$AFTER" = "$RESTARTS" ] || UNEXPECTED=1
twin_show count | sed 's/^/   /'
twin_show secrets "$WORK/agent.out" "$WORK/state/state.json" | sed 's/^/   /'

echo
echo "== scale-in: the twin takes the node out of service with live calls"
twin_show calls 24 18
WATCH_LOG=$WORK/watch.log
"$AGENT" -c "$WORK/agent.ini" watch >"$WORK/watch.out" 2>"$WATCH_LOG" &
WATCH_PID=$!
echo "\$ wcs-agent watch &   (wcs-agent-watch.service on a node)"
sleep 2
twin_show scale-in | indent
twin_show fall 12
SHOWN=0
for _ in $(seq 60); do
    sleep 2
    N=$(wc -l <"$WATCH_LOG")
    sed -n "$((SHOWN + 1)),${N}p" "$WATCH_LOG" | sed "s|$WORK|\$DEMO|g" | indent
    SHOWN=$N
    echo "      stats page: $(twin_show connections)"
    grep -q 'drained in\|drain timed out' "$WATCH_LOG" && break
done
N=$(wc -l <"$WATCH_LOG")
sed -n "$((SHOWN + 1)),${N}p" "$WATCH_LOG" | sed "s|$WORK|\$DEMO|g" | indent
echo "== the terminate hook and the CDN, as the twin saw them"
twin_show drain-report | indent || UNEXPECTED=1
echo "== the target group after the drain"
twin_show targets | indent
agent status || true
kill -TERM "$WATCH_PID"
WATCH_RC=0
wait "$WATCH_PID" || WATCH_RC=$?
WATCH_PID=""
echo "   watch stopped by SIGTERM: exit $WATCH_RC (already drained: no second drain)"
[ "$WATCH_RC" = 0 ] || UNEXPECTED=1

echo
echo "== the fleet at a glance: the rest of the target group (this node has left it)"
agent fleet || UNEXPECTED=1
grep -q 'failed at secrets' "$WORK/agent.out" || UNEXPECTED=1
echo
echo "== and what is wrong with this node's set-up (read-only)"
DOCTOR_RC=0
agent doctor || DOCTOR_RC=$?
echo "   doctor: exit $DOCTOR_RC (1: a check failed; each failure has its one-line fix)"
[ "$DOCTOR_RC" -le 1 ] || UNEXPECTED=1

T1=$(date +%s%N)
echo
echo "== demo done in $(((T1 - T0) / 1000000000)).$(((T1 - T0) / 100000000 % 10)) s (the twin is stopped, \$DEMO=$WORK removed)"
exit $UNEXPECTED
