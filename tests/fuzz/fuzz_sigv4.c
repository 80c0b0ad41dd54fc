/*
 * Fuzz target for aws/sigv4: UriEncode, path normalisation, the canonical
 * URI and query, and whole canonical requests on arbitrary input.
 *
 * Input: byte 0 holds flags (bit 0 normalize_path, bit 1 query mode, bit 2
 * sign_body_header, bit 3 session token, bit 4 omit_session_token, bit 5
 * UNSIGNED-PAYLOAD); the rest is "path\nquery\nName:value\n...\n\nbody".
 * The helpers also get the whole input as raw bytes.  Properties checked
 * (abort on violation): UriEncode only emits unreserved bytes, '/' and %XX
 * and decodes back to its input; normalisation is idempotent and leaves no
 * empty, "." or ".." segment; the canonical query is a fixed point.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/sigv4.h"
#include "core/buf.h"
#include "core/log.h"

#define MAX_FUZZ_HEADERS 32

static int
unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* UriEncode writes upper-case hex only */
}

static void
check_encode(const uint8_t *data, size_t size, int encode_slash)
{
    struct buf b;
    size_t i = 0, j = 0;

    buf_init(&b, 4 * size + 16);
    if (sigv4_uri_encode((const char *)data, size, encode_slash, &b) != AGENT_OK)
        abort();
    while (i < b.len) {
        unsigned char c = (unsigned char)b.data[i];

        if (c == '%') {
            if (b.len - i < 3 || hexval((unsigned char)b.data[i + 1]) < 0 ||
                hexval((unsigned char)b.data[i + 2]) < 0)
                abort();
            c = (unsigned char)(hexval((unsigned char)b.data[i + 1]) * 16 +
                                hexval((unsigned char)b.data[i + 2]));
            /* Encoded only when it had to be. */
            if (unreserved(c) || (c == '/' && !encode_slash))
                abort();
            i += 3;
        } else {
            if (!unreserved(c) && !(c == '/' && !encode_slash))
                abort();
            i++;
        }
        if (j >= size || data[j] != c)
            abort();
        j++;
    }
    if (j != size)
        abort();
    buf_cleanup(&b);
}

static void
check_normalize(const uint8_t *data, size_t size)
{
    struct buf once, twice;
    size_t i, start = 0;

    buf_init(&once, size + 16);
    buf_init(&twice, size + 16);
    if (sigv4_normalize_path((const char *)data, size, &once) != AGENT_OK)
        abort();
    if (once.len > size + 1)
        abort();
    if (size > 0 && data[0] == '/' && (once.len == 0 || once.data[0] != '/'))
        abort();
    /* No empty (but the leading and trailing ones), "." or ".." segment remains. */
    for (i = 0; i <= once.len; i++) {
        if (i == once.len || once.data[i] == '/') {
            size_t n = i - start;
            const char *seg = buf_cstr(&once) + start; /* never NULL + 0 */

            if ((n == 0 && start != 0 && i != once.len) || (n == 1 && seg[0] == '.') ||
                (n == 2 && seg[0] == '.' && seg[1] == '.'))
                abort();
            start = i + 1;
        }
    }
    if (sigv4_normalize_path(once.data, once.len, &twice) != AGENT_OK)
        abort();
    if (once.len > 0 && (twice.len != once.len || memcmp(twice.data, once.data, once.len) != 0))
        abort();
    buf_cleanup(&once);
    buf_cleanup(&twice);
}

static void
check_query(const char *query)
{
    struct buf once, twice;

    buf_init(&once, SIGV4_MAX_CANONICAL);
    buf_init(&twice, SIGV4_MAX_CANONICAL);
    if (sigv4_canonical_query(query, &once) == AGENT_OK) {
        if (sigv4_canonical_query(buf_cstr(&once), &twice) != AGENT_OK)
            abort();
        if (strcmp(buf_cstr(&once), buf_cstr(&twice)) != 0)
            abort();
    }
    buf_cleanup(&once);
    buf_cleanup(&twice);
}

/* Splits s at the first '\n' (replaced by NUL); returns what follows, or NULL. */
static char *
cut_line(char *s, char *end)
{
    char *nl = memchr(s, '\n', (size_t)(end - s));

    if (nl == NULL)
        return NULL;
    *nl = '\0';
    return nl + 1;
}

static void
check_request(const uint8_t *data, size_t size)
{
    struct sigv4_header headers[MAX_FUZZ_HEADERS + 1];
    struct sigv4_request req;
    struct sigv4_params p;
    struct sigv4_signed s;
    struct buf b;
    char *text, *end, *cur, *next;
    unsigned flags;
    size_t n = 0;

    if (size < 1)
        return;
    flags = data[0];
    text = malloc(size + 1);
    if (text == NULL)
        return;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    end = text + size - 1;

    memset(&req, 0, sizeof(req));
    memset(&p, 0, sizeof(p));
    req.method = "POST";
    req.path = text;
    cur = cut_line(text, end);
    if (cur != NULL) {
        req.query = cur;
        cur = cut_line(cur, end);
    }
    headers[n].name = "Host";
    headers[n].value = "example.amazonaws.com";
    n++;
    while (cur != NULL && cur < end && *cur != '\n' && n <= MAX_FUZZ_HEADERS) {
        char *colon;

        next = cut_line(cur, end);
        colon = strchr(cur, ':');
        if (colon != NULL) {
            *colon = '\0';
            headers[n].name = cur;
            headers[n].value = colon + 1;
            n++;
        }
        cur = next;
    }
    if (cur != NULL && cur < end && *cur == '\n')
        cur++;
    req.headers = headers;
    req.n_headers = n;
    if (cur != NULL && cur < end) {
        req.body = cur;
        req.body_len = (size_t)(end - cur);
    }
    if (flags & 0x20)
        req.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
    p.access_key_id = "AKIDEXAMPLE";
    p.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    p.session_token = (flags & 0x08) ? "FQoGZXIvYXdzEXAMPLE/+=" : NULL;
    p.region = "us-east-1";
    p.service = "service";
    p.now = 1440938160;
    p.normalize_path = flags & 0x01;
    p.sign_body_header = (flags & 0x04) != 0;
    p.omit_session_token = (flags & 0x10) != 0;
    p.expires_s = 3600;

    check_query(req.query);
    buf_init_secret(&b, SIGV4_MAX_CANONICAL);
    (void)sigv4_canonical_uri(req.path, p.normalize_path, &b);
    buf_reset(&b);
    if (sigv4_canonical_request(&req, &p, (flags & 0x02) ? SIGV4_MODE_QUERY : SIGV4_MODE_HEADER,
                                &b) == AGENT_OK) {
        /* Six lines at least, and the payload hash last. */
        const char *last = strrchr(buf_cstr(&b), '\n');

        if (last == NULL || (req.payload_hash == NULL && strlen(last + 1) != 64))
            abort();
    }
    buf_reset(&b);
    (void)sigv4_presign_query(&req, &p, &b);
    if (sigv4_sign_headers(&req, &p, &s) == AGENT_OK) {
        if (strlen(s.signature) != SIGV4_SIGNATURE_HEX_LEN || s.n_headers < 2)
            abort();
    }
    sigv4_signed_cleanup(&s);
    buf_cleanup(&b);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;

    /* The signer logs every refused input; keep the fuzzer's output readable. */
    if (!quiet) {
        int fd = open("/dev/null", O_WRONLY);

        if (fd != -1)
            log_set_fd(fd);
        quiet = 1;
    }
    if (size > 64 * 1024)
        return 0;
    check_encode(data, size, 0);
    check_encode(data, size, 1);
    check_normalize(data, size);
    check_request(data, size);
    return 0;
}
