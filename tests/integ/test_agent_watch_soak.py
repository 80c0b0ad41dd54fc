"""`watch` over 10,000 periods at a 1 ms interval (the test-only override):
its memory and its open file descriptors stay flat.  watch samples its own
RSS and fd count at the fifth and the last period (printed); the test also
samples /proc/PID from outside at the start and the end.  Under ASan the
leak check at exit covers what the samples cannot."""

import os
import re
import time
import unittest

from twin_testlib import TwinTestCase

ITERATIONS = 10000


def proc_sample(pid):
    """(rss kB, open fds), or None once the process has exited (a zombie has
    no VmRSS and no fd directory to list)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
        if m is None:
            return None
        return int(m.group(1)), len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def settled_sample(pid, n=5):
    """proc_sample() n times 10 ms apart, with the fewest open fds: a sample
    from outside can land while a period's connection is open."""
    samples = []
    for _ in range(n):
        s = proc_sample(pid)
        if s is None:
            break
        samples.append(s)
        time.sleep(0.01)
    return min(samples, key=lambda s: s[1]) if samples else None


class WatchSoakTest(TwinTestCase):
    fake_wcs = True
    need_agent = True

    def test_ten_thousand_periods_flat_memory_and_fds(self):
        self.imds.set_metadata(lifecycle_state="InService")
        self.write_config("[watch]\ninterval = 1\n")
        env = {
            "WCS_AGENT_TEST_INTERVAL_MS": "1",
            "WCS_AGENT_TEST_ITERATIONS": str(ITERATIONS),
        }
        # Under ASan, a small quarantine, so memory freed and held back does not read as
        # growth (ignored by a build without ASan).
        env["ASAN_OPTIONS"] = ":".join(
            x for x in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=1") if x)
        t0 = time.time()
        p = self.start_agent("watch", env=env)
        outside = []
        while p.poll() is None and len(self.stats.requests()) < ITERATIONS // 5:
            time.sleep(0.05)
        if p.poll() is None:
            outside.append(settled_sample(p.pid))
        # The second sample well before the end: the process may exit while it is taken.
        while p.poll() is None and len(self.stats.requests()) < ITERATIONS - 1000:
            time.sleep(0.05)
        if p.poll() is None:
            outside.append(settled_sample(p.pid))
        outside = [s for s in outside if s is not None]
        out, err = p.communicate(timeout=300)
        took = time.time() - t0
        self.assertEqual(p.returncode, 0, err[-3000:])
        samples = [(int(a), int(b), int(c)) for a, b, c in
                   re.findall(r"soak: iteration (\d+): rss (\d+) kB, (\d+) open fds", err)]
        print("\nwatch soak: %d periods in %.1f s; inside (iteration, rss kB, fds): %s; "
              "outside (rss kB, fds) at ~%d and ~%d: %s"
              % (ITERATIONS, took, samples, ITERATIONS // 5, ITERATIONS - 1000, outside))
        self.assertEqual([s[0] for s in samples], [ITERATIONS // 5, ITERATIONS])
        (_, rss1, fd1), (_, rss2, fd2) = samples
        self.assertEqual(fd1, fd2, "open fds grew")
        self.assertLess(rss2 - rss1, 2048, "RSS grew by more than 2 MB over 8,000 periods")
        self.assertGreaterEqual(len(self.stats.requests()), ITERATIONS)
        if len(outside) == 2:
            self.assertEqual(outside[0][1], outside[1][1])


if __name__ == "__main__":
    unittest.main()
