/*
** test_pool.c -- the mount's decode pool: every job runs exactly once, never
** more at once than the pool runs, ready jobs before queued ones, a job past its
** slice stepping aside at its checkpoint for a queued one (under the thread cap
** only), and after pool_stop the jobs left (and any submitted later) run with
** stopping set.  Ordering and counts only: a gate (a condition variable) holds
** jobs, and the slice is 0 where stepping aside is tested; no timing.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "modelfs/pool.h"

/* Jobs of one test share this: a gate they wait at, and what they record. */
typedef struct Bench {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open;                 /* the gate */
  int running, peak;        /* jobs inside run at once */
  int entered;              /* jobs that reached the gate */
  int pauses;               /* checkpoints passed (pool_pause returned) */
  int active, peak_active;  /* pausing jobs between two checkpoints (not aside) */
  int order[64], n;         /* ids in the order they ran */
  int stopped[64];          /* ran with stopping set */
  int runs[64];             /* times each ran */
} Bench;

typedef struct TJob {
  PoolJob job;              /* first */
  Bench *b;
  Pool *pool;               /* set: at the gate it calls pool_pause, as a decode does */
  int id, gated;
} TJob;

static void tjob_run(PoolJob *j, int stopping) {
  TJob *t = (TJob *)j;
  Bench *b = t->b;
  pthread_mutex_lock(&b->mu);
  b->runs[t->id]++;
  b->stopped[t->id] = stopping;
  b->order[b->n++] = t->id;
  if (++b->running > b->peak) b->peak = b->running;
  b->entered++;
  pthread_cond_broadcast(&b->cv);
  while (t->gated && !b->open && !stopping) {
    if (t->pool == NULL) {
      pthread_cond_wait(&b->cv, &b->mu);
      continue;
    }
    if (++b->active > b->peak_active) b->peak_active = b->active;
    pthread_mutex_unlock(&b->mu);   /* runs on, as a decode: checkpoint after checkpoint */
    sched_yield();
    pthread_mutex_lock(&b->mu);
    b->active--;
    pthread_mutex_unlock(&b->mu);
    pool_pause(t->pool);
    pthread_mutex_lock(&b->mu);
    b->pauses++;
    pthread_cond_broadcast(&b->cv);
  }
  b->running--;
  pthread_mutex_unlock(&b->mu);
}

static void bench_init(Bench *b) {
  memset(b, 0, sizeof *b);
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
}

static void wait_entered(Bench *b, int n) {
  pthread_mutex_lock(&b->mu);
  while (b->entered < n) pthread_cond_wait(&b->cv, &b->mu);
  pthread_mutex_unlock(&b->mu);
}

static void open_gate(Bench *b) {
  pthread_mutex_lock(&b->mu);
  b->open = 1;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

static void tjob_init(TJob *t, Bench *b, int id, int gated) {
  memset(t, 0, sizeof *t);
  t->job.run = tjob_run;
  t->b = b;
  t->id = id;
  t->gated = gated;
}

/* 40 gated jobs on 4 threads: 4 reach the gate, the others wait in the queue;
** opened, all 40 run once, never more than 4 at once. */
static void test_bounded_and_each_once(void **state) {
  (void)state;
  Bench b;
  bench_init(&b);
  TJob jobs[40];
  Pool *p = pool_new(4, 4, 0);
  assert_non_null(p);
  for (int i = 0; i < 40; i++) {
    tjob_init(&jobs[i], &b, i, 1);
    pool_submit(p, &jobs[i].job);
  }
  wait_entered(&b, 4);
  pthread_mutex_lock(&b.mu);
  assert_int_equal(b.entered, 4);
  pthread_mutex_unlock(&b.mu);
  open_gate(&b);
  wait_entered(&b, 40);
  pool_free(p);
  assert_true(b.peak <= 4);
  for (int i = 0; i < 40; i++) {
    assert_int_equal(b.runs[i], 1);
    assert_int_equal(b.stopped[i], 0);
  }
}

/* A pool of one thread held at the gate by job 0, jobs 1 and 2 queued behind
** it; job 3 made, not submitted. */
static Pool *held_two_queued(Bench *b, TJob j[4]) {
  bench_init(b);
  for (int i = 0; i < 4; i++) tjob_init(&j[i], b, i, i == 0);
  Pool *p = pool_new(1, 1, 0);
  assert_non_null(p);
  pool_submit(p, &j[0].job);
  wait_entered(b, 1);
  pool_submit(p, &j[1].job);
  pool_submit(p, &j[2].job);
  return p;
}

/* Then a ready job: it runs before the queued ones. */
static void test_ready_first(void **state) {
  (void)state;
  Bench b;
  TJob j[4];
  Pool *p = held_two_queued(&b, j);
  j[3].job.next = NULL;
  pool_submit_ready(p, &j[3].job);
  open_gate(&b);
  wait_entered(&b, 4);
  pool_free(p);
  int want[] = {0, 3, 1, 2};
  assert_memory_equal(b.order, want, sizeof want);
}

/* Then stopped: the held job ends (the gate opens, as a decode ends on its
** stop flag), each queued one runs exactly once (taken by the thread before
** the stop reached it, or answered by pool_stop), and a job submitted after
** the stop runs at once with stopping set. */
static void test_stop_answers_the_rest(void **state) {
  (void)state;
  Bench b;
  TJob j[4];
  Pool *p = held_two_queued(&b, j);
  open_gate(&b);
  pool_stop(p);
  pool_submit(p, &j[3].job);
  pool_free(p);
  assert_int_equal(b.stopped[0], 0);
  for (int i = 0; i < 4; i++) assert_int_equal(b.runs[i], 1);
  assert_int_equal(b.stopped[3], 1);
}

/* One job runs at once on at most CAP threads, a slice of 0.  Job 0 runs on
** until its gate opens, calling pool_pause; job 1 (ungated) is queued behind it. */
static Pool *long_job_and_a_waiting_one(Bench *b, TJob j[2], unsigned cap) {
  bench_init(b);
  Pool *p = pool_new(1, cap, 0);
  assert_non_null(p);
  tjob_init(&j[0], b, 0, 1);
  tjob_init(&j[1], b, 1, 0);
  j[0].pool = p;
  pool_submit(p, &j[0].job);
  wait_entered(b, 1);
  pool_submit(p, &j[1].job);
  return p;
}

/* Under the cap, job 0 steps aside at its checkpoint and job 1 runs to its end
** while job 0 has not ended (the gate is still shut); job 0 then comes back
** and ends once the gate opens. */
static void test_long_job_steps_aside(void **state) {
  (void)state;
  Bench b;
  TJob j[2];
  Pool *p = long_job_and_a_waiting_one(&b, j, 2);
  wait_entered(&b, 2);
  pthread_mutex_lock(&b.mu);
  assert_int_equal(b.runs[1], 1);
  assert_int_equal(b.open, 0);
  pthread_mutex_unlock(&b.mu);
  open_gate(&b);
  pool_free(p);
  assert_int_equal(b.peak, 2);      /* job 0 was inside run, aside, while job 1 ran */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(b.runs[i], 1);
    assert_int_equal(b.stopped[i], 0);
  }
}

/* At the cap (one thread) nothing steps aside: job 0 passes checkpoints with
** job 1 queued and runs on; job 1 waits in the queue until job 0 ends. */
static void test_at_the_cap_the_order_stands(void **state) {
  (void)state;
  Bench b;
  TJob j[2];
  Pool *p = long_job_and_a_waiting_one(&b, j, 1);
  pthread_mutex_lock(&b.mu);
  int from = b.pauses + 1;          /* one may have begun before job 1 was queued */
  while (b.pauses <= from) pthread_cond_wait(&b.cv, &b.mu);
  assert_int_equal(b.entered, 1);
  pthread_mutex_unlock(&b.mu);
  open_gate(&b);
  wait_entered(&b, 2);
  pool_free(p);
  int want[] = {0, 1};
  assert_memory_equal(b.order, want, sizeof want);
}

/* Eight jobs that run on until their gate opens, on a pool running 2 at once
** on at most 4 threads: stepping aside, 4 begin (the cap), the other 4 wait in
** the queue however many checkpoints pass, and never more than 2 run between
** two checkpoints.  Opened, each runs once to its end. */
static void test_steps_aside_within_run_and_cap(void **state) {
  (void)state;
  Bench b;
  bench_init(&b);
  Pool *p = pool_new(2, 4, 0);
  assert_non_null(p);
  TJob jobs[8];
  for (int i = 0; i < 8; i++) {
    tjob_init(&jobs[i], &b, i, 1);
    jobs[i].pool = p;
    pool_submit(p, &jobs[i].job);
  }
  wait_entered(&b, 4);
  pthread_mutex_lock(&b.mu);
  int from = b.pauses + 64;
  while (b.pauses < from) pthread_cond_wait(&b.cv, &b.mu);
  assert_int_equal(b.entered, 4);
  pthread_mutex_unlock(&b.mu);
  open_gate(&b);
  wait_entered(&b, 8);
  pool_free(p);
  assert_true(b.peak_active <= 2);
  for (int i = 0; i < 8; i++) {
    assert_int_equal(b.runs[i], 1);
    assert_int_equal(b.stopped[i], 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_bounded_and_each_once),
    cmocka_unit_test(test_ready_first),
    cmocka_unit_test(test_stop_answers_the_rest),
    cmocka_unit_test(test_long_job_steps_aside),
    cmocka_unit_test(test_at_the_cap_the_order_stands),
    cmocka_unit_test(test_steps_aside_within_run_and_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
