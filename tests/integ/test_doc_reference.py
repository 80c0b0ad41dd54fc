"""The project's own reference (packaging/doc/, the two man pages) against the code.

- tests/scripts/config-reference.py finds every key of agent/config/config.def,
  with its description, in packaging/doc/configuration.md and wcs-agent.ini(5);
  and it fails on a copy of the tree where a key lost its description, where a
  key was added without its rows, or where a row was edited by hand;
- both man pages render with groff -ww without a warning;
- every command of `wcs-agent --help` has a section in the operations guide or
  the man page, and every page the README links to in packaging/doc/ exists.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("AGENT_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
SCRIPT = os.path.join(SRC, "tests", "scripts", "config-reference.py")
DOC = os.path.join(SRC, "packaging", "doc")
PAGES = [os.path.join(SRC, "packaging", "wcs-agent.8"),
         os.path.join(SRC, "packaging", "wcs-agent.ini.5")]


def reference(root, *args):
    return subprocess.run([sys.executable, SCRIPT, "--root", root] + list(args),
                          capture_output=True, text=True, timeout=60)


class ConfigReferenceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="doc-reference-")
        for rel in ("agent/config/config.def", "packaging/doc/configuration.md",
                    "packaging/wcs-agent.ini.5"):
            os.makedirs(os.path.dirname(os.path.join(self.tmp, rel)), exist_ok=True)
            shutil.copy(os.path.join(SRC, rel), os.path.join(self.tmp, rel))
        self.addCleanup(shutil.rmtree, self.tmp)

    def edit(self, rel, old, new):
        path = os.path.join(self.tmp, rel)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(old, text)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))

    def test_the_tree_is_documented(self):
        r = reference(SRC)
        self.assertEqual(r.returncode, 0, r.stderr)
        n = int(re.search(r"(\d+) keys documented", r.stdout).group(1))
        with open(os.path.join(SRC, "agent", "config", "config.def"), encoding="utf-8") as f:
            self.assertEqual(n, sum(1 for l in f if l.startswith("CONFIG_KEY(")))

    def test_every_key_has_a_row_in_both_documents(self):
        with open(os.path.join(SRC, "agent", "config", "config.def"), encoding="utf-8") as f:
            names = re.findall(r'^CONFIG_KEY\(\w+, "(\w+)", "(\w+)"', f.read(), re.M)
        with open(os.path.join(DOC, "configuration.md"), encoding="utf-8") as f:
            md = f.read()
        with open(PAGES[1], encoding="utf-8") as f:
            man = f.read()
        for sec, key in names:
            with self.subTest(key="%s.%s" % (sec, key)):
                self.assertIn("| `%s.%s` |" % (sec, key), md)
                self.assertIn("\\fB%s\\fR" % key.replace("-", "\\-"), man)

    def test_a_key_without_a_description_fails(self):
        self.edit("agent/config/config.def",
                  '"Seconds a whole run may take; every wait and retry is capped by it.")', '"")')
        r = reference(self.tmp)
        self.assertEqual(r.returncode, 1)
        self.assertIn("agent.deadline has no description", r.stderr)

    def test_a_key_added_without_its_rows_fails(self):
        self.edit("agent/config/config.def", "CONFIG_KEY(K_AGENT_CONSOLE,",
                  'CONFIG_KEY(K_AGENT_NEW, "agent", "new_key", agent.console, KIND_STR, NULL, '
                  'CHECK_NONE, 0, 0, 0, "A key added for this test only.")\n'
                  "CONFIG_KEY(K_AGENT_CONSOLE,")
        r = reference(self.tmp)
        self.assertEqual(r.returncode, 1)
        self.assertIn("configuration.md: the key reference differs", r.stderr)
        self.assertIn("wcs-agent.ini.5: the key reference differs", r.stderr)
        # --write adds the rows, and the check passes again.
        self.assertEqual(reference(self.tmp, "--write").returncode, 0)
        r = reference(self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.tmp, "packaging/doc/configuration.md"), encoding="utf-8") as f:
            self.assertIn("| `agent.new_key` | *(none)* | A key added for this test only. |",
                          f.read())

    def test_a_row_edited_by_hand_fails(self):
        self.edit("packaging/doc/configuration.md", "| `agent.deadline` | `1800` |",
                  "| `agent.deadline` | `900` |")
        r = reference(self.tmp)
        self.assertEqual(r.returncode, 1)
        self.assertIn("configuration.md", r.stderr)

    def test_a_document_without_its_markers_fails(self):
        self.edit("packaging/wcs-agent.ini.5", '.\\" END config.def keys', "")
        r = reference(self.tmp)
        self.assertEqual(r.returncode, 1)
        self.assertIn("marker lines", r.stderr)


class ManPagesTest(unittest.TestCase):
    def test_both_man_pages_render_without_warnings(self):
        if shutil.which("groff") is None:
            self.skipTest("groff is not installed (tests/setup.sh installs groff-base)")
        for page in PAGES:
            with self.subTest(page=os.path.basename(page)):
                r = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8", page],
                                   capture_output=True, text=True, timeout=60,
                                   env=dict(os.environ, LC_ALL="C.UTF-8"))
                self.assertEqual((r.returncode, r.stderr), (0, ""))


class DocLinksTest(unittest.TestCase):
    def test_readme_links_into_packaging_doc_and_they_exist(self):
        with open(os.path.join(SRC, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        self.assertNotIn("../shared", readme)
        links = re.findall(r"\]\((packaging/doc/[^)#]+)", readme)
        self.assertGreaterEqual(len(set(links)), 4, links)
        for link in set(links):
            with self.subTest(link=link):
                self.assertTrue(os.path.isfile(os.path.join(SRC, link)))

    def test_each_doc_page_links_only_to_pages_that_exist(self):
        for name in sorted(os.listdir(DOC)):
            with open(os.path.join(DOC, name), encoding="utf-8") as f:
                text = f.read()
            self.assertNotIn("../shared", text, name)
            for link in re.findall(r"\]\(([\w.-]+\.md)(?:#[\w-]*)?\)", text):
                with self.subTest(page=name, link=link):
                    self.assertTrue(os.path.isfile(os.path.join(DOC, link)))


if __name__ == "__main__":
    unittest.main()
