// faiss_bridge.cc - the few functions of faiss's C API that lib/retrieve/vector.c calls,
// implemented over the C++ library (Debian 12's libfaiss.a has no C API and there is no
// libfaiss_c; DESIGN.md "Dependencies"). Signatures are exactly those of
// /usr/include/faiss/c_api/*.h, which this file includes so the compiler checks them.
//
// Error convention (the C API's): every function that can fail returns 0 on success, -2 for a
// faiss::FaissException, -4 for another std::exception and -1 for anything else; the message
// is kept per thread for faiss_get_last_error() (NULL until the thread's first failure; a
// success does not clear it, as in faiss: read it only after a non-zero return). No
// exception leaves this file: every body is inside BRIDGE_BEGIN / BRIDGE_END (XGBoost's
// API_BEGIN/END style), and getters that cannot throw are noexcept.
//
// Visibility: the declarations are included under `#pragma GCC visibility push(hidden)`, so
// these symbols stay internal to librecsys.so even without the version script (only recsys_*
// is exported); the Makefile's -fvisibility=hidden covers the rest of the file.

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#pragma GCC visibility push(hidden)
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#pragma GCC visibility pop

namespace {

// The last failure's message on this thread (a fixed buffer: recording an error never
// allocates, so it cannot itself throw).
thread_local char last_error[512];
thread_local bool have_error;

void set_error(const char *what) noexcept
{
    std::snprintf(last_error, sizeof last_error, "%s", what ? what : "unknown error");
    have_error = true;
}

faiss::Index *idx(FaissIndex *p) noexcept { return reinterpret_cast<faiss::Index *>(p); }
const faiss::Index *idx(const FaissIndex *p) noexcept
{
    return reinterpret_cast<const faiss::Index *>(p);
}

} // namespace

#define BRIDGE_BEGIN try {
#define BRIDGE_END                                                                           \
    }                                                                                        \
    catch (const faiss::FaissException &e)                                                   \
    {                                                                                        \
        set_error(e.what());                                                                 \
        return -2;                                                                           \
    }                                                                                        \
    catch (const std::bad_alloc &)                                                           \
    {                                                                                        \
        set_error("out of memory");                                                          \
        return -4;                                                                           \
    }                                                                                        \
    catch (const std::exception &e)                                                          \
    {                                                                                        \
        set_error(e.what());                                                                 \
        return -4;                                                                           \
    }                                                                                        \
    catch (...)                                                                              \
    {                                                                                        \
        set_error("unknown exception");                                                      \
        return -1;                                                                           \
    }                                                                                        \
    return 0;

extern "C" {

const char *faiss_get_last_error()
{
    return have_error ? last_error : nullptr;
}

int faiss_index_factory(FaissIndex **p_index, int d, const char *description,
                        FaissMetricType metric)
{
    BRIDGE_BEGIN
    if (!p_index || !description)
        throw std::invalid_argument("faiss_index_factory: NULL argument");
    *p_index = nullptr;
    faiss::Index *ix =
            faiss::index_factory(d, description, static_cast<faiss::MetricType>(metric));
    *p_index = reinterpret_cast<FaissIndex *>(ix);
    BRIDGE_END
}

void faiss_Index_free(FaissIndex *obj)
{
    try {
        delete idx(obj);
    } catch (...) { // destructors do not throw; stay safe regardless
    }
}

int faiss_Index_d(const FaissIndex *index)
{
    return index ? idx(index)->d : 0;
}

int faiss_Index_is_trained(const FaissIndex *index)
{
    return index ? idx(index)->is_trained : 0;
}

idx_t faiss_Index_ntotal(const FaissIndex *index)
{
    return index ? idx(index)->ntotal : 0;
}

FaissMetricType faiss_Index_metric_type(const FaissIndex *index)
{
    return index ? static_cast<FaissMetricType>(idx(index)->metric_type) : METRIC_INNER_PRODUCT;
}

int faiss_Index_train(FaissIndex *index, idx_t n, const float *x)
{
    BRIDGE_BEGIN
    if (!index || (n > 0 && !x))
        throw std::invalid_argument("faiss_Index_train: NULL argument");
    idx(index)->train(n, x);
    BRIDGE_END
}

int faiss_Index_add(FaissIndex *index, idx_t n, const float *x)
{
    BRIDGE_BEGIN
    if (!index || (n > 0 && !x))
        throw std::invalid_argument("faiss_Index_add: NULL argument");
    idx(index)->add(n, x);
    BRIDGE_END
}

int faiss_Index_add_with_ids(FaissIndex *index, idx_t n, const float *x, const idx_t *xids)
{
    BRIDGE_BEGIN
    if (!index || (n > 0 && (!x || !xids)))
        throw std::invalid_argument("faiss_Index_add_with_ids: NULL argument");
    idx(index)->add_with_ids(n, x, xids);
    BRIDGE_END
}

int faiss_Index_search(const FaissIndex *index, idx_t n, const float *x, idx_t k,
                       float *distances, idx_t *labels)
{
    BRIDGE_BEGIN
    if (!index || (n > 0 && (!x || !distances || !labels)))
        throw std::invalid_argument("faiss_Index_search: NULL argument");
    idx(index)->search(n, x, k, distances, labels);
    BRIDGE_END
}

int faiss_ParameterSpace_new(FaissParameterSpace **space)
{
    BRIDGE_BEGIN
    if (!space)
        throw std::invalid_argument("faiss_ParameterSpace_new: NULL argument");
    *space = reinterpret_cast<FaissParameterSpace *>(new faiss::ParameterSpace());
    BRIDGE_END
}

void faiss_ParameterSpace_free(FaissParameterSpace *obj)
{
    try {
        delete reinterpret_cast<faiss::ParameterSpace *>(obj);
    } catch (...) {
    }
}

int faiss_ParameterSpace_set_index_parameter(const FaissParameterSpace *space,
                                             FaissIndex *index, const char *name, double value)
{
    BRIDGE_BEGIN
    if (!space || !index || !name)
        throw std::invalid_argument("faiss_ParameterSpace_set_index_parameter: NULL argument");
    reinterpret_cast<const faiss::ParameterSpace *>(space)->set_index_parameter(idx(index),
                                                                                name, value);
    BRIDGE_END
}

// Serialisation through a stdio stream (the caller's: a file, or an fopencookie / fmemopen
// stream over memory). faiss reports a short write or read as a FaissException.
int faiss_write_index(const FaissIndex *index, FILE *f)
{
    BRIDGE_BEGIN
    if (!index || !f)
        throw std::invalid_argument("faiss_write_index: NULL argument");
    faiss::write_index(idx(index), f);
    BRIDGE_END
}

int faiss_read_index(FILE *f, int io_flags, FaissIndex **p_out)
{
    BRIDGE_BEGIN
    if (!f || !p_out)
        throw std::invalid_argument("faiss_read_index: NULL argument");
    *p_out = nullptr;
    faiss::Index *ix = faiss::read_index(f, io_flags);
    *p_out = reinterpret_cast<FaissIndex *>(ix);
    BRIDGE_END
}

} // extern "C"
