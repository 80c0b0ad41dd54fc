#!/usr/bin/env python3
"""A fake `systemctl` for the WCS service, for the wcs-agent tests (stdlib only).

    wcs_service.py --state-dir D [--service NAME] ACTION [--quiet] [UNIT...]

ACTION is one of restart, start, stop, is-active, status, enable, disable,
daemon-reload.  The argv after the state dir is what systemctl would get, so
the agent's commands only swap the program:

    wcs.restart_command = /path/systemctl restart {service}
    wcs.status_command  = /path/systemctl is-active --quiet {service}
    wcs.enable_command  = /path/systemctl enable --quiet {service}

where /path/systemctl is a wrapper written by make_service_scripts() (the
agent runs children with a minimal environment, so the wrapper holds the
absolute paths of this Python and this script).

State, all in the state dir D:

    calls.jsonl     one JSON object per call: {"action", "args", "time"
                    (epoch seconds), "mono" (CLOCK_MONOTONIC seconds, the same
                    clock as time.monotonic() in any process), "pid", "rc"}
    restarts        the number of restarts and starts, as text
    active          exists while the service "runs" (restart/start create it,
                    stop removes it)
    enabled         exists once enabled (disable removes it)
    restart.stamp   rewritten (epoch and monotonic time) on every restart and
                    start: a StatsServer(restart_file=D/restart.stamp) restarts
                    its readiness clock when it changes, so "ready N ms after
                    the restart" can be tested
    fail-ACTION     when present, ACTION prints the file's text (or a
                    systemctl-like message when empty) to stderr and exits 1,
                    changing nothing
    sleep-ACTION    when present, ACTION first sleeps that many milliseconds
                    (timeout tests)

Exit codes as systemctl: is-active 0 (active) or 3 (inactive), printing
"active"/"inactive" unless --quiet; status 0 or 3; others 0, or 1 on an
injected failure; 2 for a usage error.

Importable:

    from wcs_service import ServiceState, make_service_scripts
    st = ServiceState(D); st.calls(); st.restart_count(); st.fail("restart")
    cmds = make_service_scripts(D)   # {"restart_command": ..., ...}
"""

import argparse
import json
import os
import shlex
import sys
import time

ACTIONS = ("restart", "start", "stop", "is-active", "status", "enable", "disable", "daemon-reload")
DEFAULT_SERVICE = "webcallserver"
HERE = os.path.dirname(os.path.abspath(__file__))


def _write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ServiceState:
    """Reads and steers the state dir of the fake service."""

    def __init__(self, state_dir):
        self.dir = os.path.abspath(state_dir)
        os.makedirs(self.dir, exist_ok=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def restart_file(self):
        """The file a StatsServer watches (restart_file=...)."""
        return self.path("restart.stamp")

    def calls(self, action=None):
        """Every recorded call (dicts, oldest first), optionally of one action."""
        out = []
        try:
            with open(self.path("calls.jsonl")) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        rec = json.loads(line)
                        if action is None or rec["action"] == action:
                            out.append(rec)
        except FileNotFoundError:
            pass
        return out

    def restart_count(self):
        try:
            with open(self.path("restarts")) as f:
                return int(f.read().strip() or "0")
        except FileNotFoundError:
            return 0

    def restart_times(self):
        """Monotonic times (seconds) of the restarts and starts, oldest first."""
        return [
            c["mono"] for c in self.calls() if c["action"] in ("restart", "start") and c["rc"] == 0
        ]

    def is_active(self):
        return os.path.exists(self.path("active"))

    def is_enabled(self):
        return os.path.exists(self.path("enabled"))

    def set_active(self, active=True):
        if active:
            _write_atomic(self.path("active"), "1\n")
        else:
            try:
                os.unlink(self.path("active"))
            except FileNotFoundError:
                pass

    def fail(self, action, message=""):
        """Makes ACTION fail (exit 1) until clear_fail()."""
        _check_action(action)
        _write_atomic(self.path("fail-" + action), message)

    def clear_fail(self, action):
        try:
            os.unlink(self.path("fail-" + action))
        except FileNotFoundError:
            pass

    def delay(self, action, ms):
        """Makes ACTION sleep ms milliseconds first (None: no delay)."""
        _check_action(action)
        p = self.path("sleep-" + action)
        if ms is None:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        else:
            _write_atomic(p, "%d\n" % int(ms))

    def reset(self):
        """Forgets calls, counts, failures and delays (keeps active/enabled)."""
        for name in os.listdir(self.dir):
            if name in ("calls.jsonl", "restarts") or name.startswith(("fail-", "sleep-")):
                os.unlink(self.path(name))


def _check_action(action):
    if action not in ACTIONS:
        raise ValueError("unknown action %r (want one of %s)" % (action, ", ".join(ACTIONS)))


def make_service_scripts(state_dir, bin_dir=None, python=None):
    """Writes BIN/systemctl (default BIN = STATE_DIR/bin), a #!/bin/sh wrapper
    that runs this script with the absolute path of python (default: this
    interpreter) and --state-dir STATE_DIR, and returns the agent's command
    strings: restart_command, status_command, enable_command (with the
    {service} placeholder) and the wrapper's path as "systemctl"."""
    state_dir = os.path.abspath(state_dir)
    bin_dir = os.path.abspath(bin_dir or os.path.join(state_dir, "bin"))
    os.makedirs(state_dir, exist_ok=True)
    os.makedirs(bin_dir, exist_ok=True)
    python = os.path.abspath(python or sys.executable)
    script = os.path.join(HERE, "wcs_service.py")
    wrapper = os.path.join(bin_dir, "systemctl")
    for p in (state_dir, bin_dir, python, script):
        if any(c.isspace() for c in p):
            # The agent splits commands on blanks, without quoting.
            raise ValueError("path with a blank cannot go into an agent command: %r" % p)
    body = "#!/bin/sh\n# fake systemctl (tests/sim/wcs_service.py)\n"
    body += "exec %s %s --state-dir %s \"$@\"\n" % (
        shlex.quote(python),
        shlex.quote(script),
        shlex.quote(state_dir),
    )
    _write_atomic(wrapper, body)
    os.chmod(wrapper, 0o755)
    return {
        "systemctl": wrapper,
        "restart_command": "%s restart {service}" % wrapper,
        "status_command": "%s is-active --quiet {service}" % wrapper,
        "enable_command": "%s enable --quiet {service}" % wrapper,
    }


def _append_call(st, rec):
    line = json.dumps(rec, sort_keys=True) + "\n"
    # O_APPEND writes of one small line are atomic enough for concurrent callers.
    fd = os.open(st.path("calls.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def run(state_dir, action, args, service=DEFAULT_SERVICE, out=sys.stdout, err=sys.stderr):
    """Performs one call; returns the exit code."""
    st = ServiceState(state_dir)
    quiet = "--quiet" in args or "-q" in args
    units = [a for a in args if not a.startswith("-")]
    unit = units[0] if units else service
    t_wall, t_mono = time.time(), time.monotonic()

    try:
        with open(st.path("sleep-" + action)) as f:
            time.sleep(int(f.read().strip() or "0") / 1000.0)
    except FileNotFoundError:
        pass

    rc = 0
    fail_path = st.path("fail-" + action)
    if os.path.exists(fail_path):
        with open(fail_path) as f:
            msg = f.read().strip()
        if not msg:
            msg = (
                "Job for %s.service failed because the control process exited with error code.\n"
                "See \"systemctl status %s.service\" and \"journalctl -xeu %s.service\" "
                "for details."
                % (unit, unit, unit)
            )
        err.write(msg + "\n")
        rc = 1
    elif action in ("restart", "start"):
        st.set_active(True)
        n = st.restart_count() + 1
        _write_atomic(st.path("restarts"), "%d\n" % n)
        _write_atomic(st.restart_file, "%.6f %.6f %d\n" % (t_wall, t_mono, n))
    elif action == "stop":
        st.set_active(False)
    elif action in ("is-active", "status"):
        active = st.is_active()
        if action == "status":
            out.write("* %s.service - Flashphoner Web Call Server (fake)\n     Active: %s\n" % (
                unit, "active (running)" if active else "inactive (dead)"))
        elif not quiet:
            out.write("active\n" if active else "inactive\n")
        rc = 0 if active else 3
    elif action == "enable":
        if not st.is_enabled() and not quiet:
            err.write(
                "Created symlink /etc/systemd/system/multi-user.target.wants/%s.service.\n" % unit
            )
        _write_atomic(st.path("enabled"), "1\n")
    elif action == "disable":
        try:
            os.unlink(st.path("enabled"))
        except FileNotFoundError:
            pass
    # daemon-reload: nothing to do

    _append_call(
        st,
        {
            "action": action,
            "args": list(args),
            "time": t_wall,
            "mono": t_mono,
            "pid": os.getpid(),
            "rc": rc,
        },
    )
    return rc


def main(argv=None):
    p = argparse.ArgumentParser(description="Fake systemctl for the WCS service (tests).")
    p.add_argument("--state-dir", required=True, help="folder holding the fake service's state")
    p.add_argument("--service", default=DEFAULT_SERVICE, help="unit name used when none is given")
    p.add_argument("action", choices=ACTIONS)
    p.add_argument(
        "args", nargs=argparse.REMAINDER, help="--quiet and unit names, as systemctl takes them"
    )
    a = p.parse_args(argv)
    return run(a.state_dir, a.action, a.args, service=a.service)


if __name__ == "__main__":
    sys.exit(main())
