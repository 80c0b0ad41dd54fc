/*
 * state: <state_dir>/state.json (design.md §4), written atomically after
 * every step, and the run lock (<state_dir>/lock, an exclusive flock).
 *
 * Every free-text field (detail, error) passes through the log redactor
 * before it is written, so no registered secret can reach the file.
 */
#ifndef AGENT_NODE_STATE_H
#define AGENT_NODE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rc.h"

#define STATE_VERSION 1
#define STATE_FILE    "state.json"
#define STATE_LOCK    "lock"
#define STATE_MAX     (256 * 1024)

enum step_id {
    STEP_DISCOVER,
    STEP_SECRETS,
    STEP_UPDATE,
    STEP_CONFIGURE,
    STEP_LICENCE,
    STEP_TLS,
    STEP_SERVICE,
    STEP_READY,
    STEP_REGISTER,
    STEP_SIGNAL,
    STEP__MAX
};

enum step_result {
    STEP_RESULT_PENDING,
    STEP_RESULT_OK,
    STEP_RESULT_CHANGED,
    STEP_RESULT_SKIPPED,
    STEP_RESULT_FAILED,
    STEP_RESULT__MAX
};

enum run_result {
    RUN_RESULT_NONE,
    RUN_RESULT_RUNNING,
    RUN_RESULT_OK,
    RUN_RESULT_FAILED,
    RUN_RESULT__MAX
};

/*
 * Bits of ready.signalled: each lifecycle action once (design.md §4, §8.5).
 * STATE_SIGNALLED_LIFECYCLE is the in-service launch action
 * ("lifecycle:in-service"; files of 0.1 say "lifecycle"),
 * STATE_SIGNALLED_LIFECYCLE_WARM the warm-pool one ("lifecycle:warm").
 */
#define STATE_SIGNALLED_LIFECYCLE      0x1
#define STATE_SIGNALLED_CLOUDFORMATION 0x2
#define STATE_SIGNALLED_SYSTEMD        0x4
#define STATE_SIGNALLED_LIFECYCLE_WARM 0x8

/* phase (design.md §4, §8.5). */
enum state_phase {
    STATE_PHASE_NONE,      /* not yet recorded (absent from the file) */
    STATE_PHASE_WARM,      /* prepared in a warm pool: no licence, not registered */
    STATE_PHASE_IN_SERVICE /* has entered service */
};

struct state_step {
    enum step_result result;
    char started[32]; /* RFC 3339, "" when the step did not start */
    int64_t duration_ms;
    int attempts;
    char detail[256]; /* short text */
    char error[256];  /* short text, "" when none */
};

/* The drain object of state.json (design.md §4, §8.2). */
enum drain_state {
    DRAIN_STATE_NONE, /* no drain yet: the object is absent */
    DRAIN_STATE_DRAINING,
    DRAIN_STATE_DRAINED,
    DRAIN_STATE_TIMED_OUT,
    DRAIN_STATE_CANCELLED,
    DRAIN_STATE__MAX
};

/* The counters a drain watches: drain.until's fields plus connections, connections_websocket. */
#define STATE_COUNTS_MAX 8
#define STATE_COUNT_NAME 64

struct state_counts {
    size_t n;

    struct {
        char name[STATE_COUNT_NAME];
        long long value;
    } item[STATE_COUNTS_MAX];
};

struct state_drain {
    enum drain_state state;
    char reason[16];   /* scale-in, spot, standby, rebalance, stop, manual */
    char started[32];  /* RFC 3339 */
    char finished[32]; /* "" while draining */
    struct state_counts start_counts, last_counts;
};

/* The last reconcile of watch (design.md §8.1; watch.reconcile_interval). */
enum reconcile_result {
    RECONCILE_NONE,    /* none yet: the object is absent */
    RECONCILE_OK,      /* the run found nothing to change */
    RECONCILE_CHANGED, /* the run applied a change (the restart done or deferred: see detail) */
    RECONCILE_FAILED,  /* the run failed or did not start; tried again next interval */
    RECONCILE__MAX
};

struct state_reconcile {
    enum reconcile_result result;
    char at[32];      /* RFC 3339: when it ended */
    char run_id[40];  /* the run it started; "" when that run recorded nothing */
    char detail[256]; /* what changed, or the innermost cause of the failure */
};

/* An EC2 tag value: 256 characters (bytes here) and the NUL. */
#define STATE_RESULT_TAG_MAX 257

struct state {
    char instance_id[32];

    struct {
        char id[40];
        char started[32];
        char finished[32];
        enum run_result result;
        int exit_code;
    } run;
    struct state_step steps[STEP__MAX];

    struct {
        char config_sha256[65];
        char wcs_version[64];
        char licence_sha256[65];
        char certificate_sha256[65];
        char certificate_not_after[32]; /* RFC 3339 expiry of that certificate */
        char download_etag[256];
        char download_last_modified[64];
    } applied;

    struct {
        char at[32];
        unsigned signalled; /* STATE_SIGNALLED_* */
    } ready;

    struct state_drain drain;         /* design.md §8.2; state DRAIN_STATE_NONE: absent */
    struct state_reconcile reconcile; /* design.md §8.1; RECONCILE_NONE: absent */
    /* The wcs-agent:result tag value last written (design.md §8.6), "" when none. */
    char result_tag[STATE_RESULT_TAG_MAX];

    enum state_phase phase;

    struct {
        /*
         * Why a WCS restart is still owed: a bit (1u << step) per step whose
         * change it applies (update, configure, licence, tls); 0 when none.
         * Set as soon as such a step changes a file, by restart.mode = defer,
         * cleared by the restart (design.md §8.3).
         */
        unsigned restart;
    } pending;

    /* When `deregister` took the node out of its load balancers; "" once registered again. */
    char deregistered[32];
};

/* "discover", ... for a step; NULL out of range. */
const char *state_step_name(enum step_id id);

/* The step called name; STEP__MAX when none. */
enum step_id state_step_by_name(const char *name);

const char *state_step_result_str(enum step_result r);

const char *state_run_result_str(enum run_result r);

/* "warm", "in-service"; "" for STATE_PHASE_NONE. */
const char *state_phase_str(enum state_phase p);

/* "configure, tls" for a pending.restart mask (step names in pipeline order; "" for 0). */
void state_steps_str(unsigned mask, char *out, size_t cap);

/* An empty state: no instance, no run, every step pending. */
void state_init(struct state *st);

/*
 * Reads <dir>/state.json into *st.  AGENT_ERR_ABSENT when there is none;
 * AGENT_ERR_PARSE (logged with the path) when it is not a state document.
 */
enum agent_rc state_load(const char *dir, struct state *st);

/* Serialises st as the JSON document of design.md §4 (redacted) into out. */
enum agent_rc state_to_json(const struct state *st, struct buf *out);

/* Parses a state document (also used by the fuzz target). */
enum agent_rc state_from_json(const char *json, size_t len, struct state *st);

/* Writes <dir>/state.json atomically with mode 0600. */
enum agent_rc state_save(const char *dir, const struct state *st);

/*
 * Moves <dir>/state.json aside as <dir>/state.json.previous (replacing an
 * older one).  AGENT_OK when there was nothing to move.
 */
enum agent_rc state_set_aside(const char *dir);

/*
 * Takes the exclusive run lock <dir>/lock without waiting.  *fd receives the
 * open descriptor (keep it open for the run; closing releases the lock).
 * AGENT_ERR_BUSY when another process holds it.
 */
enum agent_rc state_lock(const char *dir, int *fd);

/* As state_lock(), without logging when another process holds it. */
enum agent_rc state_lock_quiet(const char *dir, int *fd);

/* As state_load(), without logging a document that does not parse. */
enum agent_rc state_load_quiet(const char *dir, struct state *st);

/*
 * As state_lock_quiet(), waiting up to ms for a process that holds it (a
 * short write by another process); AGENT_ERR_BUSY after that.
 */
enum agent_rc state_lock_wait(const char *dir, int64_t ms, int *fd);

/* 1 when another process holds the lock now (for status). */
int state_lock_held(const char *dir);

/* Sets a step's detail / error text (truncated with "..." to fit; never fails). */
void state_step_set_detail(struct state_step *s, const char *text);

void state_step_set_error(struct state_step *s, const char *text);

/* "draining", "drained", "timed_out", "cancelled"; "" for DRAIN_STATE_NONE. */
const char *state_drain_str(enum drain_state d);

/* "ok", "changed", "failed"; "" for RECONCILE_NONE. */
const char *state_reconcile_str(enum reconcile_result r);

/* The value of the counter called name, or -1 when it is not recorded. */
long long state_counts_get(const struct state_counts *c, const char *name);

/* cJSON's version, for `version`. */
const char *state_json_library_version(void);

#endif
