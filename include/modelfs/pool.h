/*
** pool.h -- threads of the mount's own for work that may take long (decodes).
**
** A FUSE loop thread that meets a request needing a decode hands the request
** to the pool as a job and goes back to the loop, so requests that need no
** decode always find a loop thread, however many slow files decode at once
** (libfuse lets any thread answer a request).  Jobs run in the order
** submitted, at most RUN at once; ready ones (whose decode another thread just
** finished) go first.  A job that has run a slice while others wait steps
** aside at its next pool_pause, parked on its thread, and a thread takes the
** waiting job: a quick job never waits for slow ones asked before it.  The
** threads, hence the jobs begun and not ended (and the decodes' memory), are
** at most CAP; at the cap nothing steps aside and the order stands.
*/
#ifndef MODELFS_POOL_H
#define MODELFS_POOL_H

#include <stdint.h>

typedef struct PoolJob PoolJob;
struct PoolJob {
  PoolJob *next;
  /* Does the work and frees the job.  With stopping set (the pool is going
  ** away) it must only answer "no" and free: nothing will decode any more. */
  void (*run)(PoolJob *j, int stopping);
};

typedef struct Pool Pool;

/* A pool running at most RUN jobs at once on at most CAP threads, started as
** jobs come (a daemon forks after setup: threads made before would be lost);
** a job runs SLICE_NS before it steps aside.  NULL when out of memory. */
Pool *pool_new(unsigned run, unsigned cap, uint64_t slice_ns);
/* Queue J (at the back), or at the front a list of ready jobs.  After
** pool_stop, J runs at once with stopping set. */
void pool_submit(Pool *p, PoolJob *j);
void pool_submit_ready(Pool *p, PoolJob *list);
/* A job's checkpoint (a decode's, ~1 ms apart): when it has run its slice and a
** job waits for which a thread is there or can be made, park it here until a
** slot is free that no queued job takes (or the pool stops).  Returns at once
** off the pool's threads. */
void pool_pause(Pool *p);
/* Let the jobs running finish (a decode sees its stop flag, set before),
** end the threads, and run the jobs still queued with stopping set. */
void pool_stop(Pool *p);
void pool_free(Pool *p);   /* stops it first */

#endif
