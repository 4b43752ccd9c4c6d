#include "util/thread.h"

#include <pthread.h>
#include <signal.h>

void thread_block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	/* fails only for an invalid "how", which this is not */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}
