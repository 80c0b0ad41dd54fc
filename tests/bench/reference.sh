#!/bin/bash
# The reference for tests/bench/bench.py: the bootstrap of a WCS node done the
# way a launch-template user-data script does it today, with curl, sed and the
# AWS CLI.  It does the same work as `wcs-agent run` with the bench's config:
#
#   1. IMDSv2 token; instance id, region, private and public IPv4 and the
#      Auto Scaling group (instance tag aws:autoscaling:groupName) via curl
#   2. flashphoner.properties: ip, ip_local, cdn_enabled, cdn_role, cdn_ip,
#      cdn_point_of_entry with grep/sed (a key not present is appended)
#   3. enable and restart WCS through the service command
#   4. poll the stats page with curl until it answers name=value lines
#   5. aws elbv2 register-targets, aws elb register-instances-with-load-balancer
#   6. aws autoscaling complete-lifecycle-action CONTINUE
#
# The AWS CLI signs with the instance role's credentials, which it fetches from
# IMDS itself (AWS_EC2_METADATA_SERVICE_ENDPOINT), once per invocation.
#
# Inputs (environment; all required, nothing defaults to a real endpoint):
#   AWS_EC2_METADATA_SERVICE_ENDPOINT          IMDS base URL
#   AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2 ELBv2 endpoint
#   AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING    classic ELB endpoint
#   AWS_ENDPOINT_URL_AUTO_SCALING              Auto Scaling endpoint
#   WCS_HOME            the WCS install folder (conf/flashphoner.properties)
#   STATS_URL           the stats page (http://127.0.0.1:8081/?action=stat on a node)
#   SYSTEMCTL           the service command (systemctl on a node)
#   TARGET_GROUP_ARN, TARGET_PORT, CLASSIC_ELB, LIFECYCLE_HOOK
#   CDN_ROLE, CDN_POINT_OF_ENTRY
#   AWS_CLI             the aws program (default: aws on PATH)
#   READY_TIMEOUT_S     give up waiting for the stats page (default 600)
#
# Every endpoint must be a loopback URL: this copy exists for the benchmark and
# refuses to leave the machine.  Exit 0 on success, 1 on any failure.
set -euo pipefail

die() {
    echo "reference.sh: $*" >&2
    exit 1
}

need() {
    local name=$1
    [ -n "${!name:-}" ] || die "$name is not set"
}

need_loopback() {
    local name=$1
    need "$name"
    case "${!name}" in
    http://127.0.0.1:* | http://localhost:* | "http://[::1]:"* | https://127.0.0.1:*) ;;
    *) die "$name=${!name} is not a loopback URL (the benchmark never leaves the machine)" ;;
    esac
}

for v in AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2 \
    AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING AWS_ENDPOINT_URL_AUTO_SCALING STATS_URL; do
    need_loopback "$v"
done
for v in WCS_HOME SYSTEMCTL TARGET_GROUP_ARN TARGET_PORT CLASSIC_ELB LIFECYCLE_HOOK CDN_ROLE \
    CDN_POINT_OF_ENTRY; do
    need "$v"
done
AWS=${AWS_CLI:-aws}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-600}
IMDS=$AWS_EC2_METADATA_SERVICE_ENDPOINT
PROPS=$WCS_HOME/conf/flashphoner.properties

# -- 1. instance facts (IMDSv2) -------------------------------------------------
TOKEN=$(curl -sS -f --noproxy '*' -m 5 -X PUT "$IMDS/latest/api/token" \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 21600") || die "no IMDSv2 token"

md() {
    curl -sS -f --noproxy '*' -m 5 -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/$1"
}

INSTANCE_ID=$(md meta-data/instance-id) || die "no instance id"
REGION=$(md meta-data/placement/region) || die "no region"
LOCAL_IP=$(md meta-data/local-ipv4) || die "no private IPv4"
PUBLIC_IP=$(md meta-data/public-ipv4 2>/dev/null) || PUBLIC_IP=$LOCAL_IP
ASG=$(md meta-data/tags/instance/aws:autoscaling:groupName) || die "no Auto Scaling group tag"
echo "instance $INSTANCE_ID in $REGION, $LOCAL_IP / $PUBLIC_IP, group $ASG"

# -- 2. flashphoner.properties ---------------------------------------------------
[ -f "$PROPS" ] || die "$PROPS not found"
cp -p "$PROPS" "$PROPS.bak"

set_prop() {
    local key=$1 value=$2
    if grep -q "^${key}[[:space:]]*=" "$PROPS"; then
        sed -i "s|^${key}[[:space:]]*=.*|$key=$value|" "$PROPS"
    else
        echo "$key=$value" >>"$PROPS"
    fi
}

set_prop ip "$PUBLIC_IP"
set_prop ip_local "$LOCAL_IP"
set_prop cdn_enabled true
set_prop cdn_role "$CDN_ROLE"
set_prop cdn_ip "$LOCAL_IP"
set_prop cdn_point_of_entry "$CDN_POINT_OF_ENTRY"
echo "configured $PROPS"

# -- 3. restart WCS --------------------------------------------------------------
"$SYSTEMCTL" enable --quiet webcallserver
"$SYSTEMCTL" restart webcallserver
echo "WCS restarted"

# -- 4. wait for the stats page --------------------------------------------------
waited=0
until page=$(curl -sf --noproxy '*' -m 2 "$STATS_URL") && grep -q '^[A-Za-z0-9_.]*=' <<<"$page"; do
    waited=$((waited + 1))
    [ "$waited" -lt $((READY_TIMEOUT_S * 4)) ] || die "WCS not ready after $READY_TIMEOUT_S s"
    sleep 0.25
done
echo "WCS ready"

# -- 5. load balancers -----------------------------------------------------------
"$AWS" elbv2 register-targets --region "$REGION" \
    --endpoint-url "$AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2" \
    --target-group-arn "$TARGET_GROUP_ARN" --targets "Id=$INSTANCE_ID,Port=$TARGET_PORT"
"$AWS" elb register-instances-with-load-balancer --region "$REGION" \
    --endpoint-url "$AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING" \
    --load-balancer-name "$CLASSIC_ELB" --instances "$INSTANCE_ID" >/dev/null
echo "registered"

# -- 6. lifecycle hook -----------------------------------------------------------
"$AWS" autoscaling complete-lifecycle-action --region "$REGION" \
    --endpoint-url "$AWS_ENDPOINT_URL_AUTO_SCALING" \
    --lifecycle-hook-name "$LIFECYCLE_HOOK" --auto-scaling-group-name "$ASG" \
    --lifecycle-action-result CONTINUE --instance-id "$INSTANCE_ID"
echo "lifecycle action completed"
