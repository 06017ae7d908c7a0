/* pool.c - helper threads that join a caller's batch of jobs (see pool.h). */
#include "pool.h"
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <stdatomic.h>

typedef struct batch {
    recsys__pool_fn fn;
    void *arg;
    size_t n;
    _Atomic size_t next;  /* the next job to claim */
    size_t want;          /* helpers still welcome (guarded by the pool's mutex) */
    size_t inside;        /* helpers running its jobs (guarded) */
    struct batch *link;   /* the pool's list of open batches, oldest first (guarded) */
} batch;

struct recsys__pool {
    const recsys__mem *mem;
    pthread_mutex_t mu;
    pthread_cond_t work; /* a batch was opened, or stop */
    pthread_cond_t left; /* a helper left a batch */
    batch *open;         /* batches that may still take helpers */
    pthread_t th[RECSYS__POOL_MAX];
    size_t nth;
    bool stop;
};

/* Runs the batch's jobs until none is left to claim. */
static void drain(batch *b)
{
    size_t i;
    while ((i = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed)) < b->n)
        b->fn(b->arg, i);
}

/* Unlinks b from the open list. Caller holds the mutex. */
static void unlink_batch(recsys__pool *p, batch *b)
{
    for (batch **pp = &p->open; *pp; pp = &(*pp)->link)
        if (*pp == b) {
            *pp = b->link;
            return;
        }
}

static void *helper_main(void *arg)
{
    recsys__pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->open)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        batch *b = p->open;
        b->want--;
        b->inside++;
        if (!b->want) /* no more helpers for it: the next idle one looks further */
            unlink_batch(p, b);
        pthread_mutex_unlock(&p->mu);
        drain(b);
        pthread_mutex_lock(&p->mu);
        if (--b->inside == 0)
            pthread_cond_broadcast(&p->left);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

recsys_status recsys__pool_new(const recsys__mem *m, recsys__pool **out)
{
    *out = NULL;
    recsys__pool *p = recsys__calloc(m, 1, sizeof *p);
    if (!p)
        return RECSYS_E_NOMEM;
    p->mem = m;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        recsys__free(m, p);
        return RECSYS_E_NOMEM;
    }
    if (pthread_cond_init(&p->work, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        recsys__free(m, p);
        return RECSYS_E_NOMEM;
    }
    if (pthread_cond_init(&p->left, NULL) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        recsys__free(m, p);
        return RECSYS_E_NOMEM;
    }
    *out = p;
    return RECSYS_OK;
}

void recsys__pool_free(recsys__pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->nth; i++)
        pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->left);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    recsys__free(p->mem, p);
}

size_t recsys__pool_cpus(void)
{
    static _Atomic size_t cpus;
    size_t n = atomic_load_explicit(&cpus, memory_order_relaxed);
    if (!n) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (size_t)c : 1;
        atomic_store_explicit(&cpus, n, memory_order_relaxed);
    }
    return n;
}

size_t recsys__pool_threads(recsys__pool *p)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    size_t n = p->nth;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void recsys__pool_run(recsys__pool *p, size_t n, size_t width, recsys__pool_fn fn, void *arg)
{
    if (n == 0)
        return;
    size_t helpers = width > 1 ? width - 1 : 0;
    if (helpers > n - 1)
        helpers = n - 1;
    if (helpers > RECSYS__POOL_MAX)
        helpers = RECSYS__POOL_MAX;
    if (!p || helpers == 0) {
        for (size_t i = 0; i < n; i++)
            fn(arg, i);
        return;
    }
    batch b = { .fn = fn, .arg = arg, .n = n, .want = helpers };
    atomic_init(&b.next, 0);
    pthread_mutex_lock(&p->mu);
    /* start helpers up to what this batch wants; one that fails to start is not retried
     * within this run */
    if (p->nth < helpers && !p->stop) {
        /* helpers block every signal (they inherit the mask): the host's handlers keep
         * running on the host's threads */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        while (p->nth < helpers && pthread_create(&p->th[p->nth], NULL, helper_main, p) == 0)
            p->nth++;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    batch **tail = &p->open;
    while (*tail)
        tail = &(*tail)->link;
    *tail = &b;
    if (helpers == 1)
        pthread_cond_signal(&p->work);
    else
        pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);

    drain(&b);

    /* every job is claimed: close the batch to latecomers and wait for the helpers in it */
    pthread_mutex_lock(&p->mu);
    if (b.want)
        unlink_batch(p, &b);
    while (b.inside)
        pthread_cond_wait(&p->left, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
