/*
 * interrupt: SIGTERM and SIGINT during a run.  The handler only records the
 * signal; waits, polls, child waits and transfers check interrupt_pending()
 * and stop, so the pipeline can record the cause and signal failure.
 */
#ifndef AGENT_CORE_INTERRUPT_H
#define AGENT_CORE_INTERRUPT_H

/* Installs the handler for SIGTERM and SIGINT (no SA_RESTART). */
void interrupt_install(void);

/* The last signal received and not yet acknowledged (SIGTERM, SIGINT), or 0. */
int interrupt_pending(void);

/*
 * Marks the signals received so far as handled: interrupt_pending() is 0
 * until another one arrives (the run then signals failure undisturbed).
 */
void interrupt_acknowledge(void);

/* "SIGTERM", "SIGINT", or "signal N" for sig (static storage). */
const char *interrupt_name(int sig);

/* For tests: records sig as if the handler had run (0 forgets everything). */
void interrupt_raise_for_test(int sig);

#endif
