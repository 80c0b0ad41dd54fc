#!/usr/bin/env python3
"""Benchmark of the update download (issue 12 item 7): the agent's hashing download
(net/download through tests/tools/download_tool, with the options the update step
uses) against the way a user-data script does it, `curl -o FILE URL && sha256sum FILE`,
and against `curl -o FILE URL` alone, on the same generated file served from a loopback
server (tests/sim/files.py, its own process) over HTTPS with the twin's test CA and over
plain http.  A benchmark, not a test: it prints figures and asserts nothing about them
(it stops only when a side fails or gets the wrong SHA-256).

    python3 tests/bench/download.py --tool build-bench/tools/download_tool \
        [--size-mib 512] [--trials 5] [--modes tls,plain] [--server python|openssl] [--dir DIR]

The server (--server) is tests/sim/files.py (default; plain http by sendfile, HTTPS by
Python's ssl in 1 MiB writes) or, for HTTPS, `openssl s_server -WWW` (an independent C
server: HTTP/1.0, no Content-Length, the body ended by close_notify and closing).  Plain
http is always served by files.py.  Both run as their own process: their CPU is measured
per run (from /proc/PID/stat) and printed, never charged to a side.

Each trial runs the three sides one after the other, in an order that rotates from trial
to trial.  Per side: wall time (monotonic, spawn to reap), CPU (ru_utime + ru_stime from
wait4: the side and the children it reaped), MB/s (10^6 bytes over wall).  Before each
run the destination file is removed and dirty pages are written back (sync), outside the
timing.  The table gives medians, min..max, and the ratios the issue targets: agent
against curl alone (>= 0.9x throughput) and against curl + sha256sum (faster).  The load
average is printed before and after: the machine is shared.

Everything it creates (the file, the downloads, the CA, the server process) is removed
or stopped at the end, also on Ctrl-C.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SIM = os.path.join(ROOT, "tests", "sim")
sys.path.insert(0, SIM)

import netutil  # noqa: E402

MB = 1e6


def make_file(path, size):
    """size bytes that do not compress (no transfer shortcut), written once."""
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        left = size
        i = 0
        while left > 0:
            # A different block each MiB: the counter in its first bytes.
            b = i.to_bytes(8, "little") + block[8:]
            n = min(left, len(b))
            f.write(b[:n])
            left -= n
            i += 1
    return sha256_of(path)


def sha256_of(path):
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def run_timed(argv, env, out_path):
    """(wall s, cpu s, stdout text) of argv; raises on a non-zero exit."""
    with open(out_path, "wb") as out:
        t0 = time.monotonic()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, out.fileno(), 1)])
        _, status, ru = os.wait4(pid, 0)
        wall = time.monotonic() - t0
    with open(out_path, "r", encoding="utf-8", errors="replace") as f:
        text = f.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("%s exited %d: %s" % (argv[0], os.waitstatus_to_exitcode(status), text[-500:]))
    return wall, ru.ru_utime + ru.ru_stime, text


def server_cpu(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid, encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_openssl_server(path, ca, verbose):
    """openssl s_server -WWW serving the folder of path (it holds nothing else)."""
    argv = [shutil.which("openssl"), "s_server", "-WWW", "-accept", "127.0.0.1:0", "-cert", ca.cert, "-key", ca.key]
    p = subprocess.Popen(argv, cwd=os.path.dirname(path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=None if verbose else subprocess.DEVNULL, text=True, start_new_session=True)
    for _ in range(10):
        line = p.stdout.readline().strip()
        if line.startswith("ACCEPT "):
            # Its later output (a line per connection) goes nowhere: a full pipe would stop it.
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            return p, "https://%s/%s" % (line.split()[1], os.path.basename(path))
        if not line and p.poll() is not None:
            break
    p.kill()
    p.wait()
    raise RuntimeError("openssl s_server did not start: %r" % line)


def start_server(tls, path, ca_dir, verbose):
    env = dict(os.environ, TWIN_CA_DIR=ca_dir, PYTHONDONTWRITEBYTECODE="1")
    argv = [sys.executable, os.path.join(SIM, "files.py"), "serve"] + (["--tls"] if tls else []) + ["/file.bin=" + path]
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=None if verbose else subprocess.DEVNULL, text=True, start_new_session=True)
    line = p.stdout.readline().strip()
    if not line.startswith("FILES_URL="):
        p.kill()
        p.wait()
        raise RuntimeError("files.py did not start: %r" % line)
    return p, line[len("FILES_URL="):] + "/file.bin"


def stop_server(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def fmt_row(name, runs, size):
    walls = [r[0] for r in runs]
    cpus = [r[1] for r in runs]
    w = statistics.median(walls)
    return "| %s | %.0f MB/s | %.3f s | %.3f s | %.3f s | %.3f..%.3f s | %.3f..%.3f s |" % (
        name, size / MB / w, w, statistics.median(cpus), statistics.median(r[2] for r in runs),
        min(walls), max(walls), min(cpus), max(cpus))


def probe_tls(url, cacert):
    """The protocol and cipher curl negotiates with the server ("?" when not shown)."""
    r = subprocess.run([shutil.which("curl"), "-sS", "-v", "-o", "/dev/null", "--cacert", cacert, url],
                       capture_output=True, text=True, timeout=120)
    for line in r.stderr.splitlines():
        if "SSL connection using" in line:
            return line.split("SSL connection using", 1)[1].strip()
    return "?"


def bench_mode(args, tls, src, size, want, ca, work, out):
    use_openssl = tls and args.server == "openssl"
    if use_openssl:
        server, url = start_openssl_server(src, ca, args.verbose)
        server_name = "openssl s_server -WWW (HTTP/1.0, no Content-Length)"
    else:
        server, url = start_server(tls, src, ca.dir, args.verbose)
        server_name = "tests/sim/files.py (%s)" % ("Python ssl, 1 MiB writes" if tls else "sendfile")
    try:
        cipher = probe_tls(url, ca.ca_cert) if tls else ""
        dest = os.path.join(work, "dl")
        os.makedirs(dest, exist_ok=True)
        target = os.path.join(dest, "file.bin")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        cacert = []
        if tls:
            env["AWS_CA_BUNDLE"] = ca.ca_cert
            cacert = ["--cacert", ca.ca_cert]
        curl = shutil.which("curl")
        bash = shutil.which("bash")
        sides = {
            "agent (download + SHA-256)": [args.tool, "--sha256", want, url, dest, "file.bin"],
            "curl -o && sha256sum": [bash, "-c", 'curl -fsS "${@:3}" -o "$1" "$2" && sha256sum "$1"', "bash", target, url] + cacert,
            "curl -o (no hash)": [curl, "-fsS"] + cacert + ["-o", target, url],
        }
        names = list(sides)
        runs = {n: [] for n in names}
        threads = []
        for trial in range(args.warmup + args.trials):
            order = names[trial % 3:] + names[: trial % 3]
            for n in order:
                for leftover in os.listdir(dest):
                    os.unlink(os.path.join(dest, leftover))
                os.sync()
                s0 = server_cpu(server.pid)
                wall, cpu, text = run_timed(sides[n], env, os.path.join(work, "stdout"))
                scpu = server_cpu(server.pid) - s0
                if os.path.getsize(target) != size:
                    raise RuntimeError("%s: got %d bytes, want %d" % (n, os.path.getsize(target), size))
                if "sha256" in n.lower() and want not in text:
                    raise RuntimeError("%s: no SHA-256 %s in its output: %r" % (n, want, text[-300:]))
                if trial >= args.warmup:
                    runs[n].append((wall, cpu, scpu))
                    if n == names[0]:
                        split = dict(ln.split("=", 1) for ln in text.splitlines() if ln.startswith("cpu_"))
                        threads.append((float(split.get("cpu_receiving", "nan")), float(split.get("cpu_writer", "nan"))))
                if args.verbose:
                    sys.stderr.write("%s trial %d %s: %.3f s wall, %.3f s CPU, server %.3f s CPU\n" % (
                        "tls" if tls else "plain", trial, n, wall, cpu, scpu))
        for leftover in os.listdir(dest):
            os.unlink(os.path.join(dest, leftover))
    finally:
        stop_server(server)
    out.write("\n%s, %d MiB, %d trials (+%d warm-up), server %s, medians:\n\n" % (
        "HTTPS (test CA, %s)" % cipher if tls else "plain http", size >> 20, args.trials, args.warmup, server_name))
    out.write("| side | throughput | wall | CPU | server CPU | wall min..max | CPU min..max |\n|---|---|---|---|---|---|---|\n")
    for n in names:
        out.write(fmt_row(n, runs[n], size) + "\n")
    med = {n: statistics.median([r[0] for r in runs[n]]) for n in names}
    agent, both, alone = names
    out.write("\nagent throughput / curl alone: %.2fx (target >= 0.9x); agent / curl + sha256sum: %.2fx (target > 1)\n" % (
        med[alone] / med[agent], med[both] / med[agent]))
    tot = {n: statistics.median(r[1] + r[2] for r in runs[n]) for n in names}
    recv_cpu = statistics.median(t[0] for t in threads)
    writer_cpu = statistics.median(t[1] for t in threads)
    curl_cpu = statistics.median(r[1] for r in runs[alone])
    out.write("agent's threads (CPU): receiving %.3f s, writing + SHA-256 %.3f s; curl alone, one thread: %.3f s\n" % (
        recv_cpu, writer_cpu, curl_cpu))
    out.write("with two cores of its own and the server elsewhere (an estimate from CPU, not a measured wall time): "
              "agent >= %.3f s (its busier thread), curl >= %.3f s: %.2fx\n" % (
                  max(recv_cpu, writer_cpu), curl_cpu, curl_cpu / max(recv_cpu, writer_cpu)))
    out.write("CPU of a run with the server's (what %d CPUs share here): agent %.3f s, curl alone %.3f s (%.2fx)\n" % (
        os.cpu_count(), tot[agent], tot[alone], tot[alone] / tot[agent]))
    out.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", required=True, help="the download_tool binary (build-bench/tools/download_tool)")
    ap.add_argument("--size-mib", type=int, default=512, help="size of the generated file (default 512, at most 2048)")
    ap.add_argument("--trials", type=int, default=5, help="timed trials per side and mode (default 5, at most 20)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed trials first (default 1)")
    ap.add_argument("--modes", default="tls,plain", help="tls, plain or both (default tls,plain)")
    ap.add_argument("--server", choices=("python", "openssl"), default="python",
                    help="the HTTPS server: tests/sim/files.py (default) or openssl s_server -WWW")
    ap.add_argument("--dir", default=None, help="folder for the file and the downloads (default: a temp folder under /var/tmp)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not (1 <= args.size_mib <= 2048 and 1 <= args.trials <= 20 and 0 <= args.warmup <= 3):
        ap.error("--size-mib 1..2048, --trials 1..20, --warmup 0..3")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("tls", "plain") for m in modes):
        ap.error("--modes: tls, plain")
    if not os.access(args.tool, os.X_OK):
        ap.error("--tool %s is not an executable" % args.tool)
    for prog in ("curl", "bash", "sha256sum", "openssl"):
        if shutil.which(prog) is None:
            ap.error("needs %s" % prog)
    out = sys.stdout
    work = tempfile.mkdtemp(prefix="wcs-agent-dlbench-", dir=args.dir or "/var/tmp")
    ca = None
    try:
        ca = netutil.TestCA(system=False)
        os.mkdir(os.path.join(work, "srv"))
        src = os.path.join(work, "srv", "source.bin")
        size = args.size_mib << 20
        want = make_file(src, size)
        out.write("download benchmark: %d MiB, agent %s, %s\n" % (args.size_mib, args.tool, subprocess.run(
            ["curl", "--version"], capture_output=True, text=True).stdout.splitlines()[0]))
        out.write("load average at start: %.2f %.2f %.2f (%d CPUs)\n" % (os.getloadavg() + (os.cpu_count(),)))
        for m in modes:
            bench_mode(args, m == "tls", src, size, want, ca, work, out)
        out.write("\nload average at end: %.2f %.2f %.2f\n" % os.getloadavg())
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if ca is not None:
            ca.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
