/*
** pool.h -- threads of the mount's own for work that may take long (decodes).
**
** A FUSE loop thread that meets a request needing a decode hands the request
** to the pool as a job and goes back to the loop, so requests that need no
** decode always find a loop thread, however many slow files decode at once
** (libfuse lets any thread answer a request).  The pool runs at most its
** number of threads of jobs at once, which bounds the decodes, hence their
** memory, together.  Jobs run in the order submitted; ready ones (whose
** decode another thread just finished) go first.
*/
#ifndef MODELFS_POOL_H
#define MODELFS_POOL_H

typedef struct PoolJob PoolJob;
struct PoolJob {
  PoolJob *next;
  /* Does the work and frees the job.  With stopping set (the pool is going
  ** away) it must only answer "no" and free: nothing will decode any more. */
  void (*run)(PoolJob *j, int stopping);
};

typedef struct Pool Pool;

/* A pool of at most THREADS threads, started as jobs come (a daemon forks
** after setup: threads made before would be lost).  NULL when out of memory. */
Pool *pool_new(unsigned threads);
/* Queue J (at the back), or at the front a list of ready jobs.  After
** pool_stop, J runs at once with stopping set. */
void pool_submit(Pool *p, PoolJob *j);
void pool_submit_ready(Pool *p, PoolJob *list);
/* Let the jobs running finish (a decode sees its stop flag, set before),
** end the threads, and run the jobs still queued with stopping set. */
void pool_stop(Pool *p);
void pool_free(Pool *p);   /* stops it first */

#endif
