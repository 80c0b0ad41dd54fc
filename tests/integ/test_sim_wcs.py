"""Tests of the fake WCS itself (tests/sim/wcs.py, wcs_service.py); no agent.

Covers the install tree (layout, files, activation.sh records, setenv.sh
reading of wcs-core.properties), the fake systemctl (records, counts,
failure and delay injection, wrappers usable with an empty environment),
the stats server (delays, never ready, refused, empty page, hang, flapping,
fields, watched files, HTML/JSON styles, CLI) and the installer tarballs
(fresh install, "already installed", update keeping config, bad use,
hostile members).
"""

import http.client
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_DIR = os.path.normpath(os.path.join(HERE, "..", "sim"))
if SIM_DIR not in sys.path:
    sys.path.insert(0, SIM_DIR)

import wcs  # noqa: E402
import wcs_service  # noqa: E402

MIN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}


def get(port, path="/?action=stat", timeout=2.0, method="GET"):
    """(status, headers dict, body bytes); raises OSError on connection errors."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def parse_page(body):
    """name -> value of the name=value lines (tags dropped, as the agent reads it)."""
    text = body.decode()
    out = {}
    for raw in text.replace("<br>", "\n").splitlines():
        line = raw.strip()
        if "<" in line or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def wait_until(pred, timeout=5.0, step=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def status_or_error(port, timeout=1.0):
    try:
        return get(port, timeout=timeout)[0]
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test_sim_wcs.")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)


class InstallTreeTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.t = wcs.make_install_tree(self.path("root"), "5.2.1234")

    def test_layout(self):
        t = self.t
        self.assertTrue(os.path.islink(t.home))
        self.assertEqual(os.readlink(t.home), "FlashphonerWebCallServer-5.2.1234")
        self.assertEqual(os.path.realpath(t.home), os.path.realpath(t.real_home))
        for d in ("bin", "conf", "lib/custom", "lib/so", "web", "tools", "client", "client2",
                  "logs/server_logs", "logs/client_logs", "hls", "media", "records", "report"):
            self.assertTrue(os.path.isdir(os.path.join(t.home, d)), d)
        for f in ("bin/webcallserver", "bin/setenv.sh", "bin/activation.sh"):
            self.assertTrue(os.access(os.path.join(t.home, f), os.X_OK), f)
        for f in ("conf/log4j.properties", "conf/wss.jks", "lib/wcs-core.jar", "web/index.html"):
            self.assertTrue(os.path.isfile(os.path.join(t.home, f)), f)
        with open(t.version_file) as f:
            text = f.read()
        self.assertRegex(text, r"^5\.2\.1234-[0-9a-f]{8}\n$")
        self.assertEqual(t.installed_version(), wcs.full_version("5.2.1234"))
        self.assertEqual(wcs.base_version(t.installed_version()), "5.2.1234")
        self.assertEqual(stat.S_IMODE(os.stat(t.properties).st_mode), 0o664)
        self.assertEqual(t.env()["WCS_HOME"], t.home)

    def test_versions(self):
        self.assertEqual(wcs.full_version("5.2.1234"), wcs.full_version("5.2.1234"))
        self.assertNotEqual(wcs.full_version("5.2.1234"), wcs.full_version("5.2.1235"))
        self.assertEqual(wcs.full_version("5.2.99-abc"), "5.2.99-abc")
        self.assertEqual(wcs.base_version("5.2.99-abc"), "5.2.99")

    def test_properties(self):
        p = self.t.read_properties()
        self.assertEqual(p["ip"], "198.51.100.7")
        self.assertEqual(p["ip_local"], "0.0.0.0")
        self.assertEqual(p["ws.port"], "8080")
        self.assertEqual(p["http.port"], "8081")
        self.assertEqual(p["media_port_from"], "31001")
        self.assertEqual(p["cdn_enabled"], "false")
        self.assertNotIn("cdn_point_of_entry", p)
        with open(self.t.properties) as f:
            text = f.read()
        self.assertIn("\n#cdn_point_of_entry=\n", text)
        self.assertIn("\nip =198.51.100.7\n", text)
        self.assertTrue(text.startswith("# Config flashphoner.properties\n"))
        t2 = wcs.make_install_tree(self.path("root2"), ip="203.0.113.5", ip_local="10.0.0.5")
        self.assertEqual(t2.read_properties()["ip"], "203.0.113.5")

    def test_setenv_reads_core_properties(self):
        out = subprocess.run(
            [os.path.join(self.t.bin_dir, "setenv.sh"), "--print"],
            env=MIN_ENV, capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        java = out.split("JAVA_OPTS=", 1)[1].split("\n", 1)[0].split()
        server = out.split("SERVER_OPTS=", 1)[1].split("\n", 1)[0].split()
        self.assertIn("-Xmx1024M", java)
        self.assertIn("-XX:+UseConcMarkSweepGC", java)
        self.assertNotIn("-Xcheck:jni", java)  # commented out
        self.assertIn("-DsessionDebugEnabled=false", server)
        self.assertNotIn("-Xmx1024M", server)
        self.assertNotIn("-DsessionDebugEnabled=false", java)

    def run_activation(self, key, args=(), env=None, timeout=30):
        return subprocess.run(
            [self.t.activation_cmd] + list(args), input=key, env=env or MIN_ENV,
            capture_output=True, timeout=timeout,
        )

    def test_activation_records(self):
        self.assertIsNone(self.t.activation())
        r = self.run_activation(b"LIC-1234-SECRET", ["--node", "edge-1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"Activating licence LIC-1234-SECRET", r.stdout)
        self.assertIn(b"Licence activated", r.stdout)
        rec = self.t.activation()
        self.assertEqual(rec["count"], 1)
        self.assertEqual(rec["stdin"], b"LIC-1234-SECRET")
        self.assertEqual(rec["licence"], b"LIC-1234-SECRET\n")
        self.assertEqual(rec["argv"], [self.t.activation_cmd, "--node", "edge-1"])
        self.assertIn(b"--node", rec["cmdline"])
        self.assertEqual(rec["cmdline"][-2:], [b"--node", b"edge-1"])
        self.assertEqual(rec["environ"], {k.encode(): v.encode() for k, v in MIN_ENV.items()})

    def test_activation_invalid_and_slow(self):
        r = self.run_activation(b"INVALID-KEY-1")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"ERROR: licence INVALID-KEY-1 is not valid", r.stderr)
        rec = self.t.activation()
        self.assertEqual(rec["count"], 1)
        self.assertIsNone(rec["licence"])
        with open(os.path.join(self.t.activation_dir, "sleep-ms"), "w") as f:
            f.write("300\n")
        t0 = time.monotonic()
        r = self.run_activation(b"GOOD")
        self.assertEqual(r.returncode, 0)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        self.assertEqual(self.t.activation()["count"], 2)

    def test_webcallserver_stub(self):
        wcsbin = os.path.join(self.t.bin_dir, "webcallserver")
        def run(*a):
            return subprocess.run([wcsbin] + list(a), env=MIN_ENV, capture_output=True,
                                  timeout=30).returncode

        self.assertEqual(run("status"), 3)
        self.assertEqual(run("restart"), 0)
        self.assertEqual(run("status"), 0)
        st = self.t.service()
        self.assertTrue(st.is_active())
        self.assertEqual(st.restart_count(), 1)
        self.assertEqual(run("stop"), 0)
        self.assertFalse(st.is_active())
        self.assertEqual(run("bogus"), 1)


class ServiceTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.state = self.path("svc")
        self.st = wcs_service.ServiceState(self.state)
        self.script = os.path.join(SIM_DIR, "wcs_service.py")

    def cli(self, *args, env=None):
        return subprocess.run(
            [sys.executable, self.script, "--state-dir", self.state] + list(args),
            env=env or MIN_ENV, capture_output=True, text=True, timeout=30,
        )

    def test_actions_and_records(self):
        r = self.cli("is-active", "webcallserver")
        self.assertEqual((r.returncode, r.stdout), (3, "inactive\n"))
        r = self.cli("is-active", "--quiet", "webcallserver")
        self.assertEqual((r.returncode, r.stdout), (3, ""))
        t0 = time.monotonic()
        self.assertEqual(self.cli("restart", "webcallserver").returncode, 0)
        self.assertEqual(self.cli("restart", "webcallserver").returncode, 0)
        t1 = time.monotonic()
        r = self.cli("is-active", "--quiet", "webcallserver")
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        self.assertEqual(self.st.restart_count(), 2)
        times = self.st.restart_times()
        self.assertEqual(len(times), 2)
        self.assertTrue(t0 <= times[0] <= times[1] <= t1, (t0, times, t1))
        with open(self.st.restart_file) as f:
            self.assertTrue(f.read().strip().endswith(" 2"))
        r = self.cli("enable", "--quiet", "webcallserver")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertTrue(self.st.is_enabled())
        self.assertEqual(self.cli("stop", "webcallserver").returncode, 0)
        self.assertFalse(self.st.is_active())
        self.assertEqual(self.cli("status").returncode, 3)
        self.assertEqual(self.cli("disable", "webcallserver").returncode, 0)
        self.assertFalse(self.st.is_enabled())
        calls = self.st.calls()
        self.assertEqual([c["action"] for c in calls],
                         ["is-active", "is-active", "restart", "restart", "is-active", "enable",
                          "stop", "status", "disable"])
        self.assertEqual(calls[2]["args"], ["webcallserver"])
        self.assertEqual([c["rc"] for c in calls[:2]], [3, 3])
        self.assertEqual(len(self.st.calls("restart")), 2)
        self.assertEqual(self.cli("bogus").returncode, 2)

    def test_fail_and_delay(self):
        self.st.fail("restart")
        r = self.cli("restart", "webcallserver")
        self.assertEqual(r.returncode, 1)
        self.assertIn("Job for webcallserver.service failed", r.stderr)
        self.assertEqual(self.st.restart_count(), 0)
        self.assertFalse(self.st.is_active())
        self.assertFalse(os.path.exists(self.st.restart_file))
        self.st.fail("restart", "custom failure text")
        self.assertEqual(self.cli("restart").stderr, "custom failure text\n")
        self.st.clear_fail("restart")
        self.st.delay("restart", 300)
        t0 = time.monotonic()
        self.assertEqual(self.cli("restart").returncode, 0)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        self.st.delay("restart", None)
        self.assertEqual(self.st.restart_count(), 1)
        self.st.reset()
        self.assertEqual(self.st.calls(), [])
        self.assertEqual(self.st.restart_count(), 0)
        self.assertTrue(self.st.is_active())
        with self.assertRaises(ValueError):
            self.st.fail("explode")

    def test_wrappers_with_empty_environment(self):
        cmds = wcs_service.make_service_scripts(self.state)
        self.assertTrue(os.access(cmds["systemctl"], os.X_OK))
        argv = cmds["restart_command"].replace("{service}", "webcallserver").split()
        self.assertEqual(subprocess.run(argv, env={}, timeout=30).returncode, 0)
        argv = cmds["status_command"].replace("{service}", "webcallserver").split()
        r = subprocess.run(argv, env={}, capture_output=True, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        argv = cmds["enable_command"].replace("{service}", "webcallserver").split()
        self.assertEqual(subprocess.run(argv, env={}, timeout=30).returncode, 0)
        self.assertEqual(self.st.restart_count(), 1)
        self.assertTrue(self.st.is_enabled())
        with self.assertRaises(ValueError):
            wcs_service.make_service_scripts(self.path("with space"))


class StatsServerTest(TempDirTest):
    def start(self, **kw):
        s = wcs.StatsServer(**kw).start()
        self.addCleanup(s.stop)
        return s

    def test_ready_page(self):
        s = self.start()
        self.assertTrue(s.url.startswith("http://127.0.0.1:%d/?action=stat" % s.port))
        status, headers, body = get(s.port)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain")
        lines = body.decode().splitlines()
        self.assertEqual(lines[0], "-----connections_stats-----")
        self.assertIn("-----port_stats-----", lines)
        fields = parse_page(body)
        for name in ("connections", "connections_websocket", "ports_media_free", "ports_media_busy",
                     "ports_wcs_agents_free", "ports_rest_api_pending", "streams_webrtc_in",
                     "streams_viewers", "core_threads", "core_java_threads_blocked",
                     "core_java_freePhysicalMemorySize"):
            self.assertIn(name, fields)
        self.assertEqual(fields["ports_media_free"], "499")
        self.assertEqual(fields, s.fields())
        self.assertEqual(get(s.port, method="HEAD")[0], 200)
        self.assertEqual(get(s.port, "/")[0], 404)
        self.assertEqual(get(s.port, "/?action=other")[0], 404)
        self.assertEqual(get(s.port, "/rest-api/cdn/show_nodes")[0], 404)
        self.assertEqual([r[2] for r in s.requests()], [200, 200, 404, 404, 404])

    def test_delay_then_ready(self):
        s = self.start(delay_ms=400)
        t0 = s.clock_started
        self.assertEqual(get(s.port)[0], 503)
        self.assertFalse(s.is_ready())
        self.assertTrue(wait_until(lambda: status_or_error(s.port) == 200, 5))
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)
        self.assertTrue(s.is_ready())

    def test_never_ready(self):
        s = self.start(mode="never")
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            self.assertEqual(get(s.port)[0], 503)
            time.sleep(0.05)

    def test_refused_until_ready(self):
        s = self.start(delay_ms=300, not_ready="refuse")
        self.assertEqual(status_or_error(s.port), "refused")
        self.assertTrue(wait_until(lambda: status_or_error(s.port) == 200, 5))
        port = s.port
        s.restart_clock()
        self.assertEqual(status_or_error(port), "refused")
        self.assertTrue(wait_until(lambda: status_or_error(port) == 200, 5))
        self.assertEqual(s.port, port)
        self.assertEqual(s.clock_starts, 2)

    def test_empty_page(self):
        s = self.start(mode="never", not_ready="empty")
        status, headers, body = get(s.port)
        self.assertEqual(status, 200)
        self.assertEqual(parse_page(body), {})

    def test_hang(self):
        s = self.start(mode="never", not_ready="hang", hang_ms=5000)
        self.assertEqual(status_or_error(s.port, timeout=0.3), "timeout")
        t0 = time.monotonic()
        s.stop()
        self.assertLess(time.monotonic() - t0, 3)

    def test_flap(self):
        s = self.start(mode="flap", delay_ms=100, flap_ms=100)
        seen = []
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            seen.append(get(s.port)[0])
            time.sleep(0.02)
        self.assertEqual(seen[0], 503)
        self.assertIn(200, seen)
        later = seen[seen.index(200):]
        self.assertIn(503, later)
        self.assertIn(200, later[later.index(503):])

    def test_fields(self):
        s = self.start(fields={"ports_media_free": 0, "core_version": "5.2.1234"})
        fields = parse_page(get(s.port)[2])
        self.assertEqual(fields["ports_media_free"], "0")
        self.assertEqual(fields["core_version"], "5.2.1234")
        self.assertTrue(get(s.port)[2].decode().rstrip().split("\n")[-2] == "-----other_stats-----")
        s.set_field("ports_media_free", 12)
        s.remove_field("core_threads")
        s.set_field("core_version", None)
        fields = parse_page(get(s.port)[2])
        self.assertEqual(fields["ports_media_free"], "12")
        self.assertNotIn("core_threads", fields)
        self.assertNotIn("core_version", fields)
        for bad in ("a=b", "a\nb", ""):
            with self.assertRaises(ValueError):
                s.set_field(bad, 1)
        with self.assertRaises(ValueError):
            s.set_field("x", "1\n2")

    def test_fields_file(self):
        ff = self.path("fields.json")
        with open(ff, "w") as f:
            json.dump({"ports_media_free": 3}, f)
        s = self.start(fields_file=ff)
        self.assertEqual(parse_page(get(s.port)[2])["ports_media_free"], "3")
        with open(ff + ".tmp", "w") as f:
            json.dump({"ports_media_free": 0, "streams_viewers": None, "extra": "x"}, f)
        os.replace(ff + ".tmp", ff)
        self.assertTrue(
            wait_until(lambda: parse_page(get(s.port)[2]).get("ports_media_free") == "0", 2))
        fields = parse_page(get(s.port)[2])
        self.assertNotIn("streams_viewers", fields)
        self.assertEqual(fields["extra"], "x")

    def test_restart_file_from_service(self):
        st = wcs_service.ServiceState(self.path("svc"))
        s = self.start(delay_ms=300, restart_file=st.restart_file)
        self.assertTrue(wait_until(lambda: status_or_error(s.port) == 200, 5))
        self.assertEqual(s.clock_starts, 1)
        cmds = wcs_service.make_service_scripts(st.dir)
        t_call = time.monotonic()
        subprocess.run(cmds["restart_command"].replace("{service}", "webcallserver").split(),
                       env={}, check=True, timeout=30)
        t_restart = st.restart_times()[-1]
        self.assertGreaterEqual(t_restart, t_call)
        # Not ready right after the restart, ready delay_ms after it.
        self.assertEqual(status_or_error(s.port), 503)
        self.assertTrue(wait_until(lambda: status_or_error(s.port) == 200, 5, step=0.005))
        ready_after = time.monotonic() - t_restart
        self.assertGreaterEqual(ready_after, 0.3)
        self.assertLess(ready_after, 0.3 + 0.5)
        self.assertEqual(s.clock_starts, 2)

    def test_html_and_json(self):
        s = self.start(style="html", fields={"ports_media_free": 9})
        status, headers, body = get(s.port)
        self.assertEqual(headers["Content-Type"], "text/html")
        self.assertIn(b"<br>", body)
        self.assertTrue(body.startswith(b"<html>"))
        self.assertEqual(parse_page(body)["ports_media_free"], "9")
        status, headers, body = get(s.port, "/?action=stat&format=json")
        self.assertEqual(headers["Content-Type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["port_stats"]["ports_media_free"], "9")
        self.assertIn("core_stats", doc)
        s.configure(style="text", delay_ms=0)
        self.assertEqual(get(s.port)[1]["Content-Type"], "text/plain")
        with self.assertRaises(ValueError):
            s.configure(mode="sometimes")

    def test_bad_settings(self):
        with self.assertRaises(ValueError):
            wcs.StatsServer(host="0.0.0.0")
        with self.assertRaises(ValueError):
            wcs.StatsServer(mode="x")
        with self.assertRaises(ValueError):
            wcs.StatsServer(not_ready="x")
        with self.assertRaises(ValueError):
            wcs.StatsServer(style="x")

    def test_cli(self):
        p = subprocess.Popen(
            [sys.executable, os.path.join(SIM_DIR, "wcs.py"), "stats", "--delay-ms", "100",
             "--field", "ports_media_free=7"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            line = p.stdout.readline()
            self.assertTrue(line.startswith("WCS_STATS_PORT="), line)
            port = int(line.strip().split("=", 1)[1])
            url_line = p.stdout.readline()
            self.assertTrue(url_line.startswith("WCS_STATS_URL=http://127.0.0.1:%d/" % port))
            self.assertTrue(wait_until(lambda: status_or_error(port) == 200, 5))
            self.assertEqual(parse_page(get(port)[2])["ports_media_free"], "7")
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=10), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()


class TarballTest(TempDirTest):
    def unpack(self, tarball):
        dest = self.path("unpack-%d" % len(os.listdir(self.tmp)))
        os.makedirs(dest)
        with tarfile.open(tarball) as tf:
            tf.extractall(dest, filter="data")
        return dest

    def install(self, info, root=None, args=("-silent",), cwd=None):
        dest = self.unpack(info["path"])
        env = dict(MIN_ENV)
        if root is not None:
            env["WCS_SIM_ROOT"] = root
        return subprocess.run(
            ["./install.sh"] + list(args), cwd=cwd or os.path.join(dest, info["top"]), env=env,
            capture_output=True, text=True, timeout=60,
        )

    def test_structure(self):
        info = wcs.make_installer_tarball(self.path("wcs.tar.gz"), "5.2.1234")
        self.assertEqual(info["top"], "FlashphonerWebCallServer-5.2.1234")
        self.assertEqual(info["version"], wcs.full_version("5.2.1234"))
        self.assertEqual(info["sha256"], wcs.sha256_file(info["path"]))
        with tarfile.open(info["path"]) as tf:
            members = {m.name: m for m in tf.getmembers()}
            top = info["top"]
            for name in (top + "/install.sh", top + "/WCS.version", top + "/uninstall.sh",
                         top + "/server/bin/webcallserver",
                         top + "/server/conf/flashphoner.properties",
                         top + "/server/conf/wcs-core.properties", top + "/server/lib/wcs-core.jar",
                         top + "/client/examples/index.html", top + "/client2/examples/index.html",
                         top + "/scripts/systemd/webcallserver.service"):
                self.assertIn(name, members)
            self.assertEqual(members[top + "/install.sh"].mode, 0o755)
            got = tf.extractfile(top + "/WCS.version").read().decode().strip()
            self.assertEqual(got, info["version"])
            for name in members:
                self.assertTrue(name == top or name.startswith(top + "/"), name)
                self.assertNotIn("..", name.split("/"))
        # Same input, same bytes (fixed mtimes): a stable sha256 for update tests.
        again = wcs.make_installer_tarball(self.path("wcs2.tar.gz"), "5.2.1234")
        with tarfile.open(info["path"]) as a, tarfile.open(again["path"]) as b:
            self.assertEqual([m.name for m in a.getmembers()], [m.name for m in b.getmembers()])

    def test_fresh_install_and_already_installed(self):
        root = self.path("root")
        info = wcs.make_installer_tarball(self.path("wcs.tar.gz"), "5.2.1234")
        r = self.install(info, root)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Installation complete", r.stdout)
        t = wcs.WcsTree(root, "5.2.1234")
        self.assertEqual(os.readlink(t.home), "FlashphonerWebCallServer-5.2.1234")
        self.assertEqual(t.installed_version(), info["version"])
        self.assertEqual(t.read_properties()["ws.port"], "8080")
        for d in ("lib/custom", "logs/server_logs", "client", "client2"):
            self.assertTrue(os.path.isdir(os.path.join(t.home, d)), d)
        # Silent mode neither enables nor starts WCS.
        self.assertFalse(t.service().is_enabled())
        self.assertFalse(t.service().is_active())
        with open(os.path.join(root, "var", "installer", "calls.log")) as f:
            self.assertIn("version=" + info["version"], f.read())

        before = {}
        for dirpath, dirs, files in os.walk(t.real_home):
            for n in files:
                p = os.path.join(dirpath, n)
                before[p] = os.stat(p).st_mtime_ns
        r = self.install(info, root)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already installed", r.stdout)
        after = {}
        for dirpath, dirs, files in os.walk(t.real_home):
            for n in files:
                p = os.path.join(dirpath, n)
                after[p] = os.stat(p).st_mtime_ns
        self.assertEqual(before, after)

    def test_baked_root(self):
        root = self.path("baked")
        info = wcs.make_installer_tarball(self.path("wcs.tar.gz"), "5.2.1300", install_root=root)
        r = self.install(info)  # no WCS_SIM_ROOT: the agent's minimal environment
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(wcs.WcsTree(root, "5.2.1300").installed_version(), info["version"])

    def test_no_root_refused(self):
        info = wcs.make_installer_tarball(self.path("wcs.tar.gz"), "5.2.1234")
        r = self.install(info)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no install root", r.stdout)
        r = self.install(info, "/")
        self.assertEqual(r.returncode, 2)

    def test_update_keeps_config(self):
        root = self.path("root")
        old = wcs.make_install_tree(root, "5.2.1000")
        with open(old.properties, "a") as f:
            f.write("custom_key=kept\n")
        with open(old.keystore, "wb") as f:
            f.write(b"my keystore")
        with open(os.path.join(old.home, "lib", "custom", "mine.jar"), "wb") as f:
            f.write(b"custom jar")
        with open(os.path.join(old.home, "records", "r1.mp4"), "wb") as f:
            f.write(b"rec")
        os.unlink(os.path.join(old.conf_dir, "watchdog.properties"))
        old.service().set_active(True)

        info = wcs.make_installer_tarball(self.path("wcs.tar.gz"), "5.2.1234")
        r = self.install(info, root)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Update complete", r.stdout)
        new = wcs.WcsTree(root, "5.2.1234")
        self.assertEqual(os.readlink(new.home), "FlashphonerWebCallServer-5.2.1234")
        self.assertFalse(os.path.exists(old.real_home))  # moved, not copied
        self.assertEqual(new.installed_version(), info["version"])
        self.assertEqual(new.read_properties()["custom_key"], "kept")
        with open(new.keystore, "rb") as f:
            self.assertEqual(f.read(), b"my keystore")
        self.assertTrue(os.path.isfile(os.path.join(new.home, "lib", "custom", "mine.jar")))
        self.assertTrue(os.path.isfile(os.path.join(new.home, "records", "r1.mp4")))
        with open(os.path.join(new.home, "lib", "wcs-core.jar"), "rb") as f:
            self.assertIn(b"5.2.1234", f.read())
        # A missing conf file is added back; the installer stopped WCS and did not start it.
        self.assertTrue(os.path.isfile(os.path.join(new.conf_dir, "watchdog.properties")))
        self.assertFalse(new.service().is_active())
        with open(os.path.join(new.home, "logs", "update.log")) as f:
            self.assertIn("Updated from %s to %s" % (old.version, info["version"]), f.read())

    def test_bad_use(self):
        root = self.path("root")
        info = wcs.make_installer_tarball(self.path("wcs.tar.gz"), "5.2.1234")
        r = self.install(info, root, args=("--yes",))
        self.assertEqual(r.returncode, 1)
        self.assertIn("Usage", r.stdout)
        r = self.install(info, root, args=())
        self.assertEqual(r.returncode, 1)
        dest = self.unpack(info["path"])
        r = subprocess.run([os.path.join(dest, info["top"], "install.sh"), "-silent"], cwd=dest,
                           env=dict(MIN_ENV, WCS_SIM_ROOT=root), capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("run ./install.sh from the unpacked folder", r.stdout)
        self.assertFalse(os.path.exists(os.path.join(root, "usr")))
        r = self.install(info, root, args=("--silent", "--debug"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_evil_tarballs(self):
        target_dir = self.path("outside")
        os.makedirs(target_dir)
        cases = {
            "dotdot": None,
            "absolute": os.path.join(target_dir, "abs.txt"),
            "symlink": target_dir,
            "hardlink": os.path.join(target_dir, "victim"),
        }
        with open(os.path.join(target_dir, "victim"), "w") as f:
            f.write("victim\n")
        for kind, target in cases.items():
            info = wcs.make_evil_tarball(self.path("%s.tar.gz" % kind), kind, "5.2.1234", target)
            with tarfile.open(info["path"]) as tf:
                names = {m.name: m for m in tf.getmembers()}
                self.assertIn(info["member"], names)
                m = names[info["member"]]
                if kind == "dotdot":
                    self.assertIn("..", m.name.split("/"))
                elif kind == "absolute":
                    self.assertEqual(m.name, target)
                elif kind == "symlink":
                    self.assertTrue(m.issym())
                    self.assertEqual(m.linkname, target)
                else:
                    self.assertTrue(m.islnk())
                # A careful extractor refuses it (or, for an absolute name, keeps it inside).
                dest = self.path("x-" + kind)
                os.makedirs(dest)
                if kind == "absolute":
                    tf.extractall(dest, filter="data")
                    self.assertTrue(os.path.isfile(dest + target))
                else:
                    with self.assertRaises(tarfile.FilterError):
                        tf.extractall(dest, filter="data")
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "wcs-sim-escaped.txt")))
            self.assertFalse(os.path.exists(os.path.join(target_dir, "abs.txt")))
            self.assertFalse(os.path.exists(os.path.join(target_dir, "wcs-sim-escaped.txt")))
        with self.assertRaises(ValueError):
            wcs.make_evil_tarball(self.path("x.tar.gz"), "absolute", target="relative/path")
        with self.assertRaises(ValueError):
            wcs.make_evil_tarball(self.path("x.tar.gz"), "zip-slip")

    def test_cli(self):
        out = subprocess.run(
            [sys.executable, os.path.join(SIM_DIR, "wcs.py"), "tarball", self.path("c.tar.gz"),
             "--version", "5.2.1400"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        self.assertIn("WCS_TARBALL_TOP=FlashphonerWebCallServer-5.2.1400", out)
        out = subprocess.run(
            [sys.executable, os.path.join(SIM_DIR, "wcs.py"), "install-tree", self.path("r")],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        home = self.path("r", "usr", "local", "FlashphonerWebCallServer")
        self.assertIn("WCS_HOME=%s" % home, out)


if __name__ == "__main__":
    unittest.main()
