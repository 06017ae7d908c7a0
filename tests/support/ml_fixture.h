/* ml_fixture.h - the shared protocol (EVAL_PROTOCOL.md, ml-100k, variant ALL) for one source's
 * unit test: lib/eval reads and splits the data, the train part becomes view events in a
 * fixture model, the caller builds its derived state, and every evaluated user is ranked by
 * the source's own retrieve. One place for what test_ease and test_ials each re-implemented. */
#ifndef RECSYS_ML_FIXTURE_H
#define RECSYS_ML_FIXTURE_H
#include "fixture.h"
#include "eval/eval.h"

/* Builds the slot's state on f (options already set) and installs it in f->derived. */
typedef void (*ml_prepare_fn)(fixture *f, void *arg);

/* Runs the protocol's test evaluation of the source made by make_source. Returns false (the
 * caller should skip()) when RECSYS_DATA_DIR is unset or the data cannot be read. The fixture
 * passed to prepare is freed before returning, after drop(f, arg) releases the state. */
bool ml_eval_source(ml_prepare_fn prepare, void (*drop)(fixture *f, void *arg), void *arg,
                    recsys_status (*make_source)(const recsys__mem *, recsys_source_vtable *),
                    recsys__eval_metrics *out);

#endif
