#include "core/interrupt.h"

#include <signal.h>
#include <string.h>

/* Written only by the handler (and the test seam); read by the agent. */
static volatile sig_atomic_t last_sig;
static volatile sig_atomic_t n_received;
static sig_atomic_t n_acknowledged;

static void
on_signal(int sig)
{
    last_sig = sig;
    n_received = n_received + 1;
}

void
interrupt_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking call returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int
interrupt_pending(void)
{
    return n_received != n_acknowledged ? (int)last_sig : 0;
}

void
interrupt_acknowledge(void)
{
    n_acknowledged = n_received;
}

const char *
interrupt_name(int sig)
{
    switch (sig) {
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "a signal";
    }
}

void
interrupt_raise_for_test(int sig)
{
    if (sig == 0) {
        last_sig = 0;
        n_received = 0;
        n_acknowledged = 0;
        return;
    }
    on_signal(sig);
}
