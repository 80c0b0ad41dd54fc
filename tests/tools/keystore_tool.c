/*
 * keystore_tool: runs the tls step's engine (wcs/keystore) on PEM files,
 * for tests/integ/test_keystore_keytool.py.
 *
 *   keystore_tool --cert FILE [--chain FILE] --key FILE [--alias NAME]
 *                 --password-file FILE|- --out KEYSTORE [--gid N] [--now EPOCH]
 *
 * The password is read from a file, or from stdin with "-" (its first
 * line; a trailing "\n" or "\r\n" is dropped), never from argv.  Steps:
 * keystore_check (a failure is printed as "keystore_tool: <reason>" on
 * stderr, exit 1, KEYSTORE untouched); the check's facts on stdout as
 * name=value lines; keystore_matches against an existing KEYSTORE
 * ("unchanged", exit 0); else keystore_build + keystore_write ("written",
 * exit 0).  Exit 2 on a usage error, 1 on any other failure.
 */
#include <sys/types.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/rc.h"
#include "core/str.h"
#include "wcs/keystore.h"

static void
usage(void)
{
    fprintf(stderr, "usage: keystore_tool --cert FILE [--chain FILE] --key FILE [--alias NAME]\n"
                    "                     --password-file FILE|- --out KEYSTORE [--gid N]"
                    " [--now EPOCH]\n");
}

/* Reads path ("-" = stdin) into b; 0 on success. */
static int
read_input(const char *what, const char *path, struct buf *b)
{
    char chunk[4096];
    size_t n;
    enum agent_rc rc;

    if (strcmp(path, "-") != 0) {
        rc = fileio_read(path, b);
        if (rc != AGENT_OK) {
            fprintf(stderr, "keystore_tool: %s: %s: %s\n", what, path, agent_rc_str(rc));
            return -1;
        }
        return 0;
    }
    for (;;) {
        n = fread(chunk, 1, sizeof(chunk), stdin);
        if (n > 0 && buf_append(b, chunk, n) != AGENT_OK) {
            str_wipe(chunk, sizeof(chunk));
            fprintf(stderr, "keystore_tool: %s: stdin is too large\n", what);
            return -1;
        }
        if (n < sizeof(chunk))
            break;
    }
    str_wipe(chunk, sizeof(chunk));
    if (ferror(stdin)) {
        fprintf(stderr, "keystore_tool: %s: cannot read stdin\n", what);
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"cert", required_argument, NULL, 'c'},
        {"chain", required_argument, NULL, 'h'},
        {"key", required_argument, NULL, 'k'},
        {"alias", required_argument, NULL, 'a'},
        {"password-file", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},
        {"gid", required_argument, NULL, 'g'},
        {"now", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *cert_path = NULL, *chain_path = NULL, *key_path = NULL, *pass_path = NULL;
    const char *out_path = NULL, *alias = "wcs";
    struct buf cert, chain, key, pass, cur, p12;
    struct keystore_input in;
    struct keystore_info info;
    char err[512], *nl;
    long long v;
    gid_t gid = (gid_t)-1;
    time_t now = time(NULL);
    int c, same = 0, status = 1;
    enum agent_rc rc;

    log_init(0, LOG_FMT_TEXT);
    for (;;) {
        c = getopt_long(argc, argv, "", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'c':
            cert_path = optarg;
            break;
        case 'h':
            chain_path = optarg;
            break;
        case 'k':
            key_path = optarg;
            break;
        case 'a':
            alias = optarg;
            break;
        case 'p':
            pass_path = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'g':
            if (str_to_ll(optarg, 0, 0x7fffffff, &v) != AGENT_OK) {
                usage();
                return 2;
            }
            gid = (gid_t)v;
            break;
        case 'n':
            if (str_to_ll(optarg, 0, 253402300799LL, &v) != AGENT_OK) {
                usage();
                return 2;
            }
            now = (time_t)v;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (optind != argc || cert_path == NULL || key_path == NULL || pass_path == NULL ||
        out_path == NULL) {
        usage();
        return 2;
    }

    buf_init(&cert, KEYSTORE_PEM_MAX);
    buf_init(&chain, KEYSTORE_PEM_MAX);
    buf_init_secret(&key, KEYSTORE_PEM_MAX);
    buf_init_secret(&pass, KEYSTORE_PASSWORD_MAX + 2);
    buf_init_secret(&cur, KEYSTORE_P12_MAX);
    buf_init_secret(&p12, KEYSTORE_P12_MAX);
    if (read_input("--cert", cert_path, &cert) != 0 ||
        (chain_path != NULL && read_input("--chain", chain_path, &chain) != 0) ||
        read_input("--key", key_path, &key) != 0 ||
        read_input("--password-file", pass_path, &pass) != 0)
        goto out;
    /* The first line of the password file; nothing of it is ever printed. */
    if (pass.len > 0) {
        nl = memchr(pass.data, '\n', pass.len);
        if (nl != NULL) {
            str_wipe(nl, pass.len - (size_t)(nl - pass.data));
            pass.len = (size_t)(nl - pass.data);
        }
        if (pass.len > 0 && pass.data[pass.len - 1] == '\r')
            pass.data[--pass.len] = '\0';
        if (log_redact_add(pass.data, pass.len) != AGENT_OK)
            goto out;
    }

    memset(&in, 0, sizeof(in));
    in.cert_pem = buf_cstr(&cert);
    in.cert_len = cert.len;
    in.chain_pem = chain_path != NULL ? buf_cstr(&chain) : NULL;
    in.chain_len = chain.len;
    in.key_pem = buf_cstr(&key);
    in.key_len = key.len;
    in.alias = alias;
    in.password = buf_cstr(&pass);
    in.now = now;

    rc = keystore_check(&in, &info, err, sizeof(err));
    if (rc != AGENT_OK) {
        fprintf(stderr, "keystore_tool: %s\n", err);
        goto out;
    }
    printf("subject=%s\nnot_after=%s\ndays_left=%d\nchain_len=%zu\n", info.subject, info.not_after,
           info.days_left, info.chain_len);
    printf("cert_sha256=%s\nkey_sha256=%s\nchain_sha256=%s\n", info.cert_sha256, info.key_sha256,
           info.chain_sha256);

    rc = fileio_read(out_path, &cur);
    if (rc != AGENT_OK && rc != AGENT_ERR_ABSENT)
        goto out;
    if (rc == AGENT_OK) {
        if (keystore_matches(cur.data, cur.len, in.password, alias, &info, &same) != AGENT_OK)
            goto out;
        if (same) {
            printf("unchanged\n");
            status = 0;
            goto out;
        }
    }
    if (keystore_build(&in, &p12) != AGENT_OK)
        goto out;
    if (keystore_write(out_path, &p12, gid) != AGENT_OK)
        goto out;
    printf("written\n");
    status = 0;
out:
    buf_cleanup(&cert);
    buf_cleanup(&chain);
    buf_cleanup(&key);
    buf_cleanup(&pass);
    buf_cleanup(&cur);
    buf_cleanup(&p12);
    log_redact_clear();
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}
