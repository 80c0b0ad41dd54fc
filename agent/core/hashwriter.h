/*
 * hashwriter: writes a byte stream to a file and computes its SHA-256 in a
 * second thread, so that a download (net/download) receives while the
 * previous pieces are written and hashed.  Hashing in series capped a
 * loopback download at about half of curl's speed; with the work split over
 * two threads the receiving thread only copies each piece into a slot.
 *
 * The thread owns nothing but its slots: the caller opens and closes the
 * file and reads the digest.  A piece handed over is copied; slots are
 * handed over when full, at most HASHWRITER_SLOTS at a time (the caller
 * waits for a free one).  The thread blocks every signal (handlers run in
 * the caller's thread) and never logs: a write failure is kept (its errno)
 * and returned by the next call, and the rest of the stream is dropped.
 * Every HASHWRITER_WRITEBACK bytes the thread starts the writeback of the
 * file (sync_file_range, without waiting), so that the caller's final
 * fsync finds little left to write.
 *
 *   w = hashwriter_new();           start the thread (NULL: out of memory
 *                                   or no thread; the caller may fall back)
 *   hashwriter_reset(w);            a new hash
 *   hashwriter_absorb(w, p, n);     hash bytes already in the file (a
 *                                   resumed download's part), in this thread
 *   hashwriter_set_fd(w, fd);       where the following bytes are written
 *   hashwriter_write(w, p, n);      queue bytes (copied)
 *   hashwriter_drain(w);            wait until every queued byte is written
 *                                   and hashed; the file's write status
 *   hashwriter_digest(w, out);      64 hex digits of what was hashed
 *   hashwriter_free(w);             drain, stop and join
 *
 * Every call but the thread's own work happens in the caller's thread.
 * While bytes are queued the file is being written; drain before fsync,
 * close, rename or a new set_fd.
 */
#ifndef AGENT_CORE_HASHWRITER_H
#define AGENT_CORE_HASHWRITER_H

#include <stddef.h>

#include "core/rc.h"

/* Slots and their size: 4 MiB in flight at most. */
#define HASHWRITER_SLOTS     4
#define HASHWRITER_SLOT_SIZE (1024u * 1024u)
/* The thread starts the writeback of the file (sync_file_range) every this many bytes. */
#define HASHWRITER_WRITEBACK (8u * 1024u * 1024u)

struct hashwriter;

/* A writer with its thread started; NULL when memory or the thread cannot be had. */
struct hashwriter *hashwriter_new(void);

/* Drains, stops the thread, frees; accepts NULL. */
void hashwriter_free(struct hashwriter *w);

/* Starts a new SHA-256 (drains first).  AGENT_ERR_NOMEM when OpenSSL fails. */
enum agent_rc hashwriter_reset(struct hashwriter *w);

/* Hashes n bytes without writing them (drains first).  AGENT_ERR_NOMEM when OpenSSL fails. */
enum agent_rc hashwriter_absorb(struct hashwriter *w, const void *p, size_t n);

/* The file the following bytes go to (drains first); clears a kept write failure. */
void hashwriter_set_fd(struct hashwriter *w, int fd);

/*
 * Queues n bytes (copied) to be written to the fd and hashed.  AGENT_OK, or
 * the kept failure of an earlier piece: AGENT_ERR_IO (errno set as the
 * failed write left it) or AGENT_ERR_NOMEM (hashing failed).
 */
enum agent_rc hashwriter_write(struct hashwriter *w, const void *p, size_t n);

/* Waits until every queued byte is written and hashed; the status as for hashwriter_write. */
enum agent_rc hashwriter_drain(struct hashwriter *w);

/* Drains, then the SHA-256 of the bytes since the last reset, as 64 hex digits in out[65]. */
void hashwriter_digest(struct hashwriter *w, char out[65]);

#endif
