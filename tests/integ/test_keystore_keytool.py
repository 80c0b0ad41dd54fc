"""The tls step's keystore (wcs/keystore) read by Java's keytool.

PEM material is made with the openssl CLI in a temporary folder: a root CA,
an intermediate, a leaf for CN=wcs.example.com (RSA) signed by the
intermediate, an unrelated key and an expired leaf.  tests/tools/keystore_tool
turns them into a PKCS#12 keystore through keystore_check / keystore_matches /
keystore_build / keystore_write, and Java 17's keytool must list it as one
PrivateKeyEntry with the whole chain.  Bad inputs must fail and leave an
existing keystore byte-identical.

Passwords go to keytool with -storepass:file and to the tool with
--password-file (a file or stdin), never on a command line.  Skipped when the
tool, keytool or openssl is missing.
"""

import datetime
import glob
import os
import shutil
import subprocess
import tempfile
import unittest

PASSWORD = 'Integ-Pa55-word'


def find_tool():
    d = os.environ.get('TEST_TOOLS_DIR')
    if not d:
        return None
    p = os.path.join(d, 'keystore_tool')
    return p if os.access(p, os.X_OK) else None


def find_keytool():
    """Java 17's keytool when installed, else the one on PATH."""
    cands = []
    if os.environ.get('JAVA_HOME'):
        cands.append(os.path.join(os.environ['JAVA_HOME'], 'bin', 'keytool'))
    cands += sorted(glob.glob('/usr/lib/jvm/java-17-openjdk*/bin/keytool'))
    cands += sorted(glob.glob('/usr/lib/jvm/*17*/bin/keytool'))
    w = shutil.which('keytool')
    if w:
        cands.append(w)
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    return None


EXT = """
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wcs.example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class KeystoreKeytoolTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tool = find_tool()
        cls.keytool = find_keytool()
        cls.openssl = shutil.which('openssl')
        if cls.tool is None:
            raise unittest.SkipTest('keystore_tool not found (TEST_TOOLS_DIR=%r)'
                                    % os.environ.get('TEST_TOOLS_DIR'))
        if cls.keytool is None:
            raise unittest.SkipTest('keytool not found')
        if cls.openssl is None:
            raise unittest.SkipTest('openssl not found')
        cls.tmpdir = tempfile.TemporaryDirectory(prefix='keystore-keytool-')
        cls.d = cls.tmpdir.name
        cls.make_material()

    @classmethod
    def tearDownClass(cls):
        cls.tmpdir.cleanup()

    @classmethod
    def ossl(cls, *args):
        r = subprocess.run([cls.openssl] + list(args), cwd=cls.d, capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError('openssl %s failed: %s' % (' '.join(args), r.stderr))

    @classmethod
    def p(cls, name):
        return os.path.join(cls.d, name)

    @classmethod
    def make_material(cls):
        with open(cls.p('ext.cnf'), 'w') as f:
            f.write(EXT)
        ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
        cls.ossl('req', '-x509', *ec, '-keyout', 'root.key', '-out', 'root.pem', '-days', '3650',
                 '-subj', '/O=wcs-agent tests/CN=Test Root CA', '-addext',
                 'basicConstraints=critical,CA:TRUE', '-addext',
                 'keyUsage=critical,keyCertSign,cRLSign')
        cls.ossl('req', '-new', *ec, '-keyout', 'inter.key', '-out', 'inter.csr',
                 '-subj', '/O=wcs-agent tests/CN=Test Intermediate')
        cls.ossl('x509', '-req', '-in', 'inter.csr', '-CA', 'root.pem', '-CAkey', 'root.key',
                 '-set_serial', '2', '-days', '1825', '-extfile', 'ext.cnf', '-extensions', 'ca',
                 '-out', 'inter.pem')
        cls.ossl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'leaf.key',
                 '-out', 'leaf.csr', '-subj', '/O=wcs-agent tests/CN=wcs.example.com')
        cls.ossl('x509', '-req', '-in', 'leaf.csr', '-CA', 'inter.pem', '-CAkey', 'inter.key',
                 '-set_serial', '3', '-days', '365', '-extfile', 'ext.cnf', '-extensions', 'leaf',
                 '-out', 'leaf.pem')
        # The same key, certified with an end already in the past.
        cls.ossl('x509', '-req', '-in', 'leaf.csr', '-CA', 'inter.pem', '-CAkey', 'inter.key',
                 '-set_serial', '4', '-days', '-1', '-extfile', 'ext.cnf', '-extensions', 'leaf',
                 '-out', 'expired.pem')
        cls.ossl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048',
                 '-out', 'other.key')
        cls.cat('chain.pem', 'inter.pem', 'root.pem')
        cls.cat('fullchain.pem', 'leaf.pem', 'inter.pem', 'root.pem')
        with open(cls.p('pw'), 'w') as f:
            f.write(PASSWORD + '\n')
        with open(cls.p('wrongpw'), 'w') as f:
            f.write('password\n')

    @classmethod
    def cat(cls, out, *names):
        with open(cls.p(out), 'wb') as o:
            for n in names:
                with open(cls.p(n), 'rb') as i:
                    o.write(i.read())

    def setUp(self):
        self.ks = self.p('wss-%s.jks' % self._testMethodName)
        if os.path.exists(self.ks):
            os.unlink(self.ks)

    def run_tool(self, cert='leaf.pem', chain='chain.pem', key='leaf.key', alias=None,
                 pwfile='pw', stdin=None, extra=()):
        argv = [self.tool, '--cert', self.p(cert), '--key', self.p(key), '--out', self.ks]
        if chain is not None:
            argv += ['--chain', self.p(chain)]
        if alias is not None:
            argv += ['--alias', alias]
        argv += ['--password-file', '-' if stdin is not None else self.p(pwfile)]
        argv += list(extra)
        self.assertNotIn(PASSWORD, ' '.join(argv))
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        return r

    def keytool_list(self, storetype='PKCS12', pwfile='pw'):
        argv = [self.keytool, '-list', '-v', '-keystore', self.ks, '-storetype', storetype,
                '-storepass:file', self.p(pwfile)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    def snapshot(self):
        st = os.stat(self.ks)
        with open(self.ks, 'rb') as f:
            return f.read(), st.st_mtime_ns, st.st_ino

    def assert_lists(self, alias='wcs', chain_len=3, storetype='PKCS12'):
        r = self.keytool_list(storetype)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertIn('Your keystore contains 1 entry', out)
        self.assertIn('Alias name: %s' % alias, out)
        self.assertIn('Entry type: PrivateKeyEntry', out)
        self.assertIn('Certificate chain length: %d' % chain_len, out)
        self.assertIn('Owner: CN=wcs.example.com, O=wcs-agent tests', out)
        if chain_len == 3:
            self.assertIn('Owner: CN=Test Intermediate, O=wcs-agent tests', out)
            self.assertIn('Owner: CN=Test Root CA, O=wcs-agent tests', out)
        return out

    def test_keytool_reads_private_key_entry(self):
        r = self.run_tool()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('written', r.stdout)
        self.assertIn('chain_len=3', r.stdout)
        self.assertIn('subject=CN=wcs.example.com,O=wcs-agent tests', r.stdout)
        self.assertEqual(os.stat(self.ks).st_mode & 0o7777, 0o640)
        self.assert_lists()
        # Java keeps reading it when told the store is a JKS (keystore.type.compat),
        # which is what a WCS configured for conf/wss.jks does.
        self.assert_lists(storetype='JKS')
        # The password protects it.
        r = self.keytool_list(pwfile='wrongpw')
        self.assertNotEqual(r.returncode, 0)

    def test_fullchain_in_certificate_and_alias(self):
        r = self.run_tool(cert='fullchain.pem', chain=None, alias='wss-main')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_lists(alias='wss-main')

    def test_leaf_only(self):
        r = self.run_tool(chain=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('without a chain', r.stderr)
        self.assert_lists(chain_len=1)

    def test_algorithms_old_java_reads(self):
        """PBE-SHA1-3DES for key and certificates, HMAC-SHA1 MAC (Java 8 before 8u301)."""
        r = self.run_tool()
        self.assertEqual(r.returncode, 0, r.stderr)
        i = subprocess.run([self.openssl, 'pkcs12', '-in', self.ks, '-info', '-noout',
                            '-passin', 'file:' + self.p('pw')],
                           capture_output=True, text=True, timeout=60)
        info = i.stdout + i.stderr
        self.assertEqual(i.returncode, 0, info)
        self.assertIn('MAC: sha1', info)
        self.assertIn('PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC', info)
        self.assertIn('Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC', info)
        self.assertNotIn('AES', info)
        self.assertNotIn('PBES2', info)

    def test_password_on_stdin_and_rerun_unchanged(self):
        r = self.run_tool(stdin=PASSWORD + '\r\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('written', r.stdout)
        self.assert_lists()
        before = self.snapshot()
        # Same input again: nothing is written (same bytes, mtime and inode).
        r = self.run_tool()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('unchanged', r.stdout)
        self.assertEqual(self.snapshot(), before)
        # A new password: the existing keystore does not open with it, so it is rebuilt.
        with open(self.p('pw2'), 'w') as f:
            f.write('another-pass\n')
        r = self.run_tool(pwfile='pw2')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('written', r.stdout)
        self.assertNotEqual(self.snapshot()[0], before[0])
        self.assertEqual(self.keytool_list(pwfile='pw2').returncode, 0)

    def test_mismatched_key_keeps_keystore(self):
        r = self.run_tool()
        self.assertEqual(r.returncode, 0, r.stderr)
        before = self.snapshot()
        r = self.run_tool(key='other.key')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('tls.private_key does not match tls.certificate '
                      '(CN=wcs.example.com,O=wcs-agent tests)', r.stderr)
        self.assertNotIn('written', r.stdout)
        self.assertEqual(self.snapshot(), before)
        self.assert_lists()

    def test_expired_certificate_fails(self):
        r = self.run_tool()
        self.assertEqual(r.returncode, 0, r.stderr)
        before = self.snapshot()
        r = self.run_tool(cert='expired.pem')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('expired on', r.stderr)
        self.assertEqual(self.snapshot(), before)
        # And with no keystore yet, none is created.
        os.unlink(self.ks)
        r = self.run_tool(cert='expired.pem')
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(self.ks))

    def test_broken_chain_fails(self):
        # Root first, then the intermediate: the chain is out of order.
        self.cat('badorder.pem', 'root.pem', 'inter.pem')
        r = self.run_tool(chain='badorder.pem')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('tls.chain: certificate 2 (CN=Test Root CA,O=wcs-agent tests) did not '
                      'issue certificate 1 (CN=wcs.example.com,O=wcs-agent tests)', r.stderr)
        self.assertFalse(os.path.exists(self.ks))

    def test_expiring_soon_warns(self):
        # now = 10 days before the leaf's end: accepted, with a warning.
        end = subprocess.run([self.openssl, 'x509', '-in', self.p('leaf.pem'), '-noout',
                              '-enddate', '-dateopt', 'iso_8601'],
                             capture_output=True, text=True, timeout=60)
        if end.returncode != 0:
            self.skipTest('openssl x509 -dateopt not supported')
        s = end.stdout.strip().split('=', 1)[1]
        t = datetime.datetime.strptime(s, '%Y-%m-%d %H:%M:%SZ').replace(
            tzinfo=datetime.timezone.utc)
        now = int(t.timestamp()) - 10 * 86400
        r = self.run_tool(extra=['--now', str(now)])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('days_left=10', r.stdout)
        self.assertIn('in 10 days', r.stderr)
        self.assert_lists()


if __name__ == '__main__':
    unittest.main()
