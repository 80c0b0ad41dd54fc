#!/bin/bash
# Launch-template user data for an instance started from the Flashphoner WCS
# Marketplace AMI (WCS installed, no wcs-agent): cloud-init runs this script
# once, at the first boot.  It
#   1. downloads the wcs-agent package (.deb or .rpm, matching the AMI's
#      distribution) from AGENT_PACKAGE_URL and checks its SHA-256,
#   2. installs it with the system's package manager,
#   3. writes the overlay below to /etc/wcs-agent/conf.d/ (update WCS to the
#      latest build, CDN edge role),
#   4. enables wcs-agent.service (so later boots converge again) and runs
#      "wcs-agent run", which configures WCS and signals readiness.
#
# Edit the variables below (ASG_NAME is needed for the failure path when
# instance metadata tags are off).  AGENT_PACKAGE_URL is either
#   s3://BUCKET/KEY   fetched with "aws s3 cp" using the instance role (needs
#                     s3:GetObject on it; the AWS CLI is installed if missing),
#   https://...       fetched with curl: a public or CloudFront URL, or an S3
#                     presigned URL (it expires: at most 7 days, less when
#                     signed with role credentials; not logged by this script).
# Get the checksum with: sha256sum wcs-agent_*.deb
#
# If a step before the agent fails, the script completes the launch lifecycle
# hook with ABANDON and signals FAILURE to CloudFormation (when LIFECYCLE_HOOK
# / CFN_STACK are set and the AWS CLI is there), so nobody waits out a timeout.
#
# The same as a MIME multi-part document, with the overlay as its own
# text/x-wcs-agent part read by the agent: marketplace-edge.mime.
set -Eeuo pipefail

# --- edit these -------------------------------------------------------------
AGENT_PACKAGE_URL="s3://my-wcs-artifacts/wcs-agent/wcs-agent_0.1.0_amd64.deb"
AGENT_PACKAGE_SHA256="0000000000000000000000000000000000000000000000000000000000000000"
ORIGIN_ADDRESS="10.0.1.10"
LIFECYCLE_HOOK="wcs-launch"
ASG_NAME=""          # empty: taken from the instance tag aws:autoscaling:groupName
CFN_STACK=""         # CloudFormation stack and logical id of the group, if any
CFN_RESOURCE=""
# ---------------------------------------------------------------------------

IMDS="${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}"

log() { printf 'wcs-agent user data: %s\n' "$*" >&2; }

imds_get() {
    local token
    token=$(curl -fsS --max-time 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" \
        "$IMDS/latest/api/token") || return 1
    curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/$1"
}

# Before the agent runs, nobody else can tell Auto Scaling or CloudFormation.
fail() {
    local reason="$1" id region asg
    log "failed: $reason"
    if command -v aws >/dev/null 2>&1; then
        id=$(imds_get instance-id || true)
        region=$(imds_get placement/region || true)
        asg="$ASG_NAME"
        if [ -z "$asg" ]; then
            asg=$(imds_get tags/instance/aws:autoscaling:groupName || true)
        fi
        if [ -n "$LIFECYCLE_HOOK" ] && [ -n "$asg" ] && [ -n "$id" ]; then
            aws --region "$region" autoscaling complete-lifecycle-action \
                --lifecycle-hook-name "$LIFECYCLE_HOOK" --auto-scaling-group-name "$asg" \
                --instance-id "$id" --lifecycle-action-result ABANDON || true
        fi
        if [ -n "$CFN_STACK" ] && [ -n "$CFN_RESOURCE" ] && [ -n "$id" ]; then
            aws --region "$region" cloudformation signal-resource --stack-name "$CFN_STACK" \
                --logical-resource-id "$CFN_RESOURCE" --unique-id "$id" --status FAILURE || true
        fi
    fi
    exit 1
}
trap 'fail "line $LINENO: command failed"' ERR

if command -v apt-get >/dev/null 2>&1; then
    pm=apt ext=deb
elif command -v dnf >/dev/null 2>&1; then
    pm=dnf ext=rpm
elif command -v yum >/dev/null 2>&1; then
    pm=yum ext=rpm
else
    fail "no apt-get, dnf or yum on this image"
fi

work=$(mktemp -d)
pkg="$work/wcs-agent.$ext"
case "$AGENT_PACKAGE_URL" in
s3://*)
    if ! command -v aws >/dev/null 2>&1; then
        log "installing the AWS CLI"
        if [ "$pm" = apt ]; then
            DEBIAN_FRONTEND=noninteractive apt-get -y -q update
            DEBIAN_FRONTEND=noninteractive apt-get -y -q install awscli
        else
            "$pm" -y -q install awscli
        fi
    fi
    aws s3 cp --only-show-errors "$AGENT_PACKAGE_URL" "$pkg"
    ;;
https://*)
    curl -fsS --proto =https --retry 5 --retry-connrefused --max-time 300 -o "$pkg" \
        "$AGENT_PACKAGE_URL" || fail "download of the agent package failed"
    ;;
*)
    fail "AGENT_PACKAGE_URL must start with s3:// or https://"
    ;;
esac

got=$(sha256sum "$pkg" | cut -d' ' -f1)
if [ "$got" != "$AGENT_PACKAGE_SHA256" ]; then
    fail "agent package SHA-256 mismatch: got $got, want $AGENT_PACKAGE_SHA256"
fi
log "agent package checked (SHA-256 $got)"

if [ "$pm" = apt ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -y -q update
    DEBIAN_FRONTEND=noninteractive apt-get -y -q install "$pkg"
else
    "$pm" -y -q install "$pkg"
fi
rm -rf "$work"

# --- overlay: begin (a conf.d file: the agent ignores a shell script as user data)
CONF_D="${WCS_AGENT_CONF_D:-/etc/wcs-agent/conf.d}"
umask 077
mkdir -p "$CONF_D"
cat > "$CONF_D/50-marketplace-edge.ini" <<EOF
# Written by the launch-template user data (marketplace-edge.sh).
[update]
enabled = true

[cdn]
role = edge
point_of_entry = $ORIGIN_ADDRESS

[ready]
require = ports_media_free>0

[signal]
lifecycle_hook = $LIFECYCLE_HOOK
asg = $ASG_NAME
cfn_stack = $CFN_STACK
cfn_resource = $CFN_RESOURCE
EOF
# --- overlay: end

systemctl enable wcs-agent.service wcs-agent-watch.service || log "could not enable the wcs-agent units"
trap - ERR
# From here on the agent signals success or failure itself; then watch looks
# after the node (drain on scale-in, Spot, Standby; the terminate hook).
rc=0
wcs-agent run || rc=$?
systemctl start --no-block wcs-agent-watch.service || log "could not start wcs-agent-watch.service"
exit "$rc"
