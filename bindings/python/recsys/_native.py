"""_native.py - loading librecsys.so and the ctypes prototypes of include/recsys.h.

The library is found, in this order: the RECSYS_LIBRARY environment variable (a path to the
.so), a librecsys.so next to this package, build/librecsys.so of the source checkout this
package sits in (what `make` builds), then the system path (ctypes.util.find_library). Every prototype is declared once here, so a
wrong argument type fails in Python rather than in C.
"""
import ctypes
import ctypes.util
import os

c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
c_size_t = ctypes.c_size_t
c_int32 = ctypes.c_int32
c_uint32 = ctypes.c_uint32
c_int64 = ctypes.c_int64
c_uint64 = ctypes.c_uint64
c_double = ctypes.c_double
c_int = ctypes.c_int
c_float = ctypes.c_float
POINTER = ctypes.POINTER
status_t = ctypes.c_int  # recsys_status (an enum: int-sized)


def _candidates():
    env = os.environ.get("RECSYS_LIBRARY")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "librecsys.so")
    root = os.path.abspath(os.path.join(here, "..", "..", ".."))
    yield os.path.join(root, "build", "librecsys.so")  # `make` in a source checkout
    found = ctypes.util.find_library("recsys")
    if found:
        yield found


def _load():
    errors = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:  # pragma: no cover - depends on the machine
            errors.append("%s: %s" % (path, e))
    raise ImportError("recsys: cannot find librecsys.so (set RECSYS_LIBRARY to its path, or "
                      "run make)%s" % ("; tried " + "; ".join(errors) if errors else ""))


lib, path = _load()

# ---------------------------------------------------------------------------- records


class OptionDesc(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("key", c_int32), ("type", c_int32),
                ("reserved0", c_uint32), ("name", c_char_p), ("doc", c_char_p),
                ("min_value", c_double), ("max_value", c_double), ("default_value", c_double),
                ("default_str", c_char_p), ("reserved", c_uint64)]


class Event(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("type", c_int32), ("timestamp", c_int64),
                ("value", c_double), ("user_id", c_char_p), ("item_id", c_char_p),
                ("request_id", c_char_p), ("query", c_char_p), ("position", c_int32),
                ("reserved0", c_uint32), ("reserved", c_uint64),
                ("sources", c_char_p), ("ranker", c_char_p),  # since 0.2
                ("llm_calls", c_uint32), ("llm_tokens", c_uint32)]


class Rule(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("kind", c_int32), ("expr", c_char_p),
                ("value", c_double), ("position", c_int32), ("reserved0", c_uint32),
                ("item_id", c_char_p), ("reserved", c_uint64)]


class LlmStats(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("reserved0", c_uint32)] + [
        (n, c_uint64) for n in ("calls", "prompt_tokens", "completion_tokens", "cache_hits",
                                "timeouts", "failures", "fallbacks", "rejected",
                                "budget_denied", "breaker_open", "explanations",
                                "explanations_failed")]


DESTROY = ctypes.CFUNCTYPE(None, c_void_p)
# (ctx, query, candidates) for sources, filters and rankers
STAGE = ctypes.CFUNCTYPE(status_t, c_void_p, c_void_p, c_void_p)
SELECT = ctypes.CFUNCTYPE(status_t, c_void_p, c_void_p, c_void_p, c_size_t)
COMPLETE = ctypes.CFUNCTYPE(status_t, c_void_p, c_void_p, c_void_p)
EMBED = ctypes.CFUNCTYPE(status_t, c_void_p, ctypes.POINTER(ctypes.c_char), c_size_t, c_void_p)


def _vtable(name, method, proto):
    return type(name, (ctypes.Structure,), {
        "_fields_": [("struct_size", c_uint32), ("ctx", c_void_p), ("destroy", DESTROY),
                     (method, proto)]})


SourceVtable = _vtable("SourceVtable", "retrieve", STAGE)
FilterVtable = _vtable("FilterVtable", "apply", STAGE)
RankerVtable = _vtable("RankerVtable", "score", STAGE)
DiversifierVtable = _vtable("DiversifierVtable", "select", SELECT)
LlmVtable = _vtable("LlmVtable", "complete", COMPLETE)
EmbedderVtable = _vtable("EmbedderVtable", "embed", EMBED)

RECORD_VISIT = ctypes.CFUNCTYPE(status_t, c_void_p, c_int32, c_char_p, c_void_p, c_size_t)
EVENT_VISIT = ctypes.CFUNCTYPE(status_t, c_void_p, POINTER(Event))
ST_PUT = ctypes.CFUNCTYPE(status_t, c_void_p, c_int32, c_char_p, c_void_p, c_size_t)
ST_REMOVE = ctypes.CFUNCTYPE(status_t, c_void_p, c_int32, c_char_p)
ST_GET = ctypes.CFUNCTYPE(status_t, c_void_p, c_int32, c_char_p, c_void_p)
ST_APPEND = ctypes.CFUNCTYPE(status_t, c_void_p, POINTER(Event), c_size_t)
ST_SCAN_RECORDS = ctypes.CFUNCTYPE(status_t, c_void_p, c_int32, RECORD_VISIT, c_void_p)
ST_SCAN_EVENTS = ctypes.CFUNCTYPE(status_t, c_void_p, EVENT_VISIT, c_void_p)
ST_FORGET = ctypes.CFUNCTYPE(status_t, c_void_p, c_char_p)
ST_NOARG = ctypes.CFUNCTYPE(status_t, c_void_p)


class StoreVtable(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("ctx", c_void_p), ("destroy", DESTROY),
                ("put", ST_PUT), ("remove", ST_REMOVE), ("get", ST_GET),
                ("append_events", ST_APPEND), ("scan_records", ST_SCAN_RECORDS),
                ("scan_events", ST_SCAN_EVENTS), ("forget_user", ST_FORGET),
                ("sync", ST_NOARG), ("compact", ST_NOARG),
                ("append_events_deferred", c_void_p), ("wait_durable", c_void_p),
                ("put_blob", c_void_p), ("get_blob", c_void_p)]


class EnrichReport(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("reserved0", c_uint32)] + [
        (n, c_uint64) for n in ("asked", "cached", "enriched", "rejected", "skipped", "calls",
                                "dropped")]


class EngineOpts(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32), ("seed", c_uint64),
                ("allocator", c_void_p), ("store", POINTER(StoreVtable)), ("reserved", c_uint64)]


# ---------------------------------------------------------------------------- prototypes

_P = POINTER
_protos = {
    # version and errors
    "recsys_version_number": (c_int, []),
    "recsys_version_string": (c_char_p, []),
    "recsys_last_error": (c_char_p, []),
    "recsys_status_str": (c_char_p, [status_t]),
    "recsys_error_set": (status_t, [status_t, c_char_p]),
    "recsys_string_free": (None, [c_void_p]),
    # options
    "recsys_option_info": (status_t, [c_int32, _P(OptionDesc)]),
    "recsys_option_by_name": (status_t, [c_char_p, _P(c_int32)]),
    "recsys_option_next": (status_t, [c_int32, _P(c_int32)]),
    # engine
    "recsys_engine_opts_init": (None, [_P(EngineOpts)]),
    "recsys_engine_new": (status_t, [_P(EngineOpts), _P(c_void_p)]),
    "recsys_engine_free": (None, [c_void_p]),
    "recsys_engine_set_int": (status_t, [c_void_p, c_int32, c_int64]),
    "recsys_engine_get_int": (status_t, [c_void_p, c_int32, _P(c_int64)]),
    "recsys_engine_set_double": (status_t, [c_void_p, c_int32, c_double]),
    "recsys_engine_get_double": (status_t, [c_void_p, c_int32, _P(c_double)]),
    "recsys_engine_set_str": (status_t, [c_void_p, c_int32, c_char_p]),
    "recsys_engine_get_str": (status_t, [c_void_p, c_int32, c_char_p, c_size_t, _P(c_size_t)]),
    "recsys_store_file_new": (status_t, [c_char_p, c_void_p, _P(StoreVtable)]),
    "recsys_store_vtable_init": (None, [_P(StoreVtable)]),
    "recsys_engine_add_source": (status_t, [c_void_p, c_char_p, _P(SourceVtable)]),
    "recsys_engine_add_filter": (status_t, [c_void_p, c_char_p, _P(FilterVtable)]),
    "recsys_engine_set_ranker": (status_t, [c_void_p, c_char_p, _P(RankerVtable)]),
    "recsys_engine_add_diversifier": (status_t, [c_void_p, c_char_p, _P(DiversifierVtable)]),
    "recsys_engine_set_llm": (status_t, [c_void_p, c_char_p, _P(LlmVtable)]),
    "recsys_engine_set_embedder": (status_t, [c_void_p, c_char_p, _P(EmbedderVtable)]),
    "recsys_engine_llm_stats": (status_t, [c_void_p, _P(LlmStats)]),
    "recsys_engine_source_configure": (status_t, [c_void_p, c_char_p, c_double, c_size_t]),
    "recsys_engine_source_settings": (status_t, [c_void_p, c_char_p, _P(c_double), _P(c_size_t)]),
    "recsys_engine_plugin_enable": (status_t, [c_void_p, c_int32, c_char_p, c_int]),
    "recsys_engine_rule_set": (status_t, [c_void_p, c_char_p, _P(Rule)]),
    "recsys_engine_rule_remove": (status_t, [c_void_p, c_char_p]),
    "recsys_rule_init": (None, [_P(Rule)]),
    "recsys_refresh": (status_t, [c_void_p]),
    "recsys_ials_import": (status_t, [c_void_p, _P(c_char_p), _P(c_float), c_size_t, c_size_t]),
    "recsys_engine_compact": (status_t, [c_void_p]),
    "recsys_engine_count": (status_t, [c_void_p, c_int32, _P(c_uint64)]),
    "recsys_ranker_train": (status_t, [c_void_p, c_char_p, _P(Event), c_size_t]),
    # catalog, users, feedback
    "recsys_catalog_upsert_json": (status_t, [c_void_p, c_char_p, c_size_t]),
    "recsys_catalog_upsert": (status_t, [c_void_p, c_void_p]),
    "recsys_catalog_remove": (status_t, [c_void_p, c_char_p]),
    "recsys_catalog_get_json": (status_t, [c_void_p, c_char_p, _P(c_void_p)]),
    "recsys_catalog_embeddings": (status_t, [c_void_p, c_char_p, _P(c_char_p), c_size_t,
                                             c_size_t, c_void_p]),
    "recsys_item_spec_new": (status_t, [c_char_p, _P(c_void_p)]),
    "recsys_item_spec_free": (None, [c_void_p]),
    "recsys_item_spec_set_text": (status_t, [c_void_p, c_int32, c_char_p]),
    "recsys_item_spec_add_tag": (status_t, [c_void_p, c_char_p]),
    "recsys_item_spec_set_number": (status_t, [c_void_p, c_char_p, c_double]),
    "recsys_item_spec_set_string": (status_t, [c_void_p, c_char_p, c_char_p]),
    "recsys_item_spec_set_embedding": (status_t, [c_void_p, c_char_p, c_void_p, c_size_t]),
    "recsys_user_upsert_json": (status_t, [c_void_p, c_char_p, c_size_t]),
    "recsys_user_get_json": (status_t, [c_void_p, c_char_p, _P(c_void_p)]),
    "recsys_user_forget": (status_t, [c_void_p, c_char_p]),
    "recsys_event_init": (None, [_P(Event)]),
    "recsys_event_type_name": (c_char_p, [c_int32]),
    "recsys_feedback": (status_t, [c_void_p, _P(Event)]),
    "recsys_feedback_json": (status_t, [c_void_p, c_char_p, c_size_t]),
    "recsys_feedback_batch": (status_t, [c_void_p, _P(Event), c_size_t]),
    "recsys_campaign_upsert_json": (status_t, [c_void_p, c_char_p, c_size_t]),
    "recsys_campaign_remove": (status_t, [c_void_p, c_char_p]),
    # requests and results
    "recsys_request_new": (status_t, [_P(c_void_p)]),
    "recsys_request_free": (None, [c_void_p]),
    "recsys_request_set_user": (status_t, [c_void_p, c_char_p]),
    "recsys_request_set_query": (status_t, [c_void_p, c_char_p]),
    "recsys_request_set_id": (status_t, [c_void_p, c_char_p]),
    "recsys_request_set_anchor": (status_t, [c_void_p, c_char_p]),
    "recsys_request_exclude": (status_t, [c_void_p, c_char_p]),
    "recsys_request_include": (status_t, [c_void_p, c_char_p]),
    "recsys_request_set_int": (status_t, [c_void_p, c_int32, c_int64]),
    "recsys_request_set_double": (status_t, [c_void_p, c_int32, c_double]),
    "recsys_request_set_ranker": (status_t, [c_void_p, c_char_p]),
    "recsys_request_add_rule": (status_t, [c_void_p, _P(Rule)]),
    "recsys_recommend": (status_t, [c_void_p, c_void_p, _P(c_void_p)]),
    "recsys_recommend_batch": (status_t, [c_void_p, _P(c_void_p), c_size_t, c_size_t,
                                          _P(c_void_p), _P(status_t)]),
    "recsys_result_free": (None, [c_void_p]),
    "recsys_result_count": (c_size_t, [c_void_p]),
    "recsys_result_items": (c_size_t, [c_void_p, _P(c_char_p), _P(c_double), c_size_t]),
    "recsys_result_request_id": (c_char_p, [c_void_p]),
    "recsys_result_source_count": (c_size_t, [c_void_p, c_size_t]),
    "recsys_result_source": (status_t, [c_void_p, c_size_t, c_size_t, _P(c_char_p),
                                        _P(c_double)]),
    "recsys_result_explanation": (c_char_p, [c_void_p, c_size_t]),
    "recsys_result_evidence_count": (c_size_t, [c_void_p, c_size_t]),
    "recsys_result_evidence": (status_t, [c_void_p, c_size_t, c_size_t, _P(c_int32),
                                          _P(c_char_p), _P(c_char_p)]),
    "recsys_result_stage_ns": (c_uint64, [c_void_p, c_int32]),
    "recsys_result_sources_skipped": (c_size_t, [c_void_p]),
    "recsys_result_llm_stats": (status_t, [c_void_p, _P(LlmStats)]),
    "recsys_result_to_json": (status_t, [c_void_p, _P(c_void_p)]),
    # plug-in views and sinks
    "recsys_item_id": (c_char_p, [c_void_p]),
    "recsys_item_text": (c_char_p, [c_void_p, c_int32]),
    "recsys_item_tag_count": (c_size_t, [c_void_p]),
    "recsys_item_tag": (c_char_p, [c_void_p, c_size_t]),
    "recsys_item_available": (c_int, [c_void_p]),
    "recsys_item_min_age": (c_int, [c_void_p]),
    "recsys_item_number": (status_t, [c_void_p, c_char_p, _P(c_double)]),
    "recsys_query_user_id": (c_char_p, [c_void_p]),
    "recsys_query_text": (c_char_p, [c_void_p]),
    "recsys_query_limit": (c_size_t, [c_void_p]),
    "recsys_query_now": (c_int64, [c_void_p]),
    "recsys_query_history_count": (c_size_t, [c_void_p]),
    "recsys_query_history": (status_t, [c_void_p, c_size_t, _P(c_void_p), _P(c_int32),
                                        _P(c_int64)]),
    "recsys_query_item": (c_void_p, [c_void_p, c_char_p]),
    "recsys_query_option": (status_t, [c_void_p, c_int32, _P(c_double)]),
    "recsys_candidates_add": (status_t, [c_void_p, c_char_p, c_double]),
    "recsys_candidates_count": (c_size_t, [c_void_p]),
    "recsys_candidates_item": (c_void_p, [c_void_p, c_size_t]),
    "recsys_candidates_score": (c_double, [c_void_p, c_size_t]),
    "recsys_candidates_source_score": (status_t, [c_void_p, c_size_t, c_char_p, _P(c_double)]),
    "recsys_candidates_set_score": (status_t, [c_void_p, c_size_t, c_double]),
    "recsys_candidates_drop": (status_t, [c_void_p, c_size_t, c_char_p]),
    "recsys_candidates_set_order": (status_t, [c_void_p, _P(c_size_t), c_size_t]),
    "recsys_llm_call_task": (c_int32, [c_void_p]),
    "recsys_llm_call_system": (c_char_p, [c_void_p]),
    "recsys_llm_call_prompt": (c_char_p, [c_void_p]),
    "recsys_llm_call_schema": (c_char_p, [c_void_p]),
    "recsys_llm_call_max_tokens": (c_int32, [c_void_p]),
    "recsys_llm_call_temperature": (c_double, [c_void_p]),
    "recsys_llm_call_deadline_ms": (c_int64, [c_void_p]),
    "recsys_llm_reply_set_text": (status_t, [c_void_p, c_char_p, c_size_t]),
    "recsys_llm_reply_set_usage": (None, [c_void_p, c_int64, c_int64]),
    "recsys_vector_sink_set": (status_t, [c_void_p, c_void_p, c_size_t]),
    "recsys_store_value_set": (status_t, [c_void_p, c_void_p, c_size_t]),
    # evaluation
    "recsys_eval_dataset_open": (status_t, [c_char_p, c_char_p, c_int32, c_char_p, c_void_p,
                                            _P(c_void_p)]),
    "recsys_eval_dataset_free": (None, [c_void_p]),
    "recsys_eval_dataset_item_count": (c_size_t, [c_void_p]),
    "recsys_eval_dataset_item_id": (c_char_p, [c_void_p, c_size_t]),
    "recsys_eval_dataset_user_count": (c_size_t, [c_void_p, c_int32]),
    "recsys_eval_dataset_user_id": (c_char_p, [c_void_p, c_int32, c_size_t]),
    "recsys_eval_dataset_info_json": (status_t, [c_void_p, _P(c_void_p)]),
    "recsys_eval_dataset_configure": (status_t, [c_void_p, c_void_p, c_int32]),
    "recsys_eval_dataset_feed": (status_t, [c_void_p, c_void_p, c_int32, c_uint32]),
    "recsys_eval_run_new": (status_t, [c_void_p, c_int32, _P(c_void_p)]),
    "recsys_eval_run_free": (None, [c_void_p]),
    "recsys_eval_run_add": (status_t, [c_void_p, c_char_p, _P(c_char_p), c_size_t]),
    "recsys_eval_run_metrics_json": (status_t, [c_void_p, _P(c_void_p)]),
    "recsys_eval_run_add_result": (status_t, [c_void_p, c_char_p, c_void_p]),
    # 0.2: status of the last call (a warning with RECSYS_OK), item builder extras, anchor
    "recsys_last_status": (status_t, []),
    "recsys_item_spec_add_region": (status_t, [c_void_p, c_char_p]),
    "recsys_item_spec_set_flags": (status_t, [c_void_p, c_int, c_int, c_int64]),
    "recsys_item_spec_set_bool": (status_t, [c_void_p, c_char_p, c_int]),
    "recsys_query_anchor": (c_void_p, [c_void_p]),
    # the library's own struct_size of each plug-in vtable (checked by the tests)
    "recsys_source_vtable_init": (None, [c_void_p]),
    "recsys_filter_vtable_init": (None, [c_void_p]),
    "recsys_ranker_vtable_init": (None, [c_void_p]),
    "recsys_diversifier_vtable_init": (None, [c_void_p]),
    "recsys_llm_vtable_init": (None, [c_void_p]),
    "recsys_embedder_vtable_init": (None, [c_void_p]),
    # metadata enrichment
    "recsys_catalog_enrich": (status_t, [c_void_p, _P(c_char_p), c_size_t, _P(EnrichReport)]),
    # conversations
    "recsys_conversation_new": (status_t, [c_void_p, c_char_p, _P(c_void_p)]),
    "recsys_conversation_free": (None, [c_void_p]),
    "recsys_conversation_say": (status_t, [c_void_p, c_char_p, _P(c_void_p)]),
    "recsys_conversation_constraints_json": (status_t, [c_void_p, _P(c_void_p)]),
    "recsys_turn_free": (None, [c_void_p]),
    "recsys_turn_kind": (c_int32, [c_void_p]),
    "recsys_turn_question": (c_char_p, [c_void_p]),
    "recsys_turn_facet": (c_char_p, [c_void_p]),
    "recsys_turn_candidates": (c_size_t, [c_void_p]),
    "recsys_turn_result": (c_void_p, [c_void_p]),
    # online evaluation and experiments
    "recsys_experiment_set": (status_t, [c_void_p, c_char_p, c_size_t]),
    "recsys_experiment_remove": (status_t, [c_void_p, c_char_p]),
    "recsys_experiment_get_json": (status_t, [c_void_p, c_char_p, _P(c_void_p)]),
    "recsys_experiment_assign": (status_t, [c_void_p, c_char_p, c_char_p, c_char_p, c_size_t,
                                            _P(c_size_t)]),
    "recsys_experiment_recommend": (status_t, [c_void_p, c_char_p, c_void_p, _P(c_void_p)]),
    "recsys_experiment_report_json": (status_t, [c_void_p, c_char_p, _P(c_void_p)]),
    "recsys_online_metrics_json": (status_t, [c_void_p, c_int64, c_int64, _P(c_void_p)]),
    "recsys_interleave": (status_t, [_P(c_char_p), c_size_t, _P(c_char_p), c_size_t, c_size_t,
                                     c_uint64, _P(c_char_p), _P(ctypes.c_uint8), _P(c_size_t)]),
    "recsys_interleave_test": (status_t, [c_uint64, c_uint64, _P(c_double)]),
    "recsys_result_experiment": (c_char_p, [c_void_p]),
    "recsys_result_arm": (c_char_p, [c_void_p]),
}

missing = []
for _name, (_res, _args) in _protos.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        missing.append(_name)
        continue
    _fn.restype = _res
    _fn.argtypes = _args

if missing:  # an older library: say which symbols it lacks instead of failing later
    raise ImportError("recsys: %s lacks %s (rebuild the library: make)" % (path, ", ".join(missing)))
