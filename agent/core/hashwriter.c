/* sync_file_range(2) */
#define _GNU_SOURCE 1

#include "core/hashwriter.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/str.h"

struct hashwriter {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on every change of queued, done or quit */
    unsigned char *slot[HASHWRITER_SLOTS];
    size_t len[HASHWRITER_SLOTS];
    unsigned long queued, done; /* slots handed over, slots written; queued - done <= SLOTS */
    size_t fill;                /* bytes in slot[queued % SLOTS], the one the caller fills */
    int fd;
    EVP_MD *sha256; /* fetched once: an init does no provider lookup */
    EVP_MD_CTX *md;
    enum agent_rc err; /* the first failure since set_fd; later slots are dropped */
    size_t unsynced;   /* bytes written since writeback was last started (thread's own) */
    int err_no;
    int quit;
};

/* Writes all of p[0..n) to fd; 0, or the errno of the failure. */
static int
write_all(int fd, const unsigned char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            return errno != 0 ? errno : EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *
writer_main(void *arg)
{
    struct hashwriter *w = arg;
    enum agent_rc rc;
    unsigned i;
    int fd, failed, e;
    EVP_MD_CTX *md;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->done == w->queued && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->done == w->queued)
            break;
        i = (unsigned)(w->done % HASHWRITER_SLOTS);
        fd = w->fd;
        md = w->md;
        failed = w->err != AGENT_OK;
        pthread_mutex_unlock(&w->mu);

        rc = AGENT_OK;
        e = 0;
        if (!failed) {
            e = write_all(fd, w->slot[i], w->len[i]);
            if (e != 0)
                rc = AGENT_ERR_IO;
            else if ((w->unsynced += w->len[i]) >= HASHWRITER_WRITEBACK) {
                /* Start writing back now, so that the caller's fsync finds little to do. */
                (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
                w->unsynced = 0;
            }
            if (rc == AGENT_OK && EVP_DigestUpdate(md, w->slot[i], w->len[i]) != 1)
                rc = AGENT_ERR_NOMEM;
        }

        pthread_mutex_lock(&w->mu);
        if (rc != AGENT_OK && w->err == AGENT_OK) {
            w->err = rc;
            w->err_no = e;
        }
        w->done++;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct hashwriter *
hashwriter_new(void)
{
    struct hashwriter *w = calloc(1, sizeof(*w));
    sigset_t all, old;
    unsigned i;
    int r;

    if (w == NULL)
        return NULL;
    w->fd = -1;
    w->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    w->md = EVP_MD_CTX_new();
    if (w->sha256 == NULL || w->md == NULL || EVP_DigestInit_ex(w->md, w->sha256, NULL) != 1)
        goto fail;
    for (i = 0; i < HASHWRITER_SLOTS; i++) {
        w->slot[i] = malloc(HASHWRITER_SLOT_SIZE);
        if (w->slot[i] == NULL)
            goto fail;
    }
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        goto fail;
    }
    /* The thread inherits a full mask: SIGTERM and SIGINT reach the caller's thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&w->th, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        goto fail;
    }
    return w;
fail:
    for (i = 0; i < HASHWRITER_SLOTS; i++)
        free(w->slot[i]);
    EVP_MD_CTX_free(w->md);
    EVP_MD_free(w->sha256);
    free(w);
    return NULL;
}

/* Hands the slot being filled to the thread. */
static void
submit(struct hashwriter *w)
{
    pthread_mutex_lock(&w->mu);
    w->len[w->queued % HASHWRITER_SLOTS] = w->fill;
    w->queued++;
    w->fill = 0;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The kept failure, with errno restored; AGENT_OK when none.  Called with mu held. */
static enum agent_rc
kept_failure(const struct hashwriter *w)
{
    if (w->err == AGENT_ERR_IO)
        errno = w->err_no;
    return w->err;
}

enum agent_rc
hashwriter_drain(struct hashwriter *w)
{
    enum agent_rc rc;

    if (w->fill > 0)
        submit(w);
    pthread_mutex_lock(&w->mu);
    while (w->done != w->queued)
        pthread_cond_wait(&w->cv, &w->mu);
    rc = kept_failure(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

enum agent_rc
hashwriter_write(struct hashwriter *w, const void *p, size_t n)
{
    const unsigned char *c = p;
    enum agent_rc rc;
    size_t k;

    while (n > 0) {
        if (w->fill == 0) {
            /* A new slot: wait until the thread has finished with it. */
            pthread_mutex_lock(&w->mu);
            while (w->queued - w->done >= HASHWRITER_SLOTS)
                pthread_cond_wait(&w->cv, &w->mu);
            rc = kept_failure(w);
            pthread_mutex_unlock(&w->mu);
            if (rc != AGENT_OK)
                return rc;
        }
        k = HASHWRITER_SLOT_SIZE - w->fill;
        if (k > n)
            k = n;
        memcpy(w->slot[w->queued % HASHWRITER_SLOTS] + w->fill, c, k);
        w->fill += k;
        c += k;
        n -= k;
        if (w->fill == HASHWRITER_SLOT_SIZE)
            submit(w);
    }
    pthread_mutex_lock(&w->mu);
    rc = kept_failure(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void
hashwriter_set_fd(struct hashwriter *w, int fd)
{
    (void)hashwriter_drain(w);
    pthread_mutex_lock(&w->mu);
    w->fd = fd;
    w->err = AGENT_OK;
    w->err_no = 0;
    pthread_mutex_unlock(&w->mu);
}

enum agent_rc
hashwriter_reset(struct hashwriter *w)
{
    (void)hashwriter_drain(w);
    return EVP_DigestInit_ex(w->md, w->sha256, NULL) == 1 ? AGENT_OK : AGENT_ERR_NOMEM;
}

enum agent_rc
hashwriter_absorb(struct hashwriter *w, const void *p, size_t n)
{
    (void)hashwriter_drain(w);
    return EVP_DigestUpdate(w->md, p, n) == 1 ? AGENT_OK : AGENT_ERR_NOMEM;
}

void
hashwriter_digest(struct hashwriter *w, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    (void)hashwriter_drain(w);
    out[0] = '\0';
    if (EVP_DigestFinal_ex(w->md, d, &n) == 1 && n == 32)
        str_hex(d, n, out, 65);
}

void
hashwriter_free(struct hashwriter *w)
{
    unsigned i;

    if (w == NULL)
        return;
    (void)hashwriter_drain(w);
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    for (i = 0; i < HASHWRITER_SLOTS; i++)
        free(w->slot[i]);
    EVP_MD_CTX_free(w->md);
    EVP_MD_free(w->sha256);
    free(w);
}
