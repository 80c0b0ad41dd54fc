"""net/download (through tests/tools/download_tool, the update step's options) against
servers that end a body by closing the connection (issue 12 item 7):

- A 200 as HTTP/1.0 without Content-Length (close-delimited), over plain http and
  HTTPS (ended by close_notify), from tests/sim/files.py: downloaded whole, SHA-256
  right, the file stored.
- The same from an independent server, `openssl s_server -WWW` (what
  tests/bench/download.py --server openssl uses): downloaded whole, SHA-256 right.
- A close-delimited body cut short (the connection closed after 1 MB, over HTTPS
  without close_notify): libcurl 7.88 takes the close for the end of the body, so only
  the SHA-256 can tell; with --sha256 the download fails (checksum mismatch) and
  nothing is kept (a libcurl that wants the close_notify resumes instead, to the
  whole file).
- A body with Content-Length cut short on every response: resumed with Range until
  whole (three attempts for three pieces), SHA-256 right.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_DIR = os.path.normpath(os.path.join(HERE, "..", "sim"))
if SIM_DIR not in sys.path:
    sys.path.insert(0, SIM_DIR)

import files  # noqa: E402
import netutil  # noqa: E402

SIZE = 3_000_000
CUT = 1_000_000


def tool():
    d = os.environ.get("TEST_TOOLS_DIR", "")
    path = os.path.join(d, "download_tool") if d else ""
    if not path or not os.access(path, os.X_OK):
        raise unittest.SkipTest("download_tool not found (TEST_TOOLS_DIR=%r)" % d)
    return path


class DownloadToolCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tool = tool()
        cls.ca = netutil.shared_ca()
        cls.tmp = tempfile.mkdtemp(prefix="dltool-")
        cls.srv = os.path.join(cls.tmp, "srv")
        os.mkdir(cls.srv)
        cls.src = os.path.join(cls.srv, "file.bin")
        with open(cls.src, "wb") as f:
            f.write(os.urandom(SIZE))
        with open(cls.src, "rb") as f:
            cls.data = f.read()
        cls.sha = hashlib.sha256(cls.data).hexdigest()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="dest-", dir=self.tmp)

    def download(self, url, sha=True):
        argv = [self.tool] + (["--sha256", self.sha] if sha else []) + [url, self.dest, "file.bin"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_CA_BUNDLE": self.ca.ca_cert}
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)

    def assert_whole(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sha256=%s\n" % self.sha, r.stdout)
        self.assertIn("downloaded=1\n", r.stdout)
        with open(os.path.join(self.dest, "file.bin"), "rb") as f:
            self.assertEqual(f.read(), self.data)

    def server(self, tls, **attrs):
        fs = files.FileServer(tls=tls).start()
        self.addCleanup(fs.stop)
        fs.add("/file.bin", self.src)
        for k, v in attrs.items():
            setattr(fs, k, v)
        return fs


class CloseDelimitedTest(DownloadToolCase):
    def test_whole_body_plain_and_https(self):
        for tls in (False, True):
            with self.subTest(tls=tls):
                self.setUp()
                fs = self.server(tls, close_delimited=True)
                r = self.download(fs.url("/file.bin"))
                self.assert_whole(r)
                self.assertEqual([q["status"] for q in fs.requests()], [200])

    def test_openssl_s_server_www(self):
        exe = shutil.which("openssl")
        if exe is None:
            self.skipTest("no openssl program")
        p = subprocess.Popen(
            [exe, "s_server", "-WWW", "-accept", "127.0.0.1:0", "-cert", self.ca.cert, "-key", self.ca.key],
            cwd=self.srv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, start_new_session=True,
        )
        try:
            line = ""
            for _ in range(10):
                line = p.stdout.readline().strip()
                if line.startswith("ACCEPT ") or (not line and p.poll() is not None):
                    break
            self.assertTrue(line.startswith("ACCEPT "), line)
            r = self.download("https://%s/file.bin" % line.split()[1])
            self.assert_whole(r)
        finally:
            p.kill()
            p.wait()
            p.stdout.close()

    def test_cut_short_fails_on_the_checksum(self):
        for tls in (False, True):
            with self.subTest(tls=tls):
                self.setUp()
                fs = self.server(tls, close_delimited=True, cut_after=CUT)
                r = self.download(fs.url("/file.bin"))
                if r.returncode == 0 and tls:
                    # A libcurl that wants the close_notify: the cut is an interrupted
                    # transfer, resumed with Range until whole.
                    self.assert_whole(r)
                    continue
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("checksum mismatch: got %s, want %s" % (
                    hashlib.sha256(self.data[:CUT]).hexdigest(), self.sha), r.stderr)
                self.assertEqual(os.listdir(self.dest), [])


class ContentLengthCutTest(DownloadToolCase):
    def test_cut_every_response_is_resumed(self):
        fs = self.server(True, cut_after=CUT)
        r = self.download(fs.url("/file.bin"))
        self.assert_whole(r)
        reqs = fs.requests()
        self.assertEqual([q["status"] for q in reqs], [200, 206, 206])
        self.assertEqual([q["headers"].get("Range") for q in reqs], [None, "bytes=%d-" % CUT, "bytes=%d-" % (2 * CUT)])


if __name__ == "__main__":
    unittest.main()
