/*
** pool.c -- a bounded set of threads running jobs the FUSE loop must not wait
** for (see pool.h).
**
** Must never: run more jobs at once than its threads; lose a job (each is run
** exactly once, with stopping set once the pool stops); hold its lock while a
** job runs.
*/
#include <pthread.h>
#include <stdlib.h>
#include "modelfs/pool.h"

struct Pool {
  pthread_mutex_t lock;
  pthread_cond_t work;          /* a job was queued, or the pool stops */
  PoolJob *head, *tail;         /* queued jobs, first to run first */
  size_t queued;
  pthread_t *threads;
  unsigned nthreads, max;
  unsigned idle;                /* threads waiting for a job */
  unsigned starting;            /* threads created that have not taken a job yet */
  int stopping, stopped;
};

Pool *pool_new(unsigned threads) {
  Pool *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->max = threads ? threads : 1;
  p->threads = calloc(p->max, sizeof *p->threads);
  if (p->threads == NULL) {
    free(p);
    return NULL;
  }
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->work, NULL);
  return p;
}

static void *pool_main(void *arg) {
  Pool *p = arg;
  pthread_mutex_lock(&p->lock);
  p->starting--;
  for (;;) {
    while (p->head == NULL && !p->stopping) {
      p->idle++;
      pthread_cond_wait(&p->work, &p->lock);
      p->idle--;
    }
    if (p->stopping) break;
    PoolJob *j = p->head;
    p->head = j->next;
    if (p->head == NULL) p->tail = NULL;
    p->queued--;
    pthread_mutex_unlock(&p->lock);
    j->run(j, 0);
    pthread_mutex_lock(&p->lock);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/* Under the lock.  One more thread while more jobs wait than threads idle
** and there is room; none started (no memory for one) still leaves the job queued for the
** threads there are -- and at least one thread must be there. */
static int grow(Pool *p) {
  while (p->queued > p->idle + p->starting && p->nthreads < p->max && !p->stopping) {
    if (pthread_create(&p->threads[p->nthreads], NULL, pool_main, p) != 0)
      return p->nthreads == 0 ? -1 : 0;
    p->nthreads++;
    p->starting++;
  }
  return 0;   /* stopping: what is queued is drained by pool_stop */
}

static void enqueue(Pool *p, PoolJob *first, PoolJob *last, int front) {
  for (PoolJob *j = first; j != last; j = j->next) p->queued++;
  p->queued++;
  if (front) {
    last->next = p->head;
    p->head = first;
    if (p->tail == NULL) p->tail = last;
  } else {
    last->next = NULL;
    if (p->tail) p->tail->next = first; else p->head = first;
    p->tail = last;
  }
}

static void submit(Pool *p, PoolJob *first, int front) {
  if (first == NULL) return;
  PoolJob *last = first;
  if (front) while (last->next) last = last->next;
  else first->next = NULL;
  pthread_mutex_lock(&p->lock);
  int now = p->stopped;
  if (!now) {
    enqueue(p, first, last, front);
    now = grow(p) != 0;
    if (now) {   /* no thread at all: take them back and answer them here */
      p->head = p->tail = NULL;
      p->queued = 0;
    }
    pthread_cond_broadcast(&p->work);
  }
  pthread_mutex_unlock(&p->lock);
  if (now) {
    while (first) {
      PoolJob *next = first->next;
      first->run(first, 1);
      first = next;
    }
  }
}

void pool_submit(Pool *p, PoolJob *j) { submit(p, j, 0); }

void pool_submit_ready(Pool *p, PoolJob *list) { submit(p, list, 1); }

void pool_stop(Pool *p) {
  if (p == NULL) return;
  pthread_mutex_lock(&p->lock);
  if (p->stopped) {
    pthread_mutex_unlock(&p->lock);
    return;
  }
  p->stopping = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->lock);
  for (unsigned i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  pthread_mutex_lock(&p->lock);
  p->stopped = 1;
  PoolJob *j = p->head;
  p->head = p->tail = NULL;
  p->queued = 0;
  pthread_mutex_unlock(&p->lock);
  while (j) {
    PoolJob *next = j->next;
    j->run(j, 1);
    j = next;
  }
}

void pool_free(Pool *p) {
  if (p == NULL) return;
  pool_stop(p);
  pthread_cond_destroy(&p->work);
  pthread_mutex_destroy(&p->lock);
  free(p->threads);
  free(p);
}
