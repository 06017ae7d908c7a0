"""recsys - Python bindings of librecsys (ctypes; pure Python, nothing to compile).

    import recsys
    with recsys.Engine() as e:
        e.upsert_items([{"item_id": "c1", "title": "Distributed Systems", "tags": ["backend"]}])
        e.feedback("u1", "c1", "purchase")
        e.refresh()
        for it in e.recommend("u1"):
            print(it.item_id, it.score, it.explanation)

The library is librecsys.so: RECSYS_LIBRARY (a path), next to this package, build/ of the
source checkout this package sits in, or the system path. Modules: engine (Engine, results,
options, errors, plug-ins, stores, conversations, enrichment, experiments, interleaving),
evaluation (Dataset, Run), _native (ctypes prototypes).
"""
from .engine import (
    COUNTERS, E_BUDGET, E_CALLBACK, E_CORRUPT, E_EXISTS, E_INTERNAL, E_INVALID_ARG, E_IO,
    E_NOMEM, E_NOT_FOUND, E_STATE, E_TIMEOUT, E_TOO_SMALL, E_UNSUPPORTED, EVENT_TYPES, OK,
    INTERLEAVE_MAX, Candidates, Conversation, Engine, Item, LlmCall, MemoryStore, Option,
    Query, RecommendedItem, RecsysError, Result, Turn, interleave, interleave_test, option,
    options, version, version_number)
from .evaluation import Dataset, Run
from . import _native

library_path = _native.path
__version__ = version()

__all__ = ["COUNTERS", "E_BUDGET", "E_CALLBACK", "E_CORRUPT", "E_EXISTS", "E_INTERNAL",
           "E_INVALID_ARG", "E_IO", "E_NOMEM", "E_NOT_FOUND", "E_STATE", "E_TIMEOUT",
           "E_TOO_SMALL", "E_UNSUPPORTED", "EVENT_TYPES", "INTERLEAVE_MAX", "OK",
           "Candidates", "Conversation", "Dataset", "Engine", "Item", "LlmCall", "MemoryStore",
           "Option", "Query", "RecommendedItem", "RecsysError", "Result", "Run", "Turn",
           "interleave", "interleave_test", "library_path", "option", "options", "version",
           "version_number"]
