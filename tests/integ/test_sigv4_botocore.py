"""Differential test: aws/sigv4 (through tests/tools/sigv4_sign) against botocore.

A seeded generator builds well over 1000 requests; botocore signs each one
(SigV4Auth, or S3SigV4Auth for S3) at a fixed time, the C tool signs them all
in one run, and the canonical requests, signatures and added headers must be
identical.  Tampered copies must then sign differently, so the comparison
cannot pass vacuously.

What each side is given (the request as the agent puts it on the wire):

- path: the wire path, the same string for both.  Every service but S3: the
  path the agent sends, percent-encoded (fully, or leaving sub-delims raw the
  way curl does) or raw (unicode, spaces); botocore normalises it and quotes
  it again (quote(path, safe='/~')), the signer does the same.  S3: the key
  encoded as botocore's serializer sends it (quote(key, safe='/~')), sometimes
  with lower-case hex; both sign it verbatim, dot segments and '//' included.
  A raw sub-delim in an S3 path is not generated: botocore would sign it raw,
  AWS (and this signer) encoded, and the agent never sends one.
- query: either (a) the canonical wire form in the URL (botocore signs the URL
  query verbatim) or (b) the parameters as botocore's `params` (botocore
  encodes them) while the tool gets a wire query encoded in varied ways
  (upper/lower-case hex, unreserved characters encoded, '+', ' ', '/', ':',
  '@', '=' in values and unicode left raw); the signer decodes and re-encodes.
  Repeated keys, empty keys and keys without '=' are included.  Empty pieces
  ("a&&b") are not: the signer skips them, botocore signs them as "=".
- headers: the same (name, value) pairs in the same order: mixed-case names,
  repeated names (also differing in case), values with runs of spaces and
  tabs, empty values, and headers botocore never signs (User-Agent, ...).
- body: empty, text or binary, hashed by both; or UNSIGNED-PAYLOAD.
"""

import base64
import datetime
import json
import os
import random
import string
import subprocess
import unittest
from unittest import mock
from urllib.parse import quote

try:
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
except ImportError:  # pragma: no cover - botocore is on the C image
    SigV4Auth = None

SEED = 0x51C4
COUNT = 1500
TAMPERED = 60

UNRESERVED = string.ascii_letters + string.digits + '-._~'
SUB_DELIMS = "!$&'()*+,;=:@"
UNICODE = ['é', 'ሴ', '日本', 'Ω', '😀', 'ü', '\u00a0']
REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2', 'us-gov-west-1', 'cn-north-1']
SERVICES = ['ec2', 'elasticloadbalancing', 'autoscaling', 'ssm', 'secretsmanager', 'sts',
            'cloudformation', 'execute-api', 'service']
METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH']
HOSTS = ['example.amazonaws.com', '127.0.0.1:8443', 'ssm.eu-west-1.amazonaws.com',
         'bucket.s3.us-east-1.amazonaws.com', '[::1]:9000', 'EXAMPLE.com']
HEADER_NAMES = ['Content-Type', 'X-Amz-Target', 'Range', 'Accept', 'X-Custom', 'My-Header1',
                'Content-Md5', 'If-None-Match', 'X-Amz-Meta-Note', 'Date-Like',
                # never signed by botocore, nor by the signer
                'User-Agent', 'Expect', 'Connection', 'X-Amzn-Trace-Id', 'Transfer-Encoding',
                'Keep-Alive', 'TE', 'Upgrade', 'Trailer', 'Proxy-Authorization']


def tool_path():
    d = os.environ.get('TEST_TOOLS_DIR')
    return os.path.join(d, 'sigv4_sign') if d else None


def mixed_case(rng, s):
    return ''.join(c.upper() if rng.random() < 0.5 else c.lower() for c in s)


def rand_text(rng, alphabet, lo, hi):
    return ''.join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def rand_segment(rng):
    kind = rng.random()
    if kind < 0.08:
        return rng.choice(['.', '..', ''])
    parts = []
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        if r < 0.45:
            parts.append(rand_text(rng, UNRESERVED, 1, 6))
        elif r < 0.6:
            parts.append(rng.choice(UNICODE))
        elif r < 0.75:
            parts.append(rng.choice(SUB_DELIMS))
        elif r < 0.85:
            parts.append(' ' * rng.randint(1, 2))
        elif r < 0.92:
            parts.append('%' + rng.choice(['20', '2F', 'zz', '', '4']))
        else:
            parts.append(rng.choice(['"', '<', '>', '[', ']', '{', '}', '|', '\\', '^', '`']))
    return ''.join(parts)


def rand_key_path(rng):
    return '/'.join(rand_segment(rng) for _ in range(rng.randint(1, 5)))


def lower_some_hex(rng, s):
    """Lower-cases the hex digits of some %XX triplets (both sides sign them verbatim)."""
    out, i = [], 0
    while i < len(s):
        if s[i] == '%' and rng.random() < 0.3:
            out.append(s[i:i + 3].lower())
            i += 3
        else:
            out.append(s[i])
            i += 1
    return ''.join(out)


def wire_path(rng, s3):
    key = rand_key_path(rng)
    if s3:
        return lower_some_hex(rng, '/' + quote(key, safe='/~')), 's3-encoded'
    r = rng.random()
    if r < 0.45:
        return '/' + quote(key, safe='/~'), 'encoded'
    if r < 0.75:
        return '/' + quote(key, safe='/~' + SUB_DELIMS), 'curl-like'
    # Raw: whatever the URL parser keeps as the path ('?' and '#' would end it).
    raw = key.replace('?', '').replace('#', '')
    return '/' + raw, 'raw'


def rand_param_text(rng):
    r = rng.random()
    if r < 0.1:
        return ''
    alphabet = UNRESERVED + SUB_DELIMS + ' /?%#"' + ''.join(UNICODE)
    return rand_text(rng, alphabet, 1, 8)


def wire_encode(rng, s, is_key):
    """An encoding of s that decodes back to s, as a sloppy client might send it."""
    out = []
    for ch in s:
        raw_ok = ch in UNRESERVED or ch in "!$'()*,;:@/? +" or ord(ch) > 127
        if ch == '=' and not is_key:
            raw_ok = True
        if raw_ok and rng.random() < 0.6:
            out.append(ch)
        else:
            enc = ''.join('%%%02X' % b for b in ch.encode('utf-8'))
            out.append(enc.lower() if rng.random() < 0.3 else enc)
    return ''.join(out)


def bare_key(rng, k, v):
    """Whether to send "k" rather than "k=" for an empty value (never an empty piece)."""
    return v == '' and k != '' and rng.random() < 0.5


def rand_query(rng):
    """(botocore url query or None, botocore params or None, wire query or None)."""
    r = rng.random()
    if r < 0.2:
        return None, None, None
    if r < 0.23:
        return '', None, ''
    n = rng.randint(1, 6)
    keys = [rand_param_text(rng) for _ in range(n)]
    if n > 1 and rng.random() < 0.5:
        keys[-1] = keys[0]  # a repeated key
    pairs = [(k, rand_param_text(rng)) for k in keys]
    if r < 0.6:
        # (a) canonical wire form in the URL: botocore signs it verbatim.
        pieces = []
        for k, v in pairs:
            ek, ev = quote(k, safe='-_.~'), quote(v, safe='-_.~')
            pieces.append(ek if bare_key(rng, k, v) else ek + '=' + ev)
        q = '&'.join(pieces)
        return q, None, q
    # (b) parameters for botocore, a sloppy wire form for the tool.
    pieces = []
    for k, v in pairs:
        ek, ev = wire_encode(rng, k, True), wire_encode(rng, v, False)
        pieces.append(ek if bare_key(rng, k, v) else ek + '=' + ev)
    return None, pairs, '&'.join(pieces)


def rand_header_value(rng):
    r = rng.random()
    if r < 0.1:
        return ''
    if r < 0.15:
        return rng.choice([' ', '\t', '  \t '])
    words = [rand_text(rng, string.ascii_letters + string.digits + string.punctuation, 1, 8)
             for _ in range(rng.randint(1, 4))]
    seps = [rng.choice([' ', '  ', '\t', ' \t  ', '   ']) for _ in words]
    lead = rng.choice(['', '', ' ', '\t ', '   '])
    trail = rng.choice(['', '', ' ', ' \t', '    '])
    return lead + ''.join(w + s for w, s in zip(words, seps)).rstrip(' \t') + trail


def rand_headers(rng, host):
    headers = [(mixed_case(rng, 'Host') if rng.random() < 0.5 else 'Host', host)]
    for name in rng.sample(HEADER_NAMES, rng.randint(0, 6)):
        headers.append((mixed_case(rng, name), rand_header_value(rng)))
        if rng.random() < 0.15:  # repeated, maybe in another case
            headers.append((mixed_case(rng, name), rand_header_value(rng)))
    rng.shuffle(headers)
    return headers


def rand_body(rng):
    r = rng.random()
    if r < 0.35:
        return b''
    if r < 0.7:
        return rand_text(rng, string.printable, 1, 200).encode()
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))


def make_cases(rng, count):
    cases = []
    for i in range(count):
        s3 = rng.random() < 0.35
        path, path_kind = wire_path(rng, s3)
        url_query, params, query = rand_query(rng)
        host = rng.choice(HOSTS)
        token = None
        if rng.random() < 0.4:
            token = rand_text(rng, string.ascii_letters + string.digits + '+/=', 16, 400)
        cases.append({
            'id': i,
            'method': rng.choice(METHODS),
            'path': path,
            'path_kind': path_kind,
            'query': query,
            'url_query': url_query,
            'params': params,
            'host': host,
            'headers': rand_headers(rng, host),
            'body': rand_body(rng),
            'region': rng.choice(REGIONS),
            'service': 's3' if s3 else rng.choice(SERVICES),
            'now': rng.randint(31536000, 4102444799),  # 1971 .. 2099
            'key': 'AKIA' + rand_text(rng, string.ascii_uppercase + string.digits, 12, 16),
            'secret': rand_text(rng, string.ascii_letters + string.digits + '/+', 40, 40),
            'token': token,
            's3': s3,
            'unsigned': rng.random() < 0.1,
        })
    return cases


def tool_input(case):
    obj = {k: case[k] for k in ('id', 'method', 'path', 'query', 'region', 'service', 'now',
                                'key', 'secret', 'token', 's3')}
    obj['headers'] = [list(h) for h in case['headers']]
    obj['body_b64'] = base64.b64encode(case['body']).decode()
    if case['unsigned']:
        obj['payload_hash'] = 'UNSIGNED-PAYLOAD'
    return json.dumps(obj)


def botocore_sign(case):
    """(canonical request, signature, added headers) from botocore."""
    creds = Credentials(case['key'], case['secret'], case['token'])
    cls = S3SigV4Auth if case['s3'] else SigV4Auth
    auth = cls(creds, case['service'], case['region'])
    url = 'http://' + case['host'] + case['path']
    if case['url_query'] is not None:
        url += '?' + case['url_query']
    req = AWSRequest(method=case['method'], url=url, data=case['body'],
                     params=case['params'] or {})
    for name, value in case['headers']:
        req.headers[name] = value  # HTTPHeaders: appends, so repeats are kept
    if case['unsigned']:
        if case['s3']:
            req.context['client_config'] = Config(s3={'payload_signing_enabled': False})
        else:
            req.context['payload_signing_enabled'] = False
    when = datetime.datetime.fromtimestamp(case['now'], tz=datetime.timezone.utc)
    with mock.patch('botocore.auth.get_current_datetime',
                    return_value=when.replace(tzinfo=None)):
        auth.add_auth(req)
    authz = req.headers['Authorization']
    signature = authz.rsplit('Signature=', 1)[1]
    added = {'authorization': authz, 'x-amz-date': req.headers['X-Amz-Date']}
    if case['token'] is not None:
        added['x-amz-security-token'] = req.headers['X-Amz-Security-Token']
    if 'X-Amz-Content-SHA256' in req.headers:
        added['x-amz-content-sha256'] = req.headers['X-Amz-Content-SHA256']
    del req.headers['Authorization']
    return auth.canonical_request(req), signature, added


def run_tool(lines):
    proc = subprocess.run([tool_path()], input='\n'.join(lines) + '\n', capture_output=True,
                          text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise AssertionError('sigv4_sign exited %d: %s' % (proc.returncode, proc.stderr))
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    if len(out) != len(lines):
        raise AssertionError('sigv4_sign printed %d lines for %d requests'
                             % (len(out), len(lines)))
    return out


def tamper(rng, case, how):
    t = dict(case)
    t['id'] = 1000000 + case['id'] * 10 + how
    if how == 0:
        body = bytearray(case['body'] or b'x')
        body[rng.randrange(len(body))] ^= 0x01
        t['body'] = bytes(body) if case['body'] else b'x'
    elif how == 1:
        t['path'] = case['path'] + 'x'
    elif how == 2:
        t['headers'] = [(n, v + 'x') if n.lower() == 'host' else (n, v)
                        for n, v in case['headers']]
    elif how == 3:
        t['now'] = case['now'] + 1
    elif how == 4:
        t['secret'] = case['secret'][:-1] + ('A' if case['secret'][-1] != 'A' else 'B')
    elif how == 5:
        t['query'] = (case['query'] + '&' if case['query'] else '') + 'extra=1'
    elif how == 6:
        t['token'] = (case['token'] or '') + 'T'
    return t


@unittest.skipIf(SigV4Auth is None, 'botocore is not installed')
class SigV4BotocoreTest(unittest.TestCase):
    def setUp(self):
        path = tool_path()
        if path is None or not os.access(path, os.X_OK):
            self.skipTest('sigv4_sign tool not found (TEST_TOOLS_DIR=%r)'
                          % os.environ.get('TEST_TOOLS_DIR'))

    def test_botocore_agrees(self):
        rng = random.Random(SEED)
        cases = make_cases(rng, COUNT)
        expected = [botocore_sign(c) for c in cases]

        # Tampered copies of some requests, signed in the same run.
        tampered = []
        for case in rng.sample(cases, TAMPERED):
            for how in range(7):
                if how == 0 and case['unsigned']:
                    continue  # an unsigned payload is not covered by the signature
                tampered.append(tamper(rng, case, how))

        out = run_tool([tool_input(c) for c in cases + tampered])
        mismatches = []
        kinds = {}
        for case, (creq, sig, added), got in zip(cases, expected, out):
            self.assertEqual(got.get('id'), case['id'])
            kinds[case['path_kind']] = kinds.get(case['path_kind'], 0) + 1
            if 'error' in got:
                mismatches.append((case, 'tool error: ' + got['error'], creq))
                continue
            got_added = {n.lower(): v for n, v in got['headers']}
            if got['canonical_request'] != creq:
                mismatches.append((case, 'canonical request', creq, got['canonical_request']))
            elif got['signature'] != sig:
                mismatches.append((case, 'signature', sig, got['signature']))
            elif got_added != added:
                mismatches.append((case, 'added headers', added, got_added))
        for m in mismatches[:5]:
            print('MISMATCH', m[1], json.dumps({k: v for k, v in m[0].items() if k != 'body'},
                                               ensure_ascii=True))
            for part in m[2:]:
                print('  ', repr(part))
        self.assertEqual(len(mismatches), 0, '%d of %d requests differ from botocore'
                         % (len(mismatches), len(cases)))

        # The comparison is not vacuous: all signatures differ, tampering changes them.
        signatures = {sig for _, sig, _ in expected}
        self.assertEqual(len(signatures), len(cases))
        original = {c['id']: e[1] for c, e in zip(cases, expected)}
        for t, got in zip(tampered, out[len(cases):]):
            self.assertEqual(got.get('id'), t['id'])
            self.assertNotIn('error', got, t)
            self.assertNotEqual(got['signature'], original[(t['id'] - 1000000) // 10],
                                'tampering kind %d left the signature unchanged'
                                % (t['id'] % 10))
        print('sigv4 vs botocore: %d requests identical (%d s3, %d with a token, '
              '%d unsigned payload; paths %s), %d tampered requests all rejected'
              % (len(cases), sum(c['s3'] for c in cases),
                 sum(c['token'] is not None for c in cases),
                 sum(c['unsigned'] for c in cases), kinds, len(tampered)))


if __name__ == '__main__':
    unittest.main()
