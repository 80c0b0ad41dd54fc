"""The update step against the twin (issue 9 item 5): `wcs-agent run --only update`
with a fake WCS and its installer tarball served by tests/sim/files.py.

- update.max_bytes is enforced while the tarball streams: with a Content-Length over it
  the download is refused at once, a chunked body is stopped once past it; exit 1, one
  line naming the URL, the limit and the key; nothing kept, nothing installed.
- The download cache belongs to its URL: after update.url changes to a server that
  answers 304 to any If-None-Match, the old URL's validators are not sent, the new
  tarball is downloaded and installed (before the fix: "already installed" from the old
  tarball).
- update.max_unpacked_bytes: a tarball whose listing adds up to more is refused before
  anything is unpacked (one line naming the sizes and the key; nothing installed; the
  cached tarball kept, so raising the limit needs no new download).
- A cached tarball that tar cannot read is not kept: one damaged on disk (answered 304) is
  downloaded again in the same run; one cut short by a server that does not frame its
  body (HTTP/1.0, closed early) fails the run and is removed, so the next run downloads
  it whole instead of being answered 304 forever.
"""

import json
import os
import tarfile
import unittest

from twin_testlib import TwinTestCase

import files  # tests/sim (on sys.path through twin_testlib)
import wcs


class UpdateCase(TwinTestCase):
    need_agent = True
    fake_wcs = True

    def setUp(self):
        super().setUp()
        self.fs = files.FileServer(tls=False).start()
        self.addCleanup(self.fs.stop)

    def tarball(self, name, version):
        path = os.path.join(self.tmp, name)
        return wcs.make_installer_tarball(path, version, install_root=self.wcs.root)

    def configure(self, url, extra=""):
        self.write_config("[update]\nenabled = true\nurl = %s\n%s" % (url, extra))

    def run_update(self):
        return self.run_agent("run", "--only", "update")

    def installed(self):
        with open(self.wcs.version_file, encoding="ascii") as f:
            return f.read().strip()

    def cache_files(self):
        d = os.path.join(self.state_dir, "download")
        return sorted(n for n in os.listdir(d) if n.startswith("wcs.tar.gz")) if os.path.isdir(d) else []

    def state(self):
        with open(os.path.join(self.state_dir, "state.json"), encoding="utf-8") as f:
            return json.load(f)


class MaxBytesTest(UpdateCase):
    def check_refused(self, url, size, limit, want_line):
        before = self.installed()
        r = self.run_update()
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertIn(want_line, r.stderr)
        self.assertIn("update.max_bytes", r.stderr)
        self.assertEqual(self.installed(), before)
        self.assertEqual(self.cache_files(), [])
        steps = {s["name"]: s for s in self.state()["steps"]}
        self.assertEqual(steps["update"]["result"], "failed")
        self.assertIn("update.max_bytes = %d" % limit, steps["update"]["error"])

    def test_over_the_limit_with_and_without_content_length(self):
        t = self.tarball("wcs.tar.gz", "5.2.2000")
        size = os.path.getsize(t["path"])
        self.fs.add("/wcs.tar.gz", t["path"])
        url = self.fs.url("/wcs.tar.gz")
        limit = size - 1
        self.configure(url, "max_bytes = %d\n" % limit)
        self.check_refused(
            url, size, limit,
            "update: download of %s refused: the server announces %d bytes, over update.max_bytes = %d; "
            "raise update.max_bytes to accept a larger file" % (url, size, limit),
        )
        self.fs.chunked = True
        self.check_refused(
            url, size, limit,
            "update: download of %s stopped: more than update.max_bytes = %d bytes received; "
            "raise update.max_bytes to accept a larger file" % (url, limit),
        )
        self.assertNotIn("Content-Length", self.fs.requests()[-1]["headers"])
        # Exactly the size passes.
        self.configure(url, "max_bytes = %d\n" % size)
        r = self.run_update()
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.installed(), t["version"])


class UrlChangeTest(UpdateCase):
    def test_new_url_answering_304_to_any_etag_is_downloaded(self):
        a = self.tarball("a.tar.gz", "5.2.2000")
        self.fs.add("/a/wcs.tar.gz", a["path"])
        self.configure(self.fs.url("/a/wcs.tar.gz"))
        r = self.run_update()
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.installed(), a["version"])
        etag = self.state()["applied"].get("download_etag")
        self.assertTrue(etag, self.state()["applied"])

        # URL B: another build, on a server that says 304 to any ETag.
        b = self.tarball("b.tar.gz", "5.2.3000")
        self.fs.add("/b/wcs.tar.gz", b["path"])
        self.fs.inm_any_304 = True
        self.fs.clear_requests()
        self.configure(self.fs.url("/b/wcs.tar.gz"))
        r = self.run_update()
        self.assertEqual(r.rc, 0, r.stderr)
        reqs = [q for q in self.fs.requests() if q["path"] == "/b/wcs.tar.gz"]
        self.assertEqual(len(reqs), 1, reqs)
        self.assertNotIn("If-None-Match", reqs[0]["headers"])
        self.assertNotIn("If-Modified-Since", reqs[0]["headers"])
        self.assertEqual(reqs[0]["status"], 200)
        self.assertEqual(self.installed(), b["version"])
        steps = {s["name"]: s for s in self.state()["steps"]}
        self.assertEqual(steps["update"]["result"], "changed", steps["update"])

        # B again: now B's own validators are sent, and its 304 is believed.
        self.fs.clear_requests()
        r = self.run_update()
        self.assertEqual(r.rc, 0, r.stderr)
        reqs = self.fs.requests()
        self.assertEqual(len(reqs), 1, reqs)
        self.assertIn("If-None-Match", reqs[0]["headers"])
        self.assertEqual(reqs[0]["status"], 304)


class MaxUnpackedTest(UpdateCase):
    def test_listing_over_the_limit_is_refused_before_unpacking(self):
        t = self.tarball("wcs.tar.gz", "5.2.2000")
        self.fs.add("/wcs.tar.gz", t["path"])
        url = self.fs.url("/wcs.tar.gz")
        total = sum(m.size for m in tarfile.open(t["path"]).getmembers() if m.isreg())
        self.assertGreater(total, 1)
        before = self.installed()
        self.configure(url, "max_unpacked_bytes = %d\n" % (total - 1))
        r = self.run_update()
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertIn(
            "update: %s refused: its files add up to %d bytes, over update.max_unpacked_bytes = %d; "
            "raise update.max_unpacked_bytes to accept it" % (url, total, total - 1), r.stderr)
        self.assertEqual(self.installed(), before)
        self.assertEqual(self.cache_files(), ["wcs.tar.gz", "wcs.tar.gz.source"])
        unpacks = [n for n in os.listdir(os.path.join(self.state_dir, "download")) if n.startswith("unpack.")]
        self.assertEqual(unpacks, [])
        steps = {s["name"]: s for s in self.state()["steps"]}
        self.assertIn("update.max_unpacked_bytes = %d" % (total - 1), steps["update"]["error"])
        # Exactly the total passes, from the cache (a 304).
        self.fs.clear_requests()
        self.configure(url, "max_unpacked_bytes = %d\n" % total)
        r = self.run_update()
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.installed(), t["version"])
        self.assertEqual([q["status"] for q in self.fs.requests()], [304])


class DamagedCacheTest(UpdateCase):
    def url_requests(self, path):
        return [q for q in self.fs.requests() if q["path"] == path]

    def test_damaged_cache_is_downloaded_again(self):
        a = self.tarball("a.tar.gz", "5.2.2000")
        self.fs.add("/wcs.tar.gz", a["path"])
        self.configure(self.fs.url("/wcs.tar.gz"))
        r = self.run_update()
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(self.installed(), a["version"])
        cached = os.path.join(self.state_dir, "download", "wcs.tar.gz")
        size = os.path.getsize(cached)
        with open(cached, "r+b") as f:
            f.truncate(size // 2)
        self.fs.clear_requests()
        r = self.run_update()
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertIn("could not be used; downloading it again", r.stderr)
        reqs = self.url_requests("/wcs.tar.gz")
        self.assertEqual([q["status"] for q in reqs], [304, 200], reqs)
        self.assertIn("If-None-Match", reqs[0]["headers"])
        self.assertNotIn("If-None-Match", reqs[1]["headers"])
        self.assertEqual(os.path.getsize(cached), size)
        self.assertEqual(self.installed(), a["version"])

    def test_body_cut_short_is_not_kept(self):
        b = self.tarball("b.tar.gz", "5.2.3000")
        self.fs.add("/wcs.tar.gz", b["path"])
        self.fs.close_delimited = True
        self.fs.cut_after = os.path.getsize(b["path"]) // 2
        self.configure(self.fs.url("/wcs.tar.gz"))
        before = self.installed()
        r = self.run_update()
        self.assertEqual(r.rc, 1, r.stderr)
        self.assertIn("not a readable WCS tarball", r.stderr)
        self.assertEqual(self.cache_files(), [])
        self.assertEqual(self.installed(), before)
        self.assertEqual(len(self.url_requests("/wcs.tar.gz")), 1)
        # The server is mended: the next run asks afresh (no validators) and installs.
        self.fs.cut_after = None
        self.fs.clear_requests()
        r = self.run_update()
        self.assertEqual(r.rc, 0, r.stderr)
        reqs = self.url_requests("/wcs.tar.gz")
        self.assertEqual([q["status"] for q in reqs], [200], reqs)
        self.assertNotIn("If-None-Match", reqs[0]["headers"])
        self.assertEqual(self.installed(), b["version"])


if __name__ == "__main__":
    unittest.main()
