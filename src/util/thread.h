/* thread.h — what every thread of ours but the loop does first. */
#ifndef INTERVENE_UTIL_THREAD_H
#define INTERVENE_UTIL_THREAD_H

/* Block the process signals (SIGTERM, SIGINT, SIGHUP, SIGCHLD) in the calling thread:
 * they are the loop thread's, handled by its evsignal events. */
void thread_block_signals(void);

#endif
