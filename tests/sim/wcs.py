#!/usr/bin/env python3
"""A fake Flashphoner WCS 5.2 for the wcs-agent tests (Python 3 standard library only).

Facts come from shared/docs/wcs.md (install layout §2, install.sh §2,
flashphoner.properties §5, stats page §6); what is unconfirmed there is a
plausible stand-in here and says so.

Importable:

    from wcs import make_install_tree, StatsServer, make_installer_tarball, make_evil_tarball

    tree = make_install_tree(root, version="5.2.1234")
        A WCS tree under the fake file-system root `root`:
          root/usr/local/FlashphonerWebCallServer-5.2.1234/{bin,conf,lib/custom,lib/so,web,
              tools,client,client2,logs/server_logs,logs/client_logs,hls,media,records,report}
          root/usr/local/FlashphonerWebCallServer -> FlashphonerWebCallServer-5.2.1234 (relative)
          conf/flashphoner.properties  (comments, ip=, ip_local=, ports, commented cdn_* lines)
          conf/wcs-core.properties     (### SERVER OPTIONS ### / ### JVM OPTIONS ###, -Xmx1024M)
          conf/WCS.version             ("5.2.1234-<hash>\\n")
          conf/log4j.properties, conf/wss.jks (dummy bytes)
          bin/activation.sh  records its argv, /proc cmdline, environment and stdin in
                             root/var/activation/ (count, argv, cmdline, environ, env, stdin),
                             prints the key back (so redaction is exercised), exits 1 for a
                             key starting with "INVALID" (else writes root/var/activation/licence
                             and exits 0); a file root/var/activation/sleep-ms delays it
          bin/deactivation.sh records that it ran in root/var/activation/deactivation-*
                             (count, argv, times), removes the licence record; exit 1
                             when root/var/activation/fail exists
          bin/webcallserver  start|stop|restart|status -> wcs_service.py on root/var/service
          bin/setenv.sh      reads wcs-core.properties as the real one does (wcs.md §2)
        Returns a WcsTree (paths as attributes, helpers to read what was recorded).

    with StatsServer(delay_ms=500, restart_file=...) as s:  s.url, s.port, s.set_field(...)
        GET /?action=stat answers "name=value" lines grouped under section headers
        (text/plain, or an HTML page with style="html"; &format=json gives the JSON
        groups).  See the class for the modes (ready after a delay, never ready, flapping;
        not ready as 503, connection refused, a page without fields, or a hang).

    make_installer_tarball(path, version, install_root=root)
        A .tar.gz with FlashphonerWebCallServer-<version>/ (install.sh, WCS.version,
        server/{bin,conf,lib,web,tools}, client, client2, scripts/systemd/...).  See
        INSTALL_SH for what `./install.sh -silent` does; the install root comes from the
        environment variable WCS_SIM_ROOT, else the install_root baked in here (the agent
        runs children with a minimal environment), else it refuses (exit 2); it never
        installs into the real /usr/local.

    make_evil_tarball(path, kind, version, target=...)   kind: dotdot, absolute, symlink,
        hardlink: a tarball whose extraction by a careless unpacker would write outside
        the unpack folder (for the update step's tests).

Runnable:

    python3 wcs.py stats [--port 0] [--delay-ms N] [--mode ready|never|flap]
                         [--not-ready 503|refuse|empty|hang] [--style text|html]
                         [--restart-file F] [--fields-file F] [--field NAME=VALUE ...]
        prints WCS_STATS_PORT=N and WCS_STATS_URL=... then serves until SIGTERM/SIGINT
    python3 wcs.py install-tree ROOT [--version V]          prints the paths as KEY=VALUE
    python3 wcs.py tarball PATH [--version V] [--install-root R]
    python3 wcs.py evil-tarball PATH --kind K [--target T] [--version V]
"""

import argparse
import hashlib
import io
import json
import os
import shlex
import signal
import socketserver
import sys
import tarfile
import threading
import time
import http.server
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from netutil import TlsServerMixin  # noqa: E402
from wcs_service import ServiceState, make_service_scripts  # noqa: E402,F401

DEFAULT_VERSION = "5.2.1234"
PRODUCT = "FlashphonerWebCallServer"
STAT_PATH = "/"

# ---------------------------------------------------------------------------
# versions


def full_version(version):
    """"5.2.1234" -> "5.2.1234-<8 hex>" (a stable fake build hash); a version
    that already has a "-hash" is returned as is."""
    if "-" in version:
        return version
    return "%s-%s" % (version, hashlib.sha1(version.encode()).hexdigest()[:8])


def base_version(version):
    """The version without the hash: the text before the last '-' (wcs.md §2)."""
    v = full_version(version)
    return v.rsplit("-", 1)[0]


# ---------------------------------------------------------------------------
# file contents

FLASHPHONER_PROPERTIES = """\
# Config flashphoner.properties
# To get more settings:
# ssh -p 2001 admin@localhost
# default password: admin
# show node-settings
# show node-settings | grep port

#server ip
ip ={ip}
ip_local ={ip_local}

#webrtc ports range
media_port_from=31001
media_port_to=32000

#codecs
codecs=opus,alaw,ulaw,g729,speex16,g722,mpeg4-generic,telephone-event,h264,vp8,flv,mpv
codecs_exclude_sip=mpeg4-generic,flv,mpv
codecs_exclude_streaming=flv,telephone-event

#websocket ports
ws.port=8080
wss.port=8443
http.port=8081
https.port=8444

#CDN
#cdn_enabled=true
#cdn_ip=
#cdn_point_of_entry=
#cdn_role=edge
#cdn_nodes_resolve_ip=false
cdn_enabled=false

client_log_level=INFO
hold_ip_settings=true
"""

WCS_CORE_PROPERTIES = """\
### SERVER OPTIONS ###
# Set this property to false to disable session debug
-DsessionDebugEnabled=false
# Disable SSLv3
-Djdk.tls.client.protocols="TLSv1,TLSv1.1,TLSv1.2"


### JVM OPTIONS ###
-Xmx1024M
#-Xcheck:jni

# Can be a better GC setting to avoid long pauses
-XX:+UseConcMarkSweepGC
#-XX:NewSize=1024m

# Uncomment to fix multicast crosstalk problem when streams share multicast port
-Djava.net.preferIPv4Stack=true

# Default monitoring port is 50999. Make sure the port is closed on firewall.
-Dcom.sun.management.jmxremote=true
-Dcom.sun.management.jmxremote.local.only=false
-Dcom.sun.management.jmxremote.ssl=false
-Dcom.sun.management.jmxremote.authenticate=false
-Dcom.sun.management.jmxremote.port=50999
-Dcom.sun.management.jmxremote.host=localhost
-Djava.rmi.server.hostname=localhost

-XX:ErrorFile=/usr/local/FlashphonerWebCallServer/logs/error%p.log
-Xloggc:/usr/local/FlashphonerWebCallServer/logs/gc-core-
"""

LOG4J_PROPERTIES = """\
log4j.rootLogger=info, fAppender
log4j.appender.fAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.fAppender.File=${com.flashphoner.fms.AppHome}/logs/server_logs/flashphoner.log
log4j.appender.fAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.fAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.fAppender.layout.ConversionPattern=%p %d{HH:mm:ss,SSS} %t %c %m%n
"""

# bin/setenv.sh: how the real one reads wcs-core.properties (wcs.md §2, S4),
# so a test can check what the JVM would get from an edited file.
SETENV_SH = r"""#!/usr/bin/env bash
# Fake bin/setenv.sh (tests/sim/wcs.py): reads conf/wcs-core.properties the way
# WCS 5.2's does; `setenv.sh --print` prints the JVM and server options.
WCS_APP_HOME="$(cd "$(dirname "$0")/.." && pwd)"
WCS_CORE_CONF="$WCS_APP_HOME/conf/wcs-core.properties"
WCS_JAVA_OPTS=""
WCS_SERVER_OPTS=""
while read -r line || [[ -n "$line" ]]; do
 if [[ "$line" == "### SERVER OPTIONS ###" ]]; then
  while read prop; do
   if [[ $prop == -* ]]; then
    WCS_SERVER_OPTS+="$prop "
   elif [[ "$prop" == "### JVM OPTIONS ###" ]]; then
    break
   fi
  done
 else
  if [[ $line == -* ]]; then
   WCS_JAVA_OPTS+="$line "
  fi
 fi
done < "$WCS_CORE_CONF"
WCS_JAVA_OPTS=${WCS_JAVA_OPTS%?}
WCS_SERVER_OPTS=${WCS_SERVER_OPTS%?}
if [[ "${1:-}" == "--print" ]]; then
 echo "JAVA_OPTS=$WCS_JAVA_OPTS"
 echo "SERVER_OPTS=$WCS_SERVER_OPTS"
fi
"""

ACTIVATION_SH = """#!/bin/sh
# Fake WCS licence activation (tests/sim/wcs.py).  How the real one works is
# unconfirmed (wcs.md section 3); this one takes the key on stdin and records
# how it was called, so tests can check that the key came on stdin only.
REC={rec}
mkdir -p "$REC"
n=$(cat "$REC/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$REC/count"
cat /proc/$$/cmdline > "$REC/cmdline"
cat /proc/$$/environ > "$REC/environ"
printf '%s\\n' "$0" "$@" > "$REC/argv"
env > "$REC/env"
if [ -f "$REC/sleep-ms" ]; then
  sleep "$(awk '{{ printf "%.3f", $1 / 1000 }}' "$REC/sleep-ms")"
fi
cat > "$REC/stdin"
key=$(cat "$REC/stdin")
# Printing the key back is deliberate: the agent must redact it in its logs.
echo "Activating licence $key"
case "$key" in
INVALID*)
  echo "ERROR: licence $key is not valid" >&2
  exit 1
  ;;
esac
printf '%s\\n' "$key" > "$REC/licence"
# Like the real one (wcs.md section 9): the licence file in conf/.
echo "fake licence" > "$(dirname "$0")/../conf/flashphoner.license"
echo "Licence activated"
exit 0
"""

DEACTIVATION_SH = """#!/bin/sh
# Fake WCS licence release (tests/sim/wcs.py; the real one is run by
# uninstall.sh when conf/flashphoner.license exists, wcs.md section 9).  It
# records that it ran (count, argv, the time) and removes the licence record
# of bin/activation.sh; a file REC/fail makes it exit 1.
REC={rec}
mkdir -p "$REC"
n=$(cat "$REC/deactivation-count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$REC/deactivation-count"
printf '%s\n' "$0" "$@" > "$REC/deactivation-argv"
date +%s.%N >> "$REC/deactivation-times"
if [ -f "$REC/fail" ]; then
  echo "ERROR: licence server unreachable" >&2
  exit 1
fi
rm -f "$REC/licence"
echo "Licence deactivated"
exit 0
"""

WEBCALLSERVER_SH = """#!/bin/sh
# Fake bin/webcallserver (tests/sim/wcs.py): start|stop|restart|status through
# the fake service state in {service_dir}.
case "$1" in
start|stop|restart) action=$1 ;;
status) action=is-active ;;
*) echo "Usage: $0 {{start|stop|restart|status}}" >&2; exit 1 ;;
esac
exec {python} {script} --state-dir {service_dir} "$action"
"""

SYSTEMD_UNIT = """\
[Unit]
Description=Flashphoner Web Call Server (fake)
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=120
StartLimitBurst=5

[Service]
Type=forking
User=root
Group=root
ExecStart=/usr/local/FlashphonerWebCallServer/bin/webcallserver start
ExecStop=/usr/local/FlashphonerWebCallServer/bin/webcallserver stop
Restart=on-failure
RestartSec=5s
SuccessExitStatus=143
RemainAfterExit=no

[Install]
WantedBy=multi-user.target
"""

# The fake installer.  Behaviour from wcs.md §2 (verified parts of WCS 5.2's
# install.sh): -silent/--silent (and --debug) only, any other argument prints
# usage and exits 1; run from the unpacked folder (reads ./WCS.version); the
# same version installed -> "already installed", exit 1; an update stops WCS,
# moves the old versioned folder to the new name, replaces bin/ (keeping
# setenv.sh and the record hooks), lib/ (keeping lib/custom), web/, tools/,
# client/, client2/, adds only missing conf/ files (never flashphoner.properties
# or wss.jks), updates the symlink, conf/WCS.version and logs/update.log; a
# fresh install copies everything and does not enable the service; WCS is
# never started.  Every call is appended to $ROOT/var/installer/calls.log.
INSTALL_SH = r"""#!/bin/sh
# Fake FlashphonerWebCallServer install.sh (tests/sim/wcs.py).
set -u
INSTALL_ROOT_DEFAULT=@ROOT@
ROOT=${WCS_SIM_ROOT:-$INSTALL_ROOT_DEFAULT}
usage() {
  echo "Usage: ./install.sh [-silent|--silent] [--debug]"
  exit 1
}
SILENT=0
for a in "$@"; do
  case "$a" in
  -silent|--silent) SILENT=1 ;;
  --debug) ;;
  *) usage ;;
  esac
done
INSTALLER_DIR=$(pwd)
LOG="$INSTALLER_DIR/install.log"
say() { echo "$*"; echo "$*" >> "$LOG"; }
if [ ! -f "$INSTALLER_DIR/WCS.version" ] || [ ! -d "$INSTALLER_DIR/server" ]; then
  echo "WCS.version not found in $INSTALLER_DIR: run ./install.sh from the unpacked folder"
  exit 1
fi
case "$ROOT" in
/?*) ;;
*)
  echo "fake installer: no install root (set WCS_SIM_ROOT to an absolute folder other than /)"
  exit 2
  ;;
esac
NEW_FULL=$(cat "$INSTALLER_DIR/WCS.version")
NEW=${NEW_FULL%-*}
LOCAL="$ROOT/usr/local"
LINK="$LOCAL/FlashphonerWebCallServer"
DEST="$LOCAL/FlashphonerWebCallServer-$NEW"
REC="$ROOT/var/installer"
mkdir -p "$REC"
echo "$(date +%s) version=$NEW_FULL args=$* cwd=$INSTALLER_DIR" >> "$REC/calls.log"
if [ "$SILENT" != 1 ]; then
  echo "fake installer: only -silent is supported"
  exit 1
fi
mkdir -p "$LOCAL"
if [ -f "$LINK/conf/WCS.version" ]; then
  OLD_FULL=$(cat "$LINK/conf/WCS.version")
  if [ "$OLD_FULL" = "$NEW_FULL" ]; then
    say "Web Call Server $NEW_FULL already installed"
    exit 1
  fi
  say "Updating Web Call Server from $OLD_FULL to $NEW_FULL"
  if [ -f "$ROOT/var/service/active" ]; then
    say "Stopping Web Call Server"
    rm -f "$ROOT/var/service/active"
    echo "stop" >> "$REC/calls.log"
  fi
  OLD_DIR=$(readlink -f "$LINK")
  if [ "$OLD_DIR" != "$DEST" ]; then
    mv "$OLD_DIR" "$DEST" || exit 1
  fi
  for f in "$INSTALLER_DIR"/server/bin/*; do
    b=$(basename "$f")
    case "$b" in
    setenv.sh|on_record_hook.sh|on_multiple_record_hook.sh)
      [ -e "$DEST/bin/$b" ] && continue ;;
    esac
    cp -p "$f" "$DEST/bin/$b"
  done
  find "$DEST/lib" -mindepth 1 -maxdepth 1 ! -name custom -exec rm -rf {} +
  cp -Rp "$INSTALLER_DIR/server/lib/." "$DEST/lib/"
  for d in web tools; do
    rm -rf "${DEST:?}/$d"
    cp -Rp "$INSTALLER_DIR/server/$d" "$DEST/$d"
  done
  for d in client client2; do
    rm -rf "${DEST:?}/$d"
    cp -Rp "$INSTALLER_DIR/$d" "$DEST/$d"
  done
  for f in "$INSTALLER_DIR"/server/conf/*; do
    b=$(basename "$f")
    case "$b" in
    flashphoner.properties|wss.jks|WCS.version) continue ;;
    esac
    [ -e "$DEST/conf/$b" ] || cp -p "$f" "$DEST/conf/$b"
  done
  echo "$NEW_FULL" > "$DEST/conf/WCS.version"
  ln -sfn "FlashphonerWebCallServer-$NEW" "$LINK"
  mkdir -p "$DEST/logs"
  echo "Updated from $OLD_FULL to $NEW_FULL" >> "$DEST/logs/update.log"
  say "Update complete"
else
  say "Installing Web Call Server $NEW_FULL"
  mkdir -p "$DEST"
  cp -Rp "$INSTALLER_DIR/server/." "$DEST/"
  cp -Rp "$INSTALLER_DIR/client" "$DEST/client"
  cp -Rp "$INSTALLER_DIR/client2" "$DEST/client2"
  for d in logs/server_logs logs/client_logs hls media records report lib/custom lib/so; do
    mkdir -p "$DEST/$d"
  done
  echo "$NEW_FULL" > "$DEST/conf/WCS.version"
  ln -sfn "FlashphonerWebCallServer-$NEW" "$LINK"
  say "Installation complete"
fi
say "Restart Web Call Server to apply: systemctl restart webcallserver"
exit 0
"""

UNINSTALL_SH = """#!/bin/sh
echo "fake uninstall.sh: not implemented" >&2
exit 1
"""


def _write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _check_path_for_shell(p):
    if any(c in p for c in "\n\r\0"):
        raise ValueError("unusable path %r" % p)


# ---------------------------------------------------------------------------
# install tree


class WcsTree:
    """Paths of a tree made by make_install_tree(), and readers of what the
    fake commands recorded."""

    def __init__(self, root, version):
        self.root = os.path.abspath(root)
        self.version = full_version(version)
        self.base_version = base_version(version)
        self.local = os.path.join(self.root, "usr", "local")
        self.home = os.path.join(self.local, PRODUCT)
        self.real_home = os.path.join(self.local, "%s-%s" % (PRODUCT, self.base_version))
        self.bin_dir = os.path.join(self.home, "bin")
        self.conf_dir = os.path.join(self.home, "conf")
        self.properties = os.path.join(self.conf_dir, "flashphoner.properties")
        self.core_properties = os.path.join(self.conf_dir, "wcs-core.properties")
        self.version_file = os.path.join(self.conf_dir, "WCS.version")
        self.keystore = os.path.join(self.conf_dir, "wss.jks")
        self.activation_cmd = os.path.join(self.bin_dir, "activation.sh")
        self.activation_dir = os.path.join(self.root, "var", "activation")
        self.service_dir = os.path.join(self.root, "var", "service")
        self.installer_dir = os.path.join(self.root, "var", "installer")

    def env(self):
        """KEY=VALUE facts for the CLI and for tests that template configs."""
        return {
            "WCS_SIM_ROOT": self.root,
            "WCS_HOME": self.home,
            "WCS_REAL_HOME": self.real_home,
            "WCS_VERSION": self.version,
            "WCS_PROPERTIES": self.properties,
            "WCS_CORE_PROPERTIES": self.core_properties,
            "WCS_ACTIVATION_CMD": self.activation_cmd,
            "WCS_ACTIVATION_DIR": self.activation_dir,
            "WCS_SERVICE_DIR": self.service_dir,
        }

    def installed_version(self):
        """The content of conf/WCS.version without the line end, or None."""
        try:
            with open(self.version_file) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def read_properties(self, path=None):
        """A simple key -> value reading of flashphoner.properties (last wins;
        comments and blank lines skipped; no continuation lines)."""
        out = {}
        with open(path or self.properties, encoding="utf-8") as f:
            for line in f:
                s = line.strip()
                if not s or s[0] in "#!":
                    continue
                for i, c in enumerate(s):
                    if c in "=:":
                        out[s[:i].strip()] = s[i + 1 :].strip()
                        break
                else:
                    out[s] = ""
        return out

    def activation(self):
        """What bin/activation.sh recorded: {"count", "argv" (list),
        "cmdline" (list of bytes), "environ" (dict of bytes), "stdin" (bytes),
        "licence" (bytes or None)}; None when it never ran."""
        d = self.activation_dir

        def read(name):
            try:
                with open(os.path.join(d, name), "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return None

        count = read("count")
        if count is None:
            return None
        environ = {}
        for item in (read("environ") or b"").split(b"\0"):
            if b"=" in item:
                k, v = item.split(b"=", 1)
                environ[k] = v
        return {
            "count": int(count.strip() or b"0"),
            "argv": (read("argv") or b"").decode(errors="replace").splitlines(),
            "cmdline": [a for a in (read("cmdline") or b"").split(b"\0") if a],
            "environ": environ,
            "stdin": read("stdin"),
            "licence": read("licence"),
        }

    def deactivation(self):
        """What bin/deactivation.sh recorded: {"count", "argv", "times"}; None when it never ran."""
        d = self.activation_dir
        try:
            with open(os.path.join(d, "deactivation-count")) as f:
                count = int(f.read().strip() or "0")
        except FileNotFoundError:
            return None
        with open(os.path.join(d, "deactivation-argv")) as f:
            argv = f.read().splitlines()
        with open(os.path.join(d, "deactivation-times")) as f:
            times = [float(x) for x in f.read().split()]
        return {"count": count, "argv": argv, "times": times}

    def service(self):
        """The ServiceState of root/var/service (bin/webcallserver uses it)."""
        return ServiceState(self.service_dir)


def _server_files(version, activation_rec, service_dir, ip, ip_local):
    """{relative path under the WCS home: (bytes or str, mode)} of a fresh tree."""
    script = os.path.join(HERE, "wcs_service.py")
    return {
        "bin/webcallserver": (
            WEBCALLSERVER_SH.format(
                python=shlex.quote(sys.executable),
                script=shlex.quote(script),
                service_dir=shlex.quote(service_dir),
            ),
            0o755,
        ),
        "bin/setenv.sh": (SETENV_SH, 0o755),
        "bin/activation.sh": (ACTIVATION_SH.format(rec=shlex.quote(activation_rec)), 0o755),
        "bin/deactivation.sh": (DEACTIVATION_SH.format(rec=shlex.quote(activation_rec)), 0o755),
        "bin/uninstall.sh": (UNINSTALL_SH, 0o755),
        "conf/flashphoner.properties": (
            FLASHPHONER_PROPERTIES.format(ip=ip, ip_local=ip_local),
            0o664,
        ),
        "conf/wcs-core.properties": (WCS_CORE_PROPERTIES, 0o664),
        "conf/log4j.properties": (LOG4J_PROPERTIES, 0o664),
        "conf/WCS.version": (full_version(version) + "\n", 0o664),
        "conf/wss.jks": (b"\xfe\xed\xfe\xed fake keystore\n", 0o640),
        "conf/watchdog.properties": ("# fake\n", 0o664),
        "lib/wcs-core.jar": (b"PK\x03\x04 fake %s\n" % version.encode(), 0o644),
        "web/index.html": ("<html><body>WCS %s</body></html>\n" % version, 0o644),
        "tools/README": ("fake tools\n", 0o644),
    }


def make_install_tree(root, version=DEFAULT_VERSION, *, ip="198.51.100.7", ip_local="0.0.0.0"):
    """Creates an installed WCS under the fake root (see the module doc) and
    returns a WcsTree.  An existing tree of the same version is replaced."""
    t = WcsTree(root, version)
    for p in (t.root, t.activation_dir, t.service_dir):
        _check_path_for_shell(p)
    os.makedirs(t.local, exist_ok=True)
    files = _server_files(version, t.activation_dir, t.service_dir, ip, ip_local)
    for rel, (data, mode) in files.items():
        _write(os.path.join(t.real_home, rel), data, mode)
    _write(os.path.join(t.real_home, "client", "examples", "index.html"), "<html>client</html>\n")
    _write(os.path.join(t.real_home, "client2", "examples", "index.html"), "<html>client2</html>\n")
    for d in ("lib/custom", "lib/so", "logs/server_logs", "logs/client_logs", "hls", "media",
              "records", "report"):
        os.makedirs(os.path.join(t.real_home, d), exist_ok=True)
    if os.path.islink(t.home) or os.path.exists(t.home):
        os.unlink(t.home)
    os.symlink(os.path.basename(t.real_home), t.home)
    os.makedirs(t.activation_dir, exist_ok=True)
    os.makedirs(t.service_dir, exist_ok=True)
    return t


# ---------------------------------------------------------------------------
# installer tarballs


def _tar_add(tf, name, data=None, mode=0o644, kind=tarfile.REGTYPE, linkname="", mtime=1700000000):
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.type = kind
    info.linkname = linkname
    if kind == tarfile.REGTYPE:
        if isinstance(data, str):
            data = data.encode()
        data = data or b""
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    else:
        tf.addfile(info)


def _tarball_members(version, install_root):
    """[(name, data, mode, kind)] of a WCS-like installer tarball."""
    top = "%s-%s" % (PRODUCT, base_version(version))
    root_lit = shlex.quote(os.path.abspath(install_root)) if install_root else "''"
    # The tarball's bin/ scripts point at the fake root of the install, as a real
    # install's would point at /usr/local.
    rec_root = os.path.abspath(install_root) if install_root else "/nonexistent-wcs-sim-root"
    files = _server_files(
        version,
        os.path.join(rec_root, "var", "activation"),
        os.path.join(rec_root, "var", "service"),
        "198.51.100.7",
        "0.0.0.0",
    )
    out = [(top, None, 0o755, tarfile.DIRTYPE)]
    reg = tarfile.REGTYPE
    out.append((top + "/install.sh", INSTALL_SH.replace("@ROOT@", root_lit), 0o755, reg))
    out.append((top + "/uninstall.sh", UNINSTALL_SH, 0o755, tarfile.REGTYPE))
    out.append((top + "/WCS.version", full_version(version) + "\n", 0o644, tarfile.REGTYPE))
    out.append((top + "/EULA_PAGE1", "Fake end user licence agreement.\n", 0o644, tarfile.REGTYPE))
    dirs = set()
    for rel, (data, mode) in sorted(files.items()):
        d = os.path.dirname(rel)
        if d not in dirs:
            dirs.add(d)
            out.append(("%s/server/%s" % (top, d), None, 0o755, tarfile.DIRTYPE))
        out.append(("%s/server/%s" % (top, rel), data, mode, tarfile.REGTYPE))
    for c in ("client", "client2"):
        page = "<html>%s %s</html>\n" % (c, version)
        out.append(("%s/%s/examples/index.html" % (top, c), page, 0o644, reg))
    out.append((top + "/scripts/systemd/webcallserver.service", SYSTEMD_UNIT, 0o644, reg))
    return top, out


def make_installer_tarball(path, version=DEFAULT_VERSION, install_root=None):
    """Writes a gzip tarball of a fake WCS installer to path and returns
    {"path", "top" (the unpacked folder name), "version" (full), "sha256"}.
    install_root: the fake root `./install.sh -silent` installs into when
    WCS_SIM_ROOT is not set (None: WCS_SIM_ROOT is required)."""
    top, members = _tarball_members(version, install_root)
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for name, data, mode, kind in members:
            _tar_add(tf, name, data, mode, kind)
    return {"path": path, "top": top, "version": full_version(version), "sha256": sha256_file(path)}


EVIL_KINDS = ("dotdot", "absolute", "symlink", "hardlink")


def make_evil_tarball(path, kind, version=DEFAULT_VERSION, target=None, install_root=None):
    """A valid-looking installer tarball plus one hostile member:

      dotdot    "<top>/../../wcs-sim-escaped.txt" (relative escape; target
                unused; the file would land two folders above the unpack folder)
      absolute  a file whose name is the absolute path target
      symlink   "<top>/server/conf/escape" -> target (a folder), then a file
                "<top>/server/conf/escape/wcs-sim-escaped.txt" written through it
      hardlink  "<top>/server/conf/hard" as a hard link to target

    target must be an absolute path inside a folder the test owns.  Returns
    the same dict as make_installer_tarball plus "member" (the hostile name)."""
    if kind not in EVIL_KINDS:
        raise ValueError("kind must be one of %s" % ", ".join(EVIL_KINDS))
    bad_target = not target or not os.path.isabs(target) or target in ("/", "/etc", "/usr")
    if kind != "dotdot" and bad_target:
        raise ValueError("kind %s needs an absolute target inside a test folder" % kind)
    top, members = _tarball_members(version, install_root)
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for name, data, mode, k in members:
            _tar_add(tf, name, data, mode, k)
        if kind == "dotdot":
            member = top + "/../../wcs-sim-escaped.txt"
            _tar_add(tf, member, "escaped\n")
        elif kind == "absolute":
            member = target
            _tar_add(tf, member, "escaped\n")
        elif kind == "symlink":
            member = top + "/server/conf/escape"
            _tar_add(tf, member, kind=tarfile.SYMTYPE, linkname=target, mode=0o777)
            _tar_add(tf, member + "/wcs-sim-escaped.txt", "escaped\n")
        else:
            member = top + "/server/conf/hard"
            _tar_add(tf, member, kind=tarfile.LNKTYPE, linkname=target)
    return {
        "path": path,
        "top": top,
        "version": full_version(version),
        "sha256": sha256_file(path),
        "member": member,
    }


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# stats server

# Groups and fields of the stat page (wcs.md §6, verified names; values are
# plausible idle-server numbers).  The exact page layout is unconfirmed: the
# text style puts each group under a "-----group-----" header line.
DEFAULT_GROUPS = (
    (
        "connections_stats",
        (("connections", "0"), ("connections_rtmfp", "0"), ("connections_websocket", "0")),
    ),
    (
        "port_stats",
        (
            ("ports_media_free", "499"),
            ("ports_media_busy", "0"),
            ("ports_media_quarantine", "0"),
            ("ports_wcs_agents_free", "100"),
            ("ports_wcs_agents_busy", "0"),
            ("ports_wcs_agents_quarantine", "0"),
            ("ports_rest_api_leased", "0"),
            ("ports_rest_api_available", "100"),
            ("ports_rest_api_pending", "0"),
        ),
    ),
    (
        "streams_stats",
        (
            ("streams_rtsp_in", "0"),
            ("streams_rtsp_out", "0"),
            ("streams_websocket_out", "0"),
            ("streams_rtmp_out", "0"),
            ("streams_webrtc_in", "0"),
            ("streams_webrtc_out", "0"),
            ("streams_rtmfp_in", "0"),
            ("streams_rtmfp_out", "0"),
            ("streams_viewers", "0"),
            ("streams_synchronization", "0"),
        ),
    ),
    ("native_resources", (("native_video_decoders", "0"), ("native_video_encoders", "0"))),
    (
        "core_stats",
        (
            ("core_threads", "212"),
            ("core_java_threads", "164"),
            ("core_java_threads_blocked", "0"),
            ("core_java_committedMemory", "1073741824"),
            ("core_java_freePhysicalMemorySize", "2147483648"),
        ),
    ),
)

MODES = ("ready", "never", "flap")
CONTROL_HEADER = "X-Twin-Control"
REST_PREFIX = "/rest-api"
CDN_STATES = ("NEW_STREAMS_ALLOWED", "GROUP_CONNECTIONS_ALLOWED")
FALLING_FIELDS = ("connections", "connections_websocket")
NOT_READY = ("503", "refuse", "empty", "hang")
STYLES = ("text", "html")


class _StatsHTTPServer(TlsServerMixin, http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def server_bind(self):
        # Skip HTTPServer.server_bind: its getfqdn() may wait on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _StatsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "WebCallServer"
    sys_version = ""
    timeout = 30
    disable_nagle_algorithm = True  # header block and body are written separately

    def log_message(self, fmt, *args):
        if self.server.owner.verbose:
            sys.stderr.write("wcs stats: %s\n" % (fmt % args))

    def do_GET(self):
        if self._is_control():
            self._control()
            return
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)

    def do_POST(self):
        if self._is_control():
            self._control()
        elif urllib.parse.urlsplit(self.path).path.startswith(REST_PREFIX):
            self._rest()
        else:
            self._body()
            self.server.owner._record(self.path, 404)
            self._send(404, b"Not Found\n", "text/plain", False)

    def _is_control(self):
        return self.path.startswith("/_twin/") and self.headers.get(CONTROL_HEADER) == "1"

    def _body(self):
        """The request body (b"" without one); None when the length is missing
        for a POST or bad (the reply is then sent)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(411, b"Length Required\n", "text/plain", False)
            return None
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > 1024 * 1024:
            self.close_connection = True
            self._send(411, b"Length Required\n", "text/plain", False)
            return None
        return self.rfile.read(int(length))

    def _json(self, status, obj):
        self._send(status, (json.dumps(obj) + "\n").encode(), "application/json", False)

    def _rest(self):
        """The REST methods the agent uses (wcs.md sections 6 and 7)."""
        owner = self.server.owner
        path = urllib.parse.urlsplit(self.path).path
        body = self._body()
        if body is None:
            owner._record(self.path, 411)
            return
        ready, _ = owner._state_now()
        if not ready or owner.rest_status != 200:
            status = 503 if not ready else owner.rest_status
            owner._record(self.path, status)
            self._send(status, b"Service Unavailable\n", "text/plain", False)
            return
        if path == REST_PREFIX + "/cdn/enforce_node_state":
            status, reply = owner._enforce(body, self.headers)
        elif path == REST_PREFIX + "/cdn/show_node_state":
            status, reply = 200, {"processingState": owner.cdn_state()}
        else:
            status, reply = 404, {"error": "no REST method %s" % path}
        owner._record(self.path, status)
        if reply is None:
            self._send(status, b"", "application/json", False)
        else:
            self._json(status, reply)

    def _control(self):
        owner = self.server.owner
        path = urllib.parse.urlsplit(self.path).path
        arg = {}
        if self.command == "POST":
            body = self._body()
            if body is None:
                return
            try:
                arg = json.loads(body.decode()) if body.strip() else {}
            except ValueError as e:
                self._json(400, {"error": "body is not JSON: %s" % e})
                return
            if not isinstance(arg, dict):
                self._json(400, {"error": "want a JSON object"})
                return
        try:
            if self.command == "GET" and path == "/_twin/fields":
                self._json(200, {"fields": owner.fields()})
            elif self.command == "POST" and path == "/_twin/fields":
                for k, v in arg.items():
                    owner.set_field(k, v)
                self._json(200, {"fields": owner.fields()})
            elif self.command == "POST" and path == "/_twin/fall":
                owner.fall(
                    float(arg.get("seconds", 0)),
                    to=int(arg.get("to", 0)),
                    names=tuple(arg.get("fields", FALLING_FIELDS)),
                )
                self._json(200, {"fields": owner.fields()})
            elif self.command == "GET" and path == "/_twin/cdn":
                self._json(200, {"state": owner.cdn_state(), "forced": owner.cdn_forced(), "history": owner.cdn_history()})
            elif self.command == "POST" and path == "/_twin/configure":
                owner.configure(**arg)
                self._json(200, {"ok": True})
            else:
                self._json(404, {"error": "no control endpoint %s %s" % (self.command, path)})
        except (ValueError, TypeError) as e:
            self._json(400, {"error": str(e)})

    def _send(self, status, body, ctype, head):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head):
        owner = self.server.owner
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path != STAT_PATH or query.get("action") != ["stat"]:
            owner._record(self.path, 404)
            self._send(404, b"Not Found\n", "text/plain", head)
            return
        ready, state = owner._state_now()
        if not ready and state == "hang":
            owner._record(self.path, 0)
            owner._stopping.wait(owner.hang_ms / 1000.0)
            self.close_connection = True
            return
        if not ready and state == "503":
            owner._record(self.path, 503)
            body = b"Service Unavailable: Web Call Server is starting\n"
            self._send(503, body, "text/plain", head)
            return
        if not ready and state == "empty":
            owner._record(self.path, 200)
            self._send(200, b"<html><body>Starting...</body></html>\n", "text/html", head)
            return
        body, ctype = owner.render(json_format=query.get("format") == ["json"])
        owner._record(self.path, 200)
        self._send(200, body, ctype, head)


class StatsServer:
    """The WCS stat page on 127.0.0.1 (port 0: a free port).

    Readiness: the clock starts at start(), and again whenever restart_clock()
    is called or restart_file (when given) changes (wcs_service.py rewrites it
    on every restart).  Then, by mode:
      ready   not ready for delay_ms, then ready
      never   never ready
      flap    not ready for delay_ms, then ready and not ready in turns of flap_ms
    While not ready, by not_ready:
      503     HTTP 503
      refuse  the port is bound but not listening: connection refused
      empty   HTTP 200 with an HTML page and no name=value line
      hang    the request is held hang_ms (default 30 s), then the connection closes
    Fields: DEFAULT_GROUPS, changed with set_field()/remove_field(), or by
    fields_file (a JSON object name -> value, null removes; re-read when it
    changes).  style "html" wraps the lines in an HTML page with <br> ends.
    Counters can fall over time: ramp(name, start, end, seconds), fall(seconds).

    The WCS REST API on the same port (wcs.md sections 6 and 7), while ready:
      POST /rest-api/cdn/enforce_node_state  {"state": S} forces S; an empty
           body (Content-Length: 0) clears it; no Content-Length: 411; every
           call recorded (cdn_history()); configure(rest_status=N) answers N
      POST /rest-api/cdn/show_node_state     {"processingState": ...}
    Test control (header "X-Twin-Control: 1"):
      GET  /_twin/fields   POST /_twin/fields {name: value|null}
      POST /_twin/fall     {"seconds", "to"?, "fields"?}   counters fall over time
      GET  /_twin/cdn      {"state", "forced", "history"}
      POST /_twin/configure {delay_ms, mode, not_ready, rest_status, ...}
    """

    def __init__(
        self,
        port=0,
        *,
        host="127.0.0.1",
        delay_ms=0,
        mode="ready",
        not_ready="503",
        flap_ms=500,
        hang_ms=30000,
        style="text",
        fields=None,
        restart_file=None,
        fields_file=None,
        verbose=False,
        ssl_context=None,
    ):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("wcs stats: refusing to bind %r: loopback only" % host)
        if mode not in MODES:
            raise ValueError("mode must be one of %s" % ", ".join(MODES))
        if not_ready not in NOT_READY:
            raise ValueError("not_ready must be one of %s" % ", ".join(NOT_READY))
        if style not in STYLES:
            raise ValueError("style must be one of %s" % ", ".join(STYLES))
        self.host = host
        self._port = port
        self.delay_ms = delay_ms
        self.mode = mode
        self.not_ready = not_ready
        self.flap_ms = flap_ms
        self.hang_ms = hang_ms
        self.style = style
        self.restart_file = restart_file
        self.fields_file = fields_file
        self.verbose = verbose
        self.ssl_context = ssl_context  # an ssl.SSLContext: the page speaks https
        self._lock = threading.RLock()
        self._groups = [(g, dict(items)) for g, items in DEFAULT_GROUPS]
        self._extra = {}
        self._ramps = {}
        self._cdn_forced = None
        self._cdn_history = []
        self.rest_status = 200
        for k, v in (fields or {}).items():
            self.set_field(k, v)
        self._clock = None
        self._clock_starts = 0
        self._restart_sig = None
        self._fields_sig = None
        self._log = []
        self._server = None
        self._thread = None
        self._listening = False
        self._stopping = threading.Event()
        self._watcher = None

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        if self._watcher is not None:
            raise RuntimeError("stats server already started")
        self._stopping.clear()
        self._restart_sig = self._file_sig(self.restart_file)
        self._poll_fields_file()
        self.restart_clock()
        self._bind()
        self._sync_listener()
        self._watcher = threading.Thread(target=self._watch, name="wcs-stats-watch", daemon=True)
        self._watcher.start()
        return self

    def stop(self):
        if self._watcher is None:
            return
        self._stopping.set()
        self._watcher.join(timeout=5)
        self._watcher = None
        with self._lock:
            self._close_listener()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._port

    @property
    def url(self):
        return "http://127.0.0.1:%d/?action=stat" % self._port

    # -- control -------------------------------------------------------------

    def restart_clock(self):
        """As after a WCS restart: not ready again, for delay_ms."""
        with self._lock:
            self._clock = time.monotonic()
            self._clock_starts += 1
        if self._watcher is not None:
            self._sync_listener()

    @property
    def clock_started(self):
        """time.monotonic() of the last (re)start of the readiness clock."""
        return self._clock

    @property
    def clock_starts(self):
        """How often the readiness clock was (re)started (start() counts)."""
        return self._clock_starts

    def configure(self, **kw):
        """Changes delay_ms, mode, not_ready, flap_ms, hang_ms or style."""
        with self._lock:
            for k, v in kw.items():
                if k not in ("delay_ms", "mode", "not_ready", "flap_ms", "hang_ms", "style", "rest_status"):
                    raise ValueError("unknown setting %r" % k)
                if k == "mode" and v not in MODES or k == "not_ready" and v not in NOT_READY:
                    raise ValueError("bad %s %r" % (k, v))
                if k == "style" and v not in STYLES:
                    raise ValueError("bad style %r" % v)
                setattr(self, k, v)
        if self._watcher is not None:
            self._sync_listener()

    def set_field(self, name, value):
        """Sets a field (value str/int; None removes it).  A name not in
        DEFAULT_GROUPS goes to an "other_stats" group at the end."""
        if value is None:
            return self.remove_field(name)
        if not name or any(c in name for c in "=\n\r<>"):
            raise ValueError("bad field name %r" % name)
        value = str(value)
        if "\n" in value or "\r" in value:
            raise ValueError("bad field value %r" % value)
        with self._lock:
            self._ramps.pop(name, None)
            for _, items in self._groups:
                if name in items:
                    items[name] = value
                    return
            self._extra[name] = value

    def ramp(self, name, start, end, seconds):
        """The field goes from start to end in a straight line over seconds
        (integers on the page; end from then on).  set_field() stops it."""
        if seconds < 0:
            raise ValueError("ramp seconds must be >= 0")
        self.set_field(name, start)
        with self._lock:
            self._ramps[name] = (time.monotonic(), int(start), int(end), float(seconds))

    def fall(self, seconds, *, to=0, names=FALLING_FIELDS):
        """The named counters fall from their current values to `to` over seconds."""
        now = self.fields()
        for n in names:
            self.ramp(n, int(now.get(n, "0")), to, seconds)

    def _apply_ramps(self):
        with self._lock:
            now = time.monotonic()
            for name, (t0, a, b, dur) in list(self._ramps.items()):
                f = 1.0 if dur <= 0 else min(1.0, (now - t0) / dur)
                v = str(int(round(a + (b - a) * f)))
                for _, items in self._groups:
                    if name in items:
                        items[name] = v
                        break
                else:
                    self._extra[name] = v
                if f >= 1.0:
                    del self._ramps[name]

    # -- CDN state (REST /cdn/enforce_node_state) ------------------------------

    def _enforce(self, body, headers):
        """(status, reply) for POST /rest-api/cdn/enforce_node_state; records it.
        A body {"state": S} forces S; an empty body clears the forced state."""
        rec = {
            "time": time.time(),
            "body": body.decode("utf-8", "replace"),
            "content_length": headers.get("Content-Length"),
            "content_type": headers.get("Content-Type"),
        }
        if body.strip():
            try:
                doc = json.loads(body.decode())
            except ValueError:
                doc = None
            state = doc.get("state") if isinstance(doc, dict) else None
            if state not in CDN_STATES:
                rec["status"] = 400
                with self._lock:
                    self._cdn_history.append(rec)
                return 400, {"error": "want {\"state\": one of %s}" % ", ".join(CDN_STATES)}
        else:
            state = None
        rec["status"] = 200
        rec["state"] = state
        with self._lock:
            self._cdn_forced = state
            self._cdn_history.append(rec)
        return 200, None

    def cdn_forced(self):
        """The forced CDN state, or None."""
        with self._lock:
            return self._cdn_forced

    def cdn_state(self):
        """This node's processing state as WCS would report it (a forced state wins)."""
        return self.cdn_forced() or "NEW_STREAMS_ALLOWED"

    def cdn_history(self):
        """Every enforce_node_state call: {time, body, content_length, content_type, status, state}."""
        with self._lock:
            return [dict(r) for r in self._cdn_history]

    def remove_field(self, name):
        with self._lock:
            self._ramps.pop(name, None)
            for _, items in self._groups:
                items.pop(name, None)
            self._extra.pop(name, None)

    def fields(self):
        """name -> value of every field on the page."""
        self._apply_ramps()
        with self._lock:
            out = {}
            for _, items in self._groups:
                out.update(items)
            out.update(self._extra)
            return out

    def is_ready(self):
        return self._state_now()[0]

    def requests(self):
        """[(monotonic time, path, status)] of every stat request (status 0: held)."""
        with self._lock:
            return list(self._log)

    def clear_requests(self):
        with self._lock:
            self._log = []

    # -- page ------------------------------------------------------------------

    def render(self, json_format=False):
        """(body bytes, content type) of the page as it is now."""
        self._apply_ramps()
        with self._lock:
            groups = [(g, dict(items)) for g, items in self._groups]
            if self._extra:
                groups.append(("other_stats", dict(self._extra)))
            style = self.style
        if json_format:
            doc = json.dumps({g: items for g, items in groups}, indent=1) + "\n"
            return doc.encode(), "application/json"
        lines = []
        for g, items in groups:
            lines.append("-----%s-----" % g)
            lines.extend("%s=%s" % kv for kv in items.items())
        if style == "html":
            body = (
                "<html><head><title>Web Call Server statistics</title></head><body>\n"
                + "".join("%s<br>\n" % line for line in lines)
                + "</body></html>\n"
            )
            return body.encode(), "text/html"
        return ("\n".join(lines) + "\n").encode(), "text/plain"

    # -- internals ---------------------------------------------------------------

    def _record(self, path, status):
        with self._lock:
            self._log.append((time.monotonic(), path, status))

    def _state_now(self):
        """(ready, how-not-ready) now, after looking at the watched files."""
        self._poll_files()
        with self._lock:
            elapsed_ms = (time.monotonic() - self._clock) * 1000.0
            if self.mode == "never" or elapsed_ms < self.delay_ms:
                ready = False
            elif self.mode == "ready":
                ready = True
            else:
                ready = int((elapsed_ms - self.delay_ms) // max(1, self.flap_ms)) % 2 == 0
            return ready, self.not_ready

    @staticmethod
    def _file_sig(path):
        if not path:
            return None
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _poll_files(self):
        sig = self._file_sig(self.restart_file)
        with self._lock:
            changed = sig != self._restart_sig
            self._restart_sig = sig
            if changed and sig is not None:
                self._clock = time.monotonic()
                self._clock_starts += 1
        self._poll_fields_file()

    def _poll_fields_file(self):
        sig = self._file_sig(self.fields_file)
        if sig is None or sig == self._fields_sig:
            return
        try:
            with open(self.fields_file) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return  # half-written: read again on the next change
        self._fields_sig = sig
        if isinstance(data, dict):
            for k, v in data.items():
                self.set_field(str(k), v)

    def _watch(self):
        while not self._stopping.wait(0.01):
            self._poll_files()
            self._sync_listener()

    def _bind(self):
        server = _StatsHTTPServer((self.host, self._port), _StatsHandler, bind_and_activate=False)
        try:
            server.server_bind()
        except OSError:
            server.server_close()
            raise
        server.owner = self
        server.ssl_context = self.ssl_context
        self._server = server
        self._port = server.server_address[1]

    def _sync_listener(self):
        """In refuse mode the socket listens only while ready; otherwise always."""
        with self._lock:
            if self._stopping.is_set():
                return
            ready, how = self._state_now()
            want = ready or how != "refuse"
            if want and not self._listening:
                if self._server is None:
                    self._bind()
                self._server.server_activate()
                self._thread = threading.Thread(
                    target=self._server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name="wcs-stats",
                    daemon=True,
                )
                self._thread.start()
                self._listening = True
            elif not want and self._listening:
                # A listening socket cannot stop listening: close it, bind again (not listening).
                self._close_listener()
                self._bind()

    def _close_listener(self):
        if self._server is None:
            return
        if self._listening:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
            self._listening = False
        self._server.server_close()
        self._server = None


# ---------------------------------------------------------------------------
# CLI


def _field_arg(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError("want NAME=VALUE, got %r" % text)
    k, v = text.split("=", 1)
    return k, v


def _cmd_stats(a):
    s = StatsServer(
        a.port,
        delay_ms=a.delay_ms,
        mode=a.mode,
        not_ready=a.not_ready,
        flap_ms=a.flap_ms,
        style=a.style,
        fields=dict(a.field or []),
        restart_file=a.restart_file,
        fields_file=a.fields_file,
        verbose=a.verbose,
    )
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    s.start()
    sys.stdout.write("WCS_STATS_PORT=%d\nWCS_STATS_URL=%s\n" % (s.port, s.url))
    sys.stdout.flush()
    try:
        while not stop.wait(0.2):
            pass
    finally:
        s.stop()
    return 0


def _print_env(d):
    for k, v in d.items():
        sys.stdout.write("%s=%s\n" % (k, shlex.quote(str(v))))


def main(argv=None):
    p = argparse.ArgumentParser(description="Fake Flashphoner WCS for the wcs-agent tests.")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("stats", help="serve the stat page")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--delay-ms", type=int, default=0)
    s.add_argument("--mode", choices=MODES, default="ready")
    s.add_argument("--not-ready", choices=NOT_READY, default="503")
    s.add_argument("--flap-ms", type=int, default=500)
    s.add_argument("--style", choices=STYLES, default="text")
    s.add_argument("--restart-file")
    s.add_argument("--fields-file")
    s.add_argument("--field", action="append", type=_field_arg, help="NAME=VALUE (repeatable)")
    s.add_argument("--verbose", action="store_true")

    t = sub.add_parser("install-tree", help="create an installed WCS under a fake root")
    t.add_argument("root")
    t.add_argument("--version", default=DEFAULT_VERSION)

    b = sub.add_parser("tarball", help="write a fake installer tarball")
    b.add_argument("path")
    b.add_argument("--version", default=DEFAULT_VERSION)
    b.add_argument("--install-root")

    e = sub.add_parser("evil-tarball", help="write an installer tarball with a hostile member")
    e.add_argument("path")
    e.add_argument("--kind", choices=EVIL_KINDS, required=True)
    e.add_argument("--target")
    e.add_argument("--version", default=DEFAULT_VERSION)

    a = p.parse_args(argv)
    if a.cmd == "stats":
        return _cmd_stats(a)
    if a.cmd == "install-tree":
        _print_env(make_install_tree(a.root, a.version).env())
        return 0
    if a.cmd == "tarball":
        info = make_installer_tarball(a.path, a.version, a.install_root)
        _print_env({"WCS_TARBALL": info["path"], "WCS_TARBALL_TOP": info["top"],
                    "WCS_TARBALL_VERSION": info["version"], "WCS_TARBALL_SHA256": info["sha256"]})
        return 0
    info = make_evil_tarball(a.path, a.kind, a.version, a.target)
    _print_env({"WCS_TARBALL": info["path"], "WCS_TARBALL_MEMBER": info["member"],
                "WCS_TARBALL_SHA256": info["sha256"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
