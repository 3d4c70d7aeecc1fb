/*
** pool.c -- a bounded set of threads running jobs the FUSE loop must not wait
** for (see pool.h).
**
** At most `run` jobs run at once.  A job that has run a slice while others wait
** in the queue steps aside at its next checkpoint (pool_pause): it keeps its
** thread, parked, and a thread takes the waiting job; jobs aside come back in
** the order they stepped aside, when a slot is free and nothing queued can take
** it.  Threads, hence jobs begun and not ended, are at most `cap`: at the cap
** nothing steps aside and jobs run in the order queued.
**
** Must never: run more than `run` jobs at once, or start more than `cap`
** threads; lose a job (each is run exactly once, with stopping set once the
** pool stops); hold its lock while a job runs; keep a job aside while a slot
** is free that no queued job can take.
*/
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "modelfs/pool.h"

typedef struct Worker {
  Pool *pool;
  pthread_t tid;
  uint64_t since;               /* ns: its job began running, or came back */
} Worker;

struct Pool {
  pthread_mutex_t lock;
  pthread_cond_t work;          /* a job was queued, a slot freed, a turn came, or stop */
  PoolJob *head, *tail;         /* queued jobs, first to run first */
  size_t queued;
  Worker *workers;
  unsigned nthreads, cap;       /* threads started, and at most */
  unsigned running, run;        /* jobs running (not aside), and at most */
  unsigned idle;                /* threads waiting for a job */
  unsigned starting;            /* threads created that have not taken a job yet */
  uint64_t slice;               /* ns a job runs before it steps aside for others */
  uint64_t aside_next, aside_turn;   /* tickets: jobs aside come back in order */
  int stopping, stopped;
};

Pool *pool_new(unsigned run, unsigned cap, uint64_t slice_ns) {
  Pool *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->run = run ? run : 1;
  p->cap = cap > p->run ? cap : p->run;
  p->slice = slice_ns;
  p->workers = calloc(p->cap, sizeof *p->workers);
  if (p->workers == NULL) {
    free(p);
    return NULL;
  }
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->work, NULL);
  return p;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Under the lock.  A queued job may start: a slot is free. */
static int can_take(const Pool *p) {
  return p->head != NULL && p->running < p->run;
}

static void *pool_main(void *arg) {
  Worker *w = arg;
  Pool *p = w->pool;
  pthread_mutex_lock(&p->lock);
  p->starting--;
  for (;;) {
    while (!can_take(p) && !p->stopping) {
      p->idle++;
      pthread_cond_wait(&p->work, &p->lock);
      p->idle--;
    }
    if (p->stopping) break;
    PoolJob *j = p->head;
    p->head = j->next;
    if (p->head == NULL) p->tail = NULL;
    p->queued--;
    p->running++;
    w->since = now_ns();
    pthread_mutex_unlock(&p->lock);
    j->run(j, 0);
    pthread_mutex_lock(&p->lock);
    p->running--;
    pthread_cond_broadcast(&p->work);   /* a slot: for a queued job or one aside */
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/* Under the lock.  One more thread while more jobs wait than threads are ready
** for them and a slot is free for each, up to the cap.  A thread that cannot be
** made (no memory) makes the threads there are the cap -- and at least one
** thread must be there. */
static int grow(Pool *p) {
  while (p->queued > p->idle + p->starting && p->running + p->idle + p->starting < p->run &&
         p->nthreads < p->cap && !p->stopping) {
    Worker *w = &p->workers[p->nthreads];
    w->pool = p;
    if (pthread_create(&w->tid, NULL, pool_main, w) != 0) {
      if (p->nthreads == 0) return -1;
      p->cap = p->nthreads;
      return 0;
    }
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

/* Under the lock.  The calling thread's Worker, or NULL off the pool. */
static Worker *worker_of(Pool *p) {
  pthread_t self = pthread_self();
  for (unsigned i = 0; i < p->nthreads; i++)
    if (pthread_equal(p->workers[i].tid, self)) return &p->workers[i];
  return NULL;
}

/* Under the lock.  W's job has had its slice, a job waits, and a thread is
** there or can be made to run it (at the cap: no, the queue's order stands). */
static int steps_aside(Pool *p, const Worker *w) {
  return p->head != NULL && !p->stopping && now_ns() - w->since >= p->slice &&
         (p->idle + p->starting > 0 || p->nthreads < p->cap);
}

/* Under the lock.  A job aside may run again: its turn, a free slot, and no
** queued job a thread can take instead. */
static int comes_back(const Pool *p, uint64_t ticket) {
  return ticket == p->aside_turn && p->running < p->run &&
         (p->head == NULL || (p->idle + p->starting == 0 && p->nthreads >= p->cap));
}

void pool_pause(Pool *p) {
  if (p == NULL) return;
  pthread_mutex_lock(&p->lock);
  Worker *w = worker_of(p);
  if (w != NULL && steps_aside(p, w)) {
    uint64_t ticket = p->aside_next++;
    p->running--;
    (void)grow(p);   /* there is a thread already: it cannot fail to be */
    pthread_cond_broadcast(&p->work);
    while (!p->stopping && !comes_back(p, ticket)) pthread_cond_wait(&p->work, &p->lock);
    p->aside_turn++;   /* stopping: every one leaves, turns no longer matter */
    p->running++;
    w->since = now_ns();
    pthread_cond_broadcast(&p->work);   /* the next turn, if a slot is left */
  }
  pthread_mutex_unlock(&p->lock);
}

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
  for (unsigned i = 0; i < p->nthreads; i++) pthread_join(p->workers[i].tid, NULL);
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
  free(p->workers);
  free(p);
}
