/* posix_spawn_file_actions_addchdir_np() and _addclosefrom_np() are GNU extensions. */
#define _GNU_SOURCE
#include "core/spawn.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/str.h"

/* Time between SIGTERM and SIGKILL for a child past its timeout. */
#define SPAWN_KILL_GRACE_MS 2000
/* Longest poll() while the child runs, so its exit is noticed without EOF. */
#define SPAWN_POLL_SLICE_MS 100
#define SPAWN_CHUNK         16384
/* Reads per round of the loop: 64 x 16 KiB is the largest pipe size by default (1 MiB). */
#define SPAWN_READS_MAX 64

static const char *const default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C",
    NULL,
};

/*
 * A close-on-exec pipe whose two ends are both above 2: a dup2() in the
 * child onto an fd that already has that number would be a no-op that keeps
 * FD_CLOEXEC, and the child would lose the descriptor at exec.
 */
static int
make_pipe(int p[2])
{
    int raw[2], i, fd;

    if (pipe(raw) == -1)
        return -1;
    for (i = 0; i < 2; i++) {
        fd = fcntl(raw[i], F_DUPFD_CLOEXEC, 3);
        if (fd == -1) {
            int saved = errno;

            close(raw[0]);
            close(raw[1]);
            if (i == 1)
                close(p[0]);
            errno = saved;
            return -1;
        }
        close(raw[i]);
        p[i] = fd;
    }
    return 0;
}

static int
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl == -1)
        return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void
close_fd(int *fd)
{
    if (*fd != -1) {
        close(*fd);
        *fd = -1;
    }
}

/* The child leads its own process group, so a timeout also ends what it started. */
static void
kill_child(pid_t pid, int sig)
{
    if (kill(-pid, sig) == -1)
        kill(pid, sig);
}

/*
 * Reads what is available, closing *fd at end of file.  At most
 * SPAWN_READS_MAX chunks per call, so a child that writes without pause
 * cannot keep the loop from checking the timeout; that is still more than
 * a pipe holds, so one call after the exit drains what the child left.
 */
static void
read_output(int *fd, struct spawn_result *r)
{
    char chunk[SPAWN_CHUNK];
    size_t room, take;
    ssize_t n;
    int i;

    for (i = 0; i < SPAWN_READS_MAX; i++) {
        n = read(*fd, chunk, sizeof(chunk));
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            close_fd(fd);
            return;
        }
        if (n == 0) {
            close_fd(fd);
            return;
        }
        room = r->output.max - r->output.len;
        take = (size_t)n < room ? (size_t)n : room;
        if (take < (size_t)n)
            r->truncated = 1;
        if (take > 0 && buf_append(&r->output, chunk, take) != AGENT_OK)
            r->truncated = 1;
    }
}

/* Writes what the pipe takes; closes it when done or when the child stopped reading. */
static void
write_input(int *fd, const char *data, size_t len, size_t *off)
{
    ssize_t w;

    while (*off < len) {
        w = write(*fd, data + *off, len - *off);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* EPIPE: the child closed its stdin; what it did is in its status. */
            close_fd(fd);
            return;
        }
        *off += (size_t)w;
    }
    close_fd(fd);
}

static void
record_status(int status, struct spawn_result *r)
{
    if (WIFEXITED(status)) {
        r->exited = 1;
        r->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        r->signal = WTERMSIG(status);
    }
}

/* out_w -1: the child keeps the agent's stdout and stderr. */
static enum agent_rc
start_child(const struct spawn_opts *o, int in_r, int out_w, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t all, none;
    char *const *argv = (char *const *)(uintptr_t)o->argv;
    char *const *envp = (char *const *)(uintptr_t)(o->env != NULL ? o->env : default_env);
    const char *prog = o->path != NULL ? o->path : o->argv[0];
    int err, fa_ok = 0, attr_ok = 0;

    err = posix_spawn_file_actions_init(&fa);
    if (err != 0)
        goto out;
    fa_ok = 1;
    err = posix_spawnattr_init(&attr);
    if (err != 0)
        goto out;
    attr_ok = 1;

    if (in_r != -1)
        err = posix_spawn_file_actions_adddup2(&fa, in_r, 0);
    else
        err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (err == 0 && out_w != -1)
        err = posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    if (err == 0 && out_w != -1)
        err = posix_spawn_file_actions_adddup2(&fa, out_w, 2);
    /* Whatever else the agent has open (lock file, sockets) stays with it. */
    if (err == 0)
        err = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (err == 0 && o->cwd != NULL)
        err = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    if (err != 0)
        goto out;

    /* Default dispositions and an empty mask, whatever the agent has changed. */
    sigfillset(&all);
    sigemptyset(&none);
    err = posix_spawnattr_setsigdefault(&attr, &all);
    if (err == 0)
        err = posix_spawnattr_setsigmask(&attr, &none);
    if (err == 0)
        err = posix_spawnattr_setpgroup(&attr, 0);
    if (err == 0)
        err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                                  POSIX_SPAWN_SETPGROUP);
    if (err != 0)
        goto out;

    if (strchr(prog, '/') != NULL)
        err = posix_spawn(pid, prog, &fa, &attr, argv, envp);
    else
        err = posix_spawnp(pid, prog, &fa, &attr, argv, envp);
out:
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (err != 0) {
        errno = err;
        if (o->cwd != NULL)
            log_err("spawn: %s (in %s)", prog, o->cwd);
        else
            log_err("spawn: %s", prog);
        return AGENT_ERR_IO;
    }
    return AGENT_OK;
}

/*
 * SIGPIPE is blocked while the stdin feed runs, so a child that exits
 * without reading gives EPIPE instead of killing the agent.  A SIGPIPE
 * raised meanwhile is taken off the pending set before the old mask comes
 * back, which leaves the process's disposition untouched.
 */
struct sigpipe_guard {
    sigset_t old;
    int was_pending;
};

static void
sigpipe_block(struct sigpipe_guard *g)
{
    sigset_t set, pend;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pend);
    sigpending(&pend);
    g->was_pending = sigismember(&pend, SIGPIPE) == 1;
    sigprocmask(SIG_BLOCK, &set, &g->old);
}

static void
sigpipe_restore(struct sigpipe_guard *g)
{
    sigset_t set, pend;
    struct timespec zero = {0, 0};

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pend);
    if (!g->was_pending && sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE) == 1) {
        while (sigtimedwait(&set, NULL, &zero) == -1 && errno == EINTR)
            ;
    }
    sigprocmask(SIG_SETMASK, &g->old, NULL);
}

enum agent_rc
spawn_run(const struct spawn_opts *o, struct spawn_result *r)
{
    struct sigpipe_guard guard;
    struct pollfd pfd[2];
    struct deadline dl, kill_dl;
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    size_t off = 0;
    pid_t pid = -1, w;
    int status, reaped = 0, termed = 0, interrupted = 0, nfds, slice, saved;
    int64_t left;
    enum agent_rc rc;

    memset(r, 0, sizeof(*r));
    buf_init(&r->output, o != NULL ? o->output_max : 0);
    if (o == NULL || o->argv == NULL || o->argv[0] == NULL || o->argv[0][0] == '\0') {
        log_errx("spawn: no program given");
        return AGENT_ERR_INVAL;
    }

    sigpipe_block(&guard);
    if ((o->stdin_data != NULL && make_pipe(in) == -1) || make_pipe(out) == -1) {
        log_err("spawn: %s: pipe", o->argv[0]);
        rc = AGENT_ERR_IO;
        goto out;
    }
    if ((in[1] != -1 && set_nonblock(in[1]) == -1) || set_nonblock(out[0]) == -1) {
        log_err("spawn: %s: fcntl", o->argv[0]);
        rc = AGENT_ERR_IO;
        goto out;
    }
    log_debug("spawn: running %s", o->argv[0]);
    rc = start_child(o, in[0], out[1], &pid);
    close_fd(&in[0]);
    close_fd(&out[1]);
    if (rc != AGENT_OK) {
        pid = -1;
        goto out;
    }

    if (o->timeout_ms > 0)
        deadline_in(&dl, o->timeout_ms);
    else
        deadline_none(&dl);
    deadline_none(&kill_dl);
    if (in[1] != -1 && o->stdin_len == 0)
        close_fd(&in[1]);

    while (!reaped) {
        /* Past the timeout or on SIGTERM/SIGINT: TERM once, then KILL after the grace period. */
        if (!termed && (deadline_expired(&dl) || interrupt_pending() != 0)) {
            if (interrupt_pending() != 0)
                interrupted = 1;
            else
                r->timed_out = 1;
            termed = 1;
            kill_child(pid, SIGTERM);
            deadline_in(&kill_dl, SPAWN_KILL_GRACE_MS);
            close_fd(&in[1]);
        } else if (termed && kill_dl.end_ms != 0 && deadline_expired(&kill_dl)) {
            kill_child(pid, SIGKILL);
            deadline_none(&kill_dl);
        }

        nfds = 0;
        if (out[0] != -1) {
            pfd[nfds].fd = out[0];
            pfd[nfds].events = POLLIN;
            pfd[nfds].revents = 0;
            nfds++;
        }
        if (in[1] != -1) {
            pfd[nfds].fd = in[1];
            pfd[nfds].events = POLLOUT;
            pfd[nfds].revents = 0;
            nfds++;
        }
        /*
         * Without pipes to wait on only the exit is left: poll in 1 ms steps
         * (the child usually exits within a few; a coarser step added up to
         * 10 ms to every short command).
         */
        slice = nfds > 0 ? SPAWN_POLL_SLICE_MS : 1;
        left = deadline_cap_ms(termed ? &kill_dl : &dl, slice);
        if (left <= 0)
            left = 1;
        if (poll(nfds > 0 ? pfd : NULL, (nfds_t)nfds, (int)left) == -1 && errno != EINTR) {
            log_err("spawn: %s: poll", o->argv[0]);
            kill_child(pid, SIGKILL);
            rc = AGENT_ERR_IO;
            goto out;
        }
        if (out[0] != -1)
            read_output(&out[0], r);
        if (in[1] != -1)
            write_input(&in[1], o->stdin_data, o->stdin_len, &off);

        w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            reaped = 1;
            record_status(status, r);
            /* What the child wrote before exiting; a grandchild may hold the pipe open. */
            if (out[0] != -1)
                read_output(&out[0], r);
        } else if (w == -1 && errno != EINTR) {
            log_err("spawn: %s: waitpid", o->argv[0]);
            rc = AGENT_ERR_IO;
            pid = -1;
            goto out;
        }
    }
    pid = -1;
    if (interrupted) {
        log_errx("spawn: %s: stopped (%s)", o->argv[0], interrupt_name(interrupt_pending()));
        rc = AGENT_ERR_INTR;
    } else if (r->timed_out) {
        log_errx("spawn: %s: killed after %lld ms", o->argv[0], (long long)o->timeout_ms);
        rc = AGENT_ERR_TIMEOUT;
    } else {
        rc = AGENT_OK;
    }

out:
    saved = errno;
    /* Only on an internal failure: no child is left behind. */
    if (pid > 0) {
        while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
            ;
    }
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    sigpipe_restore(&guard);
    errno = saved;
    return rc;
}

enum agent_rc
spawn_start(const struct spawn_opts *o, pid_t *pid)
{
    enum agent_rc rc;

    *pid = -1;
    if (o == NULL || o->argv == NULL || o->argv[0] == NULL || o->argv[0][0] == '\0') {
        log_errx("spawn: no program given");
        return AGENT_ERR_INVAL;
    }
    log_debug("spawn: starting %s", o->path != NULL ? o->path : o->argv[0]);
    rc = start_child(o, -1, -1, pid);
    if (rc != AGENT_OK)
        *pid = -1;
    return rc;
}

int
spawn_reap(pid_t pid, struct spawn_result *r)
{
    int status;
    pid_t w;

    memset(r, 0, sizeof(*r));
    buf_init(&r->output, 0);
    do
        w = waitpid(pid, &status, WNOHANG);
    while (w == -1 && errno == EINTR);
    if (w == 0)
        return 0;
    if (w != pid) {
        log_err("spawn: waitpid %ld", (long)pid);
        return -1;
    }
    record_status(status, r);
    return 1;
}

void
spawn_signal(pid_t pid, int sig)
{
    if (pid > 0)
        kill_child(pid, sig);
}

void
spawn_result_cleanup(struct spawn_result *r)
{
    if (r == NULL)
        return;
    buf_cleanup(&r->output);
}

void
spawn_last_line(const struct buf *output, char *out, size_t cap)
{
    const char *s = buf_cstr(output), *e = s + output->len, *b;
    char tmp[160];
    char *red;

    out[0] = '\0';
    while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    b = e;
    while (b > s && b[-1] != '\n')
        b--;
    if (b == e)
        return;
    snprintf(tmp, sizeof(tmp), "%.*s", (int)(e - b), b);
    red = log_redact(tmp);
    snprintf(out, cap, "%s", red != NULL ? red : "(output not shown)");
    free(red);
}
