#include "core/diff.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Myers' diff gives up past this many changed lines (memory grows with its square). */
#define DIFF_MAX_D 1024

struct dline {
    const char *p;
    size_t len; /* with the "\n" when there is one */
    uint64_t h;
};

enum dop {
    OP_EQ,
    OP_DEL,
    OP_INS
};

static uint64_t
fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

size_t
diff_count_lines(const char *s, size_t n)
{
    size_t i, c = 0;

    for (i = 0; i < n; i++)
        c += s[i] == '\n';
    return c + (n > 0 && s[n - 1] != '\n');
}

static struct dline *
to_lines(const char *s, size_t n, size_t *count)
{
    struct dline *l;
    size_t i = 0, k = 0, st;

    *count = diff_count_lines(s, n);
    l = calloc(*count + 1, sizeof(*l));
    if (l == NULL)
        return NULL;
    while (i < n) {
        st = i;
        while (i < n && s[i] != '\n')
            i++;
        if (i < n)
            i++;
        l[k].p = s + st;
        l[k].len = i - st;
        l[k].h = fnv1a(l[k].p, l[k].len);
        k++;
    }
    return l;
}

static int
line_eq(const struct dline *a, const struct dline *b)
{
    return a->h == b->h && a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/*
 * Myers' O(ND) diff of a[0..n) and b[0..m) into ops (n + m entries at
 * most), with the V array of each round kept for the walk back (2d+1
 * entries for round d).  Returns the number of ops, or (size_t)-1 when more
 * than DIFF_MAX_D lines differ (or on out of memory: *nomem = 1).
 */
static size_t
myers(const struct dline *a, size_t n, const struct dline *b, size_t m, unsigned char *ops,
      int *nomem)
{
    long N = (long)n, M = (long)m, maxd = N + M, d, k, x, y, dd;
    long *v, **trace = NULL;
    size_t nops = 0, i;
    long found = -1;

    *nomem = 0;
    if (maxd > DIFF_MAX_D)
        maxd = DIFF_MAX_D;
    v = calloc((size_t)(2 * maxd + 3), sizeof(*v));
    trace = calloc((size_t)maxd + 1, sizeof(*trace));
    if (v == NULL || trace == NULL) {
        *nomem = 1;
        goto out;
    }
#define V(k) v[(k) + maxd + 1]
    for (d = 0; d <= maxd && found < 0; d++) {
        for (k = -d; k <= d; k += 2) {
            if (k == -d || (k != d && V(k - 1) < V(k + 1)))
                x = V(k + 1);
            else
                x = V(k - 1) + 1;
            y = x - k;
            while (x < N && y < M && line_eq(&a[x], &b[y])) {
                x++;
                y++;
            }
            V(k) = x;
            if (x >= N && y >= M) {
                found = d;
                break;
            }
        }
        trace[d] = malloc((size_t)(2 * d + 1) * sizeof(long));
        if (trace[d] == NULL) {
            *nomem = 1;
            goto out;
        }
        for (k = -d; k <= d; k++)
            trace[d][k + d] = V(k);
    }
#undef V
    if (found < 0)
        goto out;

    /* Walk back from (N, M), writing the ops from the end. */
    x = N;
    y = M;
    nops = (size_t)(N + M); /* an upper bound; compacted below */
    i = nops;
    for (dd = found; dd > 0; dd--) {
        const long *pv = trace[dd - 1];
        long pk, px, py, mx, my;

        /* The previous round's values sit at pv[k + (dd - 1)]. */
        k = x - y;
        if (k == -dd || (k != dd && pv[k - 1 + (dd - 1)] < pv[k + 1 + (dd - 1)]))
            pk = k + 1;
        else
            pk = k - 1;
        px = pv[pk + (dd - 1)];
        py = px - pk;
        /* (mx, my): where the move of this round ended and the snake began. */
        mx = pk == k + 1 ? px : px + 1;
        my = pk == k + 1 ? py + 1 : py;
        while (x > mx && y > my) {
            ops[--i] = OP_EQ;
            x--;
            y--;
        }
        ops[--i] = pk == k + 1 ? OP_INS : OP_DEL;
        x = px;
        y = py;
    }
    while (x > 0 && y > 0) {
        ops[--i] = OP_EQ;
        x--;
        y--;
    }
    memmove(ops, ops + i, nops - i);
    nops -= i;
out:
    if (trace != NULL) {
        for (d = 0; d <= maxd; d++)
            free(trace[d]);
    }
    free(trace);
    free(v);
    if (found < 0)
        return (size_t)-1;
    return nops;
}

static enum agent_rc
put_line(struct buf *out, char tag, const struct dline *l)
{
    enum agent_rc rc = buf_putc(out, tag);

    if (rc == AGENT_OK)
        rc = buf_append(out, l->p, l->len);
    if (rc == AGENT_OK && (l->len == 0 || l->p[l->len - 1] != '\n'))
        rc = buf_puts(out, "\n\\ No newline at end of file\n");
    return rc;
}

/* Hunk ranges: "l,n" with GNU diff's conventions (",1" left out; empty: the line before). */
static enum agent_rc
put_range(struct buf *out, char sign, size_t start, size_t count)
{
    if (count == 1)
        return buf_printf(out, "%c%zu", sign, start + 1);
    if (count == 0)
        return buf_printf(out, "%c%zu,0", sign, start);
    return buf_printf(out, "%c%zu,%zu", sign, start + 1, count);
}

static enum agent_rc
emit_hunks(const unsigned char *ops, size_t nops, const struct dline *a, const struct dline *b,
           struct buf *out)
{
    size_t i = 0, hs, he, j, ai, bi, a0, b0, ac, bc, last_change;
    size_t *apos = NULL, *bpos = NULL;
    enum agent_rc rc = AGENT_OK;

    /* Line positions before each op. */
    apos = calloc(nops + 1, sizeof(*apos));
    bpos = calloc(nops + 1, sizeof(*bpos));
    if (apos == NULL || bpos == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    for (j = 0, ai = 0, bi = 0; j < nops; j++) {
        apos[j] = ai;
        bpos[j] = bi;
        ai += ops[j] != OP_INS;
        bi += ops[j] != OP_DEL;
    }
    apos[nops] = ai;
    bpos[nops] = bi;

    while (i < nops && rc == AGENT_OK) {
        while (i < nops && ops[i] == OP_EQ)
            i++;
        if (i == nops)
            break;
        /* A hunk: changes joined while fewer than 2*context equal lines separate them. */
        hs = i > DIFF_CONTEXT ? i - DIFF_CONTEXT : 0;
        last_change = i;
        j = i;
        while (j < nops) {
            if (ops[j] != OP_EQ) {
                last_change = j;
                j++;
                continue;
            }
            if (j - last_change > 2 * DIFF_CONTEXT)
                break;
            j++;
        }
        he = last_change + 1 + DIFF_CONTEXT;
        if (he > nops)
            he = nops;
        a0 = apos[hs];
        b0 = bpos[hs];
        ac = apos[he] - a0;
        bc = bpos[he] - b0;
        rc = buf_puts(out, "@@ ");
        if (rc == AGENT_OK)
            rc = put_range(out, '-', a0, ac);
        if (rc == AGENT_OK)
            rc = buf_putc(out, ' ');
        if (rc == AGENT_OK)
            rc = put_range(out, '+', b0, bc);
        if (rc == AGENT_OK)
            rc = buf_puts(out, " @@\n");
        for (j = hs; j < he && rc == AGENT_OK; j++) {
            if (ops[j] == OP_EQ)
                rc = put_line(out, ' ', &a[apos[j]]);
            else if (ops[j] == OP_DEL)
                rc = put_line(out, '-', &a[apos[j]]);
            else
                rc = put_line(out, '+', &b[bpos[j]]);
        }
        i = he;
    }
out:
    free(apos);
    free(bpos);
    return rc;
}

/*
 * Within each run of changed lines, the removed lines come first, then the
 * added ones (as GNU diff prints them); any order is a valid edit, this one
 * reads best.
 */
static void
normalise_runs(unsigned char *ops, size_t n)
{
    size_t i = 0, s, dels, j;

    while (i < n) {
        if (ops[i] == OP_EQ) {
            i++;
            continue;
        }
        s = i;
        dels = 0;
        while (i < n && ops[i] != OP_EQ)
            dels += ops[i++] == OP_DEL;
        for (j = s; j < i; j++)
            ops[j] = j - s < dels ? OP_DEL : OP_INS;
    }
}

enum agent_rc
diff_unified(const char *label, const char *a, size_t alen, const char *b, size_t blen,
             struct buf *out)
{
    struct dline *la = NULL, *lb = NULL;
    unsigned char *ops = NULL;
    size_t na, nb, pre = 0, suf = 0, nops, j, mid;
    size_t start_len = out->len;
    int nomem = 0;
    enum agent_rc rc = AGENT_OK;

    if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0))
        return AGENT_OK;
    if (label == NULL)
        label = "file";
    while (*label == '/')
        label++;
    la = to_lines(alen > 0 ? a : "", alen, &na);
    lb = to_lines(blen > 0 ? b : "", blen, &nb);
    ops = malloc(na + nb + 1);
    if (la == NULL || lb == NULL || ops == NULL) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    /* The common start and end need no search. */
    while (pre < na && pre < nb && line_eq(&la[pre], &lb[pre]))
        pre++;
    while (suf < na - pre && suf < nb - pre && line_eq(&la[na - 1 - suf], &lb[nb - 1 - suf]))
        suf++;
    for (j = 0; j < pre; j++)
        ops[j] = OP_EQ;
    mid = myers(la + pre, na - pre - suf, lb + pre, nb - pre - suf, ops + pre, &nomem);
    if (nomem) {
        rc = AGENT_ERR_NOMEM;
        goto out;
    }
    if (mid == (size_t)-1) {
        /* Too different: the whole middle goes, the new middle comes. */
        mid = 0;
        for (j = 0; j < na - pre - suf; j++)
            ops[pre + mid++] = OP_DEL;
        for (j = 0; j < nb - pre - suf; j++)
            ops[pre + mid++] = OP_INS;
    }
    nops = pre + mid;
    for (j = 0; j < suf; j++)
        ops[nops++] = OP_EQ;
    normalise_runs(ops, nops);

    rc = buf_printf(out, "--- a/%s\n+++ b/%s\n", label, label);
    if (rc == AGENT_OK)
        rc = emit_hunks(ops, nops, la, lb, out);
out:
    if (rc != AGENT_OK && out->data != NULL) {
        out->len = start_len;
        out->data[start_len] = '\0';
    }
    free(la);
    free(lb);
    free(ops);
    return rc;
}
