# Shared set-up for tests/run.sh and tests/demo.sh (sourced, not run).
#
# 1. Points every AWS and IMDS client at a closed loopback port before anything
#    starts, so a test that forgets to use the twin fails fast instead of
#    leaving the machine.
# 2. Installs missing build dependencies when run as root (Debian 12).
# 3. Builds the agent (plain) into $BUILD.

export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9
export AWS_ENDPOINT_URL=http://127.0.0.1:9
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE \
    AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_REGION AWS_DEFAULT_REGION \
    AWS_EC2_METADATA_DISABLED WCS_AGENT_CONFIG 2>/dev/null || true

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}

# Debian packages the build and the tests need.
DEB_PACKAGES="cmake make gcc pkg-config libcurl4-openssl-dev libssl-dev libinih-dev \
libcjson-dev libexpat1-dev zlib1g-dev libcmocka-dev clang clang-format \
openssl ca-certificates tar openjdk-17-jre-headless rpm systemd groff-base shellcheck lintian"

install_deps() {
    local missing=""
    for p in $DEB_PACKAGES; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing="$missing $p"
        fi
    done
    if [ -z "$missing" ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing packages:$missing (run as root to install them)" >&2
        return 1
    fi
    echo "setup: installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

# The Python with botocore and moto (pyenv's python3 on these machines).
find_python() {
    local p
    for p in "${AGENT_PYTHON:-}" "$(command -v python3 || true)" /root/.pyenv/shims/python3; do
        if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import botocore' 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    command -v python3
}

build_agent() {
    local dir=$1
    shift
    cmake -S "$ROOT" -B "$dir" -DAGENT_PYTHON="$PYTHON" -DAGENT_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)"
}
