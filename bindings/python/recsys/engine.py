"""engine.py - the Engine, requests and results, options, errors and host plug-ins.

Ownership: every native handle is freed by the object that made it (Engine.close(), or the
context manager); a Result copies what it needs out of the library's result and frees it at
once, so Python objects never point into freed memory. Plug-in callables are kept alive (with
the ctypes thunks the library calls) until the engine is closed: the library may call a
plug-in on any thread that calls into the engine, up to its destroy. A Conversation keeps its
engine alive, and the engine's close() closes its open conversations first; a Turn, like a
Result, is copied out of the library and the native turn freed at once.

Errors: every failing call raises RecsysError(status, message) with the library's thread-local
message. A Python exception raised inside a plug-in never crosses into C: the thunk catches
it, reports RECSYS_E_CALLBACK (or the status of a RecsysError the plug-in raised) through
recsys_error_set, and the engine call that ran the plug-in raises RecsysError with the
plug-in's exception as __cause__.
"""
import ctypes
import json
import threading
import weakref

from . import _native as N

lib = N.lib

# ---------------------------------------------------------------------------- constants

OK = 0
E_INVALID_ARG, E_NOMEM, E_NOT_FOUND, E_UNSUPPORTED, E_STATE, E_IO, E_CORRUPT = range(1, 8)
E_BUDGET, E_TIMEOUT, E_CALLBACK, E_INTERNAL, E_TOO_SMALL, E_EXISTS = range(8, 14)

EVENT_TYPES = {"impression": 1, "view": 2, "click": 3, "like": 4, "dislike": 5,
               "add_to_cart": 6, "purchase": 7, "skip": 8, "rating": 9, "watch_time": 10,
               "dwell": 11, "search": 12}
PLUGIN_KINDS = {"source": 1, "filter": 2, "ranker": 3, "diversifier": 4, "llm": 5,
                "embedder": 6}
COUNTERS = {"items": 1, "users": 2, "events": 3, "requests": 4}
RULE_KINDS = {"filter": 1, "block": 2, "boost": 3, "bury": 4, "pin": 5, "promote": 6}
FIELDS = {"title": 1, "description": 2, "category": 3, "provider": 4}
STAGES = {"context": 1, "retrieve": 2, "filter": 3, "rank": 4, "diversify": 5, "explain": 7,
          "respond": 8}
EVIDENCE_KINDS = {1: "attribute", 2: "history", 3: "interest", 4: "popularity", 5: "query"}
LLM_TASKS = {1: "rerank", 2: "explain", 3: "intent", 4: "clarify", 5: "enrich"}
RECORD_KINDS = {1: "item", 2: "user", 3: "state", 4: "campaign", 5: "rule"}
NO_BUILTINS = 0x1


class RecsysError(Exception):
    """A library call failed: .status (the recsys_status code), .status_name, .message."""

    def __init__(self, status, message=""):
        self.status = int(status)
        self.status_name = lib.recsys_status_str(self.status).decode()
        self.message = message
        super().__init__("%s: %s" % (self.status_name, message) if message else self.status_name)


_tls = threading.local()  # the last exception a plug-in raised on this thread
# Plug-ins may run on the engine's helper threads (a request's sources, a batch): the
# exceptions they raised, with the text they reported, so that the caller's thread finds
# its cause in the library's message. Bounded; guarded by _recent_mu.
_recent = []
_recent_mu = threading.Lock()
_RECENT_MAX = 32


def _remember(exc, text):
    _tls.exc = exc
    with _recent_mu:
        _recent.append((text, exc))
        del _recent[:-_RECENT_MAX]


def _cause_of(message):
    cause = getattr(_tls, "exc", None)
    _tls.exc = None
    with _recent_mu:
        for i in range(len(_recent) - 1, -1, -1):
            text, exc = _recent[i]
            if (cause is not None and exc is cause) or (cause is None and text in message):
                del _recent[i]
                return exc
    return cause


def _b(s):
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    return str(s).encode()


def _s(b):
    return None if b is None else b.decode("utf-8", "replace")


def check(status):
    """Raises RecsysError for a failing status, with the thread's last message; the Python
    exception of a plug-in that failed the call becomes its __cause__."""
    if status != OK:
        err = RecsysError(status, _s(lib.recsys_last_error()))
        cause = _cause_of(err.message)
        if cause is not None:
            raise err from cause
        raise err
    _tls.exc = None


def _take_string(ptr):
    """Copies and frees a string the library returned (recsys_string_free)."""
    try:
        return ctypes.string_at(ptr.value).decode()
    finally:
        lib.recsys_string_free(ptr)


def _json_call(fn, *args):
    """fn(*args, &out) for a library call returning JSON text (recsys_string_free): the
    parsed value, or RecsysError."""
    out = N.c_void_p()
    check(fn(*args, ctypes.byref(out)))
    return json.loads(_take_string(out))


def version():
    """The library's version string ("0.2.0")."""
    return lib.recsys_version_string().decode()


def version_number():
    return lib.recsys_version_number()


# ---------------------------------------------------------------------------- options


class Option:
    __slots__ = ("key", "name", "type", "doc", "min", "max", "default")

    def __init__(self, d):
        self.key = d.key
        self.name = d.name.decode()
        self.type = {1: int, 2: float, 3: str}[d.type]
        self.doc = _s(d.doc)
        self.min, self.max = d.min_value, d.max_value
        self.default = _s(d.default_str) if self.type is str else self.type(d.default_value)

    def __repr__(self):
        return "Option(%s=%r, %s)" % (self.name, self.default, self.type.__name__)


_options = None


def options():
    """The library's option table (recsys_option_next / recsys_option_info), by dotted name."""
    global _options
    if _options is None:
        table, key, nxt = {}, 0, N.c_int32()
        while lib.recsys_option_next(key, ctypes.byref(nxt)) == OK:
            key = nxt.value
            d = N.OptionDesc()
            d.struct_size = ctypes.sizeof(d)
            check(lib.recsys_option_info(key, ctypes.byref(d)))
            opt = Option(d)
            table[opt.name] = opt
        _options = table
    return _options


def option(name):
    """The Option for a dotted name ("engine.top_n") or its short form with '_' for '.'
    as a keyword argument gives it ("engine_top_n"), or its last part when unambiguous
    ("top_n"), or a group whose switch is GROUP.enabled ("explain"). Raises RecsysError(E_UNSUPPORTED) for an unknown name."""
    table = options()
    if name in table:
        return table[name]
    key = N.c_int32()
    if lib.recsys_option_by_name(_b(name), ctypes.byref(key)) == OK:
        for o in table.values():
            if o.key == key.value:
                return o
    if name + ".enabled" in table:  # "explain" is explain.enabled
        return table[name + ".enabled"]
    dotted = [o for o in table.values() if o.name.replace(".", "_") == name]
    short = [o for o in table.values() if o.name.split(".", 1)[-1] == name]
    hits = dotted or short
    if len(hits) == 1:
        return hits[0]
    raise RecsysError(E_UNSUPPORTED, "unknown option %r%s" % (
        name, " (ambiguous: %s)" % ", ".join(o.name for o in hits) if hits else ""))


def _option_value(opt, value):
    if opt.type is str:
        if not isinstance(value, str):
            raise RecsysError(E_INVALID_ARG, "option %s takes a str, not %r" % (opt.name, value))
        return value
    if isinstance(value, bool):
        value = int(value)
    if opt.type is int and (not isinstance(value, int) and not
                            (isinstance(value, float) and value.is_integer())):
        raise RecsysError(E_INVALID_ARG, "option %s takes an int, not %r" % (opt.name, value))
    if not isinstance(value, (int, float)):
        raise RecsysError(E_INVALID_ARG, "option %s takes a number, not %r" % (opt.name, value))
    if not (opt.min <= value <= opt.max):
        raise RecsysError(E_INVALID_ARG, "option %s: %r is outside %g..%g" % (
            opt.name, value, opt.min, opt.max))
    return opt.type(value)


# ---------------------------------------------------------------------------- results


class RecommendedItem:
    """One recommended item: item_id, score, sources [(name, score)], explanation,
    evidence [(kind, name, value)]."""
    __slots__ = ("item_id", "score", "sources", "explanation", "evidence")

    def __init__(self, item_id, score, sources=(), explanation="", evidence=()):
        self.item_id, self.score = item_id, score
        self.sources, self.explanation, self.evidence = list(sources), explanation, list(evidence)

    def __repr__(self):
        return "RecommendedItem(%r, %.4f)" % (self.item_id, self.score)


class Result:
    """The answer to one request. .items (RecommendedItem), .request_id, .stage_ns {stage:
    ns}, .sources_skipped; iterable and indexable; .item_ids and .scores as lists. A result
    read without details (the batch fast path) holds only ids and scores (request_id None);
    its items are made on first use. .experiment and .arm name the experiment and the arm
    that served it (Engine.experiment_recommend; arm "" when the user is not enrolled), both
    None for a plain recommend. .llm_stats is what the request asked of the LLM (the keys of
    Engine.llm_stats, for this request alone; empty for a result read without details)."""

    def __init__(self, request_id, items=None, stage_ns=None, sources_skipped=0, json_text=None,
                 ids=None, scores=None, experiment=None, arm=None, llm_stats=None):
        self.experiment, self.arm = experiment, arm
        self.llm_stats = llm_stats or {}
        self.request_id, self._items = request_id, items
        self.stage_ns, self.sources_skipped = stage_ns or {}, sources_skipped
        self._json = json_text
        self._ids, self._scores = ids, scores

    @property
    def items(self):
        if self._items is None:
            self._items = [RecommendedItem(i, s) for i, s in zip(self._ids, self._scores)]
        return self._items

    @classmethod
    def _from_native(cls, res, details=True):
        """Copies everything out of a native result (which the caller frees)."""
        n = lib.recsys_result_count(res)
        ids = (N.c_char_p * n)()
        scores = (N.c_double * n)()
        lib.recsys_result_items(res, ids, scores, n)
        if not details:
            return cls(None, ids=[i.decode() for i in ids[:]], scores=scores[:])
        items = []
        name, val, kind = N.c_char_p(), N.c_double(), N.c_int32()
        value = N.c_char_p()
        for i in range(n):
            srcs = []
            for j in range(lib.recsys_result_source_count(res, i)):
                check(lib.recsys_result_source(res, i, j, ctypes.byref(name), ctypes.byref(val)))
                srcs.append((name.value.decode(), val.value))
            evs = []
            for j in range(lib.recsys_result_evidence_count(res, i)):
                check(lib.recsys_result_evidence(res, i, j, ctypes.byref(kind), ctypes.byref(name),
                                                 ctypes.byref(value)))
                evs.append((EVIDENCE_KINDS.get(kind.value, kind.value), _s(name.value),
                            _s(value.value)))
            items.append(RecommendedItem(ids[i].decode(), scores[i], srcs,
                                         _s(lib.recsys_result_explanation(res, i)), evs))
        stage_ns = {k: lib.recsys_result_stage_ns(res, v) for k, v in STAGES.items()}
        out = N.c_void_p()
        check(lib.recsys_result_to_json(res, ctypes.byref(out)))
        llm = N.LlmStats()
        llm.struct_size = ctypes.sizeof(llm)
        check(lib.recsys_result_llm_stats(res, ctypes.byref(llm)))
        return cls(_s(lib.recsys_result_request_id(res)), items, stage_ns,
                   lib.recsys_result_sources_skipped(res), _take_string(out),
                   experiment=_s(lib.recsys_result_experiment(res)),
                   arm=_s(lib.recsys_result_arm(res)),
                   llm_stats={k: getattr(llm, k) for k, _ in N.LlmStats._fields_[2:]})

    @property
    def item_ids(self):
        return list(self._ids) if self._ids is not None else [it.item_id for it in self.items]

    @property
    def scores(self):
        return list(self._scores) if self._ids is not None else [it.score for it in self.items]

    def to_json(self):
        """The library's JSON of the result (recsys_result_to_json), when read with details."""
        return self._json

    def __len__(self):
        return len(self._ids) if self._ids is not None else len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def __repr__(self):
        return "Result(%r, %r)" % (self.request_id, self.items)


# ---------------------------------------------------------------------------- plug-in views


class Item:
    """Read-only view of a catalog item, valid only during the plug-in call."""
    __slots__ = ("_p",)

    def __init__(self, p):
        self._p = p

    @property
    def id(self):
        return lib.recsys_item_id(self._p).decode()

    def text(self, field):
        return _s(lib.recsys_item_text(self._p, FIELDS[field]))

    @property
    def title(self):
        return self.text("title")

    @property
    def category(self):
        return self.text("category")

    @property
    def tags(self):
        return [lib.recsys_item_tag(self._p, i).decode()
                for i in range(lib.recsys_item_tag_count(self._p))]

    @property
    def available(self):
        return bool(lib.recsys_item_available(self._p))

    @property
    def min_age(self):
        return lib.recsys_item_min_age(self._p)

    def number(self, name, default=None):
        v = N.c_double()
        st = lib.recsys_item_number(self._p, _b(name), ctypes.byref(v))
        if st == E_NOT_FOUND:
            return default
        check(st)
        return v.value


class Query:
    """What a plug-in sees of the request, valid only during the call."""
    __slots__ = ("_p",)

    def __init__(self, p):
        self._p = p

    @property
    def user_id(self):
        return _s(lib.recsys_query_user_id(self._p))

    @property
    def text(self):
        return _s(lib.recsys_query_text(self._p))

    @property
    def limit(self):
        return lib.recsys_query_limit(self._p)

    @property
    def now(self):
        return lib.recsys_query_now(self._p)

    @property
    def history(self):
        """[(item_id or None, event type name, timestamp)], most recent last."""
        out, it, ty, ts = [], N.c_void_p(), N.c_int32(), N.c_int64()
        for i in range(lib.recsys_query_history_count(self._p)):
            check(lib.recsys_query_history(self._p, i, ctypes.byref(it), ctypes.byref(ty),
                                           ctypes.byref(ts)))
            out.append((Item(it.value).id if it.value else None,
                        _s(lib.recsys_event_type_name(ty.value)), ts.value))
        return out

    @property
    def anchor(self):
        """The request's anchor item (an Item view), or None."""
        p = lib.recsys_query_anchor(self._p)
        return Item(p) if p else None

    def item(self, item_id):
        p = lib.recsys_query_item(self._p, _b(item_id))
        return Item(p) if p else None

    def option(self, name):
        v = N.c_double()
        check(lib.recsys_query_option(self._p, option(name).key, ctypes.byref(v)))
        return v.value


class Candidates:
    """The candidate set a stage works on, valid only during the call."""
    __slots__ = ("_p",)

    def __init__(self, p):
        self._p = p

    def __len__(self):
        return lib.recsys_candidates_count(self._p)

    def item(self, i):
        p = lib.recsys_candidates_item(self._p, i)
        if not p:
            raise IndexError(i)
        return Item(p)

    def __iter__(self):
        return (self.item(i) for i in range(len(self)))

    @property
    def ids(self):
        return [self.item(i).id for i in range(len(self))]

    def score(self, i):
        return lib.recsys_candidates_score(self._p, i)

    def source_score(self, i, source):
        v = N.c_double()
        st = lib.recsys_candidates_source_score(self._p, i, _b(source), ctypes.byref(v))
        if st == E_NOT_FOUND:
            return None
        check(st)
        return v.value

    def add(self, item_id, score):
        check(lib.recsys_candidates_add(self._p, _b(item_id), float(score)))

    def set_score(self, i, score):
        check(lib.recsys_candidates_set_score(self._p, i, float(score)))

    def drop(self, i, reason="host filter"):
        check(lib.recsys_candidates_drop(self._p, i, _b(reason)))

    def set_order(self, order):
        arr = (N.c_size_t * len(order))(*order)
        check(lib.recsys_candidates_set_order(self._p, arr, len(order)))


class LlmCall:
    """One call to the host's LLM: task, system, prompt, schema, max_tokens, temperature,
    deadline_ms."""

    def __init__(self, p):
        self.task = LLM_TASKS.get(lib.recsys_llm_call_task(p), "unknown")
        self.system = _s(lib.recsys_llm_call_system(p))
        self.prompt = _s(lib.recsys_llm_call_prompt(p))
        self.schema = _s(lib.recsys_llm_call_schema(p))
        self.max_tokens = lib.recsys_llm_call_max_tokens(p)
        self.temperature = lib.recsys_llm_call_temperature(p)
        self.deadline_ms = lib.recsys_llm_call_deadline_ms(p)


# ---------------------------------------------------------------------------- thunks


def _guard(fn):
    """Wraps a plug-in body: a Python exception becomes a status and the thread's message."""
    def thunk(*args):
        try:
            st = fn(*args)
            return OK if st is None else int(st)
        except RecsysError as e:
            text = e.message[:500]
            _remember(e, text)
            return lib.recsys_error_set(e.status or E_CALLBACK, _b(text))
        except BaseException as e:  # noqa: B902 - nothing may cross into C
            text = ("%s: %s" % (type(e).__name__, e))[:500]
            _remember(e, text)
            return lib.recsys_error_set(E_CALLBACK, _b(text))
    return thunk


def _stage_body(kind, fn):
    def body(ctx, q, c):
        cands = Candidates(c)
        out = fn(Query(q), cands)
        if out is None:
            return OK
        if kind == "source":
            for item_id, score in out:
                cands.add(item_id, score)
        elif kind == "filter":
            for i in sorted(set(out)):
                cands.drop(i)
        elif kind == "ranker":
            out = list(out)
            if len(out) != len(cands):
                raise ValueError("ranker returned %d scores for %d candidates" % (
                    len(out), len(cands)))
            for i, s in enumerate(out):
                cands.set_score(i, s)
        return OK
    return body


def _diversifier_body(fn):
    def body(ctx, q, c, n):
        cands = Candidates(c)
        out = fn(Query(q), cands, n)
        if out is not None:
            cands.set_order(list(out))
        return OK
    return body


def _llm_body(fn):
    def body(ctx, call, reply):
        out = fn(LlmCall(call))
        usage = None
        if isinstance(out, tuple):
            out, usage = out[0], out[1:]
        data = _b(out)
        check(lib.recsys_llm_reply_set_text(reply, data, len(data)))
        if usage:
            lib.recsys_llm_reply_set_usage(reply, int(usage[0]), int(usage[1]))
        return OK
    return body


def _embed_body(fn):
    def body(ctx, text, n, sink):
        vec = fn(ctypes.string_at(text, n).decode("utf-8", "replace"))
        try:
            import numpy as np
            arr = np.ascontiguousarray(vec, dtype=np.float32)
            check(lib.recsys_vector_sink_set(sink, arr.ctypes.data, arr.size))
        except ImportError:  # pragma: no cover - numpy is a dependency of the tests
            arr = (N.c_float * len(vec))(*vec)
            check(lib.recsys_vector_sink_set(sink, arr, len(vec)))
        return OK
    return body


# ---------------------------------------------------------------------------- store


class MemoryStore:
    """A store written in Python (dicts and a list): the reference for the store protocol a
    Python store object follows. Methods: put(kind, key, data: bytes), remove(kind, key) ->
    bool, get(kind, key) -> bytes or None, append_events(list of dict), scan_records(kind) ->
    iterable of (key, bytes), scan_events() -> iterable of dict, forget_user(user_id); sync()
    and compact() are optional. kind is "item", "user", "state", "campaign" or "rule"."""

    def __init__(self):
        self.records = {}
        self.events = []

    def put(self, kind, key, data):
        self.records.setdefault(kind, {})[key] = data

    def remove(self, kind, key):
        return self.records.get(kind, {}).pop(key, None) is not None

    def get(self, kind, key):
        return self.records.get(kind, {}).get(key)

    def append_events(self, events):
        self.events.extend(events)

    def scan_records(self, kind):
        return list(self.records.get(kind, {}).items())

    def scan_events(self):
        return list(self.events)

    def forget_user(self, user_id):
        self.events = [e for e in self.events if e["user_id"] != user_id]
        self.records.get("user", {}).pop(user_id, None)


def _event_dict(ev):
    return {"type": _s(lib.recsys_event_type_name(ev.type)), "timestamp": ev.timestamp,
            "value": ev.value, "user_id": _s(ev.user_id), "item_id": _s(ev.item_id),
            "request_id": _s(ev.request_id), "query": _s(ev.query), "position": ev.position}


def _store_vtable(store, keep):
    """A StoreVtable whose methods call the Python store object; keep receives every object
    that must stay alive while the engine can call it."""
    def put(ctx, kind, key, data, n):
        store.put(RECORD_KINDS[kind], key.decode(), ctypes.string_at(data, n))

    def remove(ctx, kind, key):
        return OK if store.remove(RECORD_KINDS[kind], key.decode()) else E_NOT_FOUND

    def get(ctx, kind, key, out):
        data = store.get(RECORD_KINDS[kind], key.decode())
        if data is None:
            return E_NOT_FOUND
        check(lib.recsys_store_value_set(out, data, len(data)))

    def append(ctx, evs, n):
        store.append_events([_event_dict(evs[i]) for i in range(n)])

    def scan_records(ctx, kind, visit, arg):
        for key, data in store.scan_records(RECORD_KINDS[kind]):
            st = visit(arg, kind, _b(key), data, len(data))
            if st != OK:
                return st

    def scan_events(ctx, visit, arg):
        for e in store.scan_events():
            ev = _event_struct(e)
            st = visit(arg, ctypes.byref(ev))
            if st != OK:
                return st

    def forget(ctx, user_id):
        store.forget_user(user_id.decode())

    def sync(ctx):
        if hasattr(store, "sync"):
            store.sync()

    def compact(ctx):
        if hasattr(store, "compact"):
            store.compact()

    vt = N.StoreVtable()
    lib.recsys_store_vtable_init(ctypes.byref(vt))
    fns = [N.DESTROY(lambda ctx: None), N.ST_PUT(_guard(put)), N.ST_REMOVE(_guard(remove)),
           N.ST_GET(_guard(get)), N.ST_APPEND(_guard(append)),
           N.ST_SCAN_RECORDS(_guard(scan_records)), N.ST_SCAN_EVENTS(_guard(scan_events)),
           N.ST_FORGET(_guard(forget)), N.ST_NOARG(_guard(sync)), N.ST_NOARG(_guard(compact))]
    (vt.destroy, vt.put, vt.remove, vt.get, vt.append_events, vt.scan_records, vt.scan_events,
     vt.forget_user, vt.sync, vt.compact) = fns
    keep.extend(fns)
    keep.append(store)
    return vt


def _event_struct(e, keep=None):
    """A recsys_event from a dict (user_id, item_id, type, value, timestamp, request_id,
    position, query; for an impression also sources (a list of names), ranker, llm_calls,
    llm_tokens); keep receives the encoded strings."""
    ev = N.Event()
    lib.recsys_event_init(ctypes.byref(ev))
    t = e.get("type", "click")
    ev.type = EVENT_TYPES[t] if isinstance(t, str) else int(t)
    ev.timestamp = int(e.get("timestamp") or 0)
    ev.value = float(e.get("value") or 0.0)
    strs = [_b(e.get(k)) for k in ("user_id", "item_id", "request_id", "query")]
    ev.user_id, ev.item_id, ev.request_id, ev.query = strs
    pos = e.get("position")
    ev.position = -1 if pos is None else int(pos)
    srcs = e.get("sources")
    strs += [_b(",".join(srcs) if srcs else None), _b(e.get("ranker"))]
    ev.sources, ev.ranker = strs[4], strs[5]
    ev.llm_calls = int(e.get("llm_calls") or 0)
    ev.llm_tokens = int(e.get("llm_tokens") or 0)
    if keep is not None:
        keep.append(strs)
    return ev


class _Owned:
    """A native handle this object frees: close() (idempotent), the context manager, and the
    garbage collector as a last resort. Subclasses set _free (the recsys_*_free function)."""
    _h = None
    _free = None
    _what = "object"

    def close(self):
        if self._h is not None:
            h, self._h = self._h, None
            type(self)._free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    @property
    def handle(self):
        if self._h is None:
            raise RecsysError(E_STATE, "the %s is closed" % self._what)
        return self._h


# ---------------------------------------------------------------------------- the engine


class Engine(_Owned):
    """One recommender (recsys_engine). Use as a context manager, or call close().

    Engine(seed=0, store=None, store_dir=None, builtins=True, **options): store is a Python
    store object (see MemoryStore), store_dir opens the built-in durable file store there;
    neither means the built-in memory store. Keyword options are library options by name
    ("top_n", "rank_w_category", "engine.top_n"...), checked against the option table."""

    def __init__(self, seed=0, store=None, store_dir=None, builtins=True, **opts):
        self._h = None
        self._keep = []  # ctypes thunks and Python plug-ins: alive until close()
        self._conversations = weakref.WeakSet()  # closed before the engine is freed
        o = N.EngineOpts()
        lib.recsys_engine_opts_init(ctypes.byref(o))
        o.seed = seed
        o.flags = 0 if builtins else NO_BUILTINS
        if store is not None and store_dir is not None:
            raise RecsysError(E_INVALID_ARG, "give store or store_dir, not both")
        if store is not None:
            vt = _store_vtable(store, self._keep)
            self._keep.append(vt)
            o.store = ctypes.pointer(vt)
        elif store_dir is not None:
            vt = N.StoreVtable()
            lib.recsys_store_vtable_init(ctypes.byref(vt))
            check(lib.recsys_store_file_new(_b(store_dir), None, ctypes.byref(vt)))
            self._keep.append(vt)
            o.store = ctypes.pointer(vt)
        h = N.c_void_p()
        check(lib.recsys_engine_new(ctypes.byref(o), ctypes.byref(h)))
        self._h = h
        if opts:
            self.set_options(**opts)

    _free = lib.recsys_engine_free
    _what = "engine"

    def close(self):
        """Frees the engine (each plug-in's destroy runs once), then drops the plug-ins.
        Conversations still open on it are closed first."""
        for conv in list(getattr(self, "_conversations", ())):
            conv.close()
        _Owned.close(self)
        self._keep = []

    # options
    def set_option(self, name, value):
        opt = option(name)
        v = _option_value(opt, value)
        if opt.type is int:
            check(lib.recsys_engine_set_int(self.handle, opt.key, v))
        elif opt.type is float:
            check(lib.recsys_engine_set_double(self.handle, opt.key, v))
        else:
            check(lib.recsys_engine_set_str(self.handle, opt.key, _b(v)))

    def set_options(self, **kw):
        for k, v in kw.items():
            self.set_option(k, v)

    def get_option(self, name):
        opt = option(name)
        if opt.type is int:
            v = N.c_int64()
            check(lib.recsys_engine_get_int(self.handle, opt.key, ctypes.byref(v)))
            return v.value
        if opt.type is float:
            v = N.c_double()
            check(lib.recsys_engine_get_double(self.handle, opt.key, ctypes.byref(v)))
            return v.value
        need = N.c_size_t()
        buf = ctypes.create_string_buffer(64)
        st = lib.recsys_engine_get_str(self.handle, opt.key, buf, 64, ctypes.byref(need))
        if st == E_TOO_SMALL:
            buf = ctypes.create_string_buffer(need.value)
            st = lib.recsys_engine_get_str(self.handle, opt.key, buf, need.value,
                                           ctypes.byref(need))
        check(st)
        return buf.value.decode()

    # catalog and users
    @staticmethod
    def _json(obj):
        return obj if isinstance(obj, (str, bytes)) else json.dumps(obj)

    def upsert_items(self, items):
        """Items from a dict, a list of dicts or JSON text (all or nothing)."""
        data = _b(self._json(items))
        check(lib.recsys_catalog_upsert_json(self.handle, data, len(data)))

    def upsert_item(self, item_id, title=None, category=None, description=None, provider=None,
                    tags=(), numbers=None, strings=None, embeddings=None, bools=None,
                    regions=(), available=None, min_age=None, created=None):
        """One item through the item builder; embeddings {name: float32 array} are handed
        to the library by pointer (no copy on the Python side when already float32 and
        contiguous). bools {name: bool} are boolean attributes; regions where the item may
        be shown (none: everywhere); available (default True), min_age (default 0) and
        created (Unix seconds, default 0 = unknown) as recsys_item_spec_set_flags."""
        import numpy as np
        spec = N.c_void_p()
        check(lib.recsys_item_spec_new(_b(item_id), ctypes.byref(spec)))
        try:
            for field, text in (("title", title), ("category", category),
                                ("description", description), ("provider", provider)):
                if text is not None:
                    check(lib.recsys_item_spec_set_text(spec, FIELDS[field], _b(text)))
            for t in tags:
                check(lib.recsys_item_spec_add_tag(spec, _b(t)))
            for k, v in (numbers or {}).items():
                check(lib.recsys_item_spec_set_number(spec, _b(k), float(v)))
            for k, v in (strings or {}).items():
                check(lib.recsys_item_spec_set_string(spec, _b(k), _b(v)))
            for k, v in (bools or {}).items():
                check(lib.recsys_item_spec_set_bool(spec, _b(k), 1 if v else 0))
            if isinstance(regions, (str, bytes)):
                raise RecsysError(E_INVALID_ARG, "regions is a list of region names")
            for r in regions:
                check(lib.recsys_item_spec_add_region(spec, _b(r)))
            if available is not None or min_age is not None or created is not None:
                check(lib.recsys_item_spec_set_flags(
                    spec, 1 if available is None or available else 0,
                    0 if min_age is None else _int_arg("min_age", min_age, -2**31, 2**31 - 1),
                    0 if created is None else _int_arg("created", created, -2**63, 2**63 - 1)))
            for name, vec in (embeddings or {}).items():
                arr = _f32(vec, np, ndim=1)
                check(lib.recsys_item_spec_set_embedding(spec, _b(name), arr.ctypes.data,
                                                         arr.size))
            check(lib.recsys_catalog_upsert(self.handle, spec))
        finally:
            lib.recsys_item_spec_free(spec)

    def add_items_with_embeddings(self, item_ids, matrix, name="default", **fields):
        """Upserts one item per row of a float32 matrix (n x dim) with that embedding."""
        import numpy as np
        m = _f32(matrix, np, ndim=2)
        if m.shape[0] != len(item_ids):
            raise RecsysError(E_INVALID_ARG, "%d ids for %d rows" % (len(item_ids), m.shape[0]))
        for i, item_id in enumerate(item_ids):
            self.upsert_item(item_id, embeddings={name: m[i]}, **fields)

    def item_embeddings(self, item_ids, dim, name="default", out=None):
        """The named embedding of each item as one float32 matrix (len(item_ids) x dim),
        written by the library straight into the array (out, when given, must be a
        C-contiguous float32 array of that shape)."""
        import numpy as np
        n = len(item_ids)
        if out is None:
            out = np.empty((n, dim), dtype=np.float32)
        elif (out.dtype != np.float32 or out.shape != (n, dim) or
              not out.flags["C_CONTIGUOUS"] or not out.flags["WRITEABLE"]):
            raise RecsysError(E_INVALID_ARG, "out must be a writeable C-contiguous float32 "
                              "array of shape (%d, %d)" % (n, dim))
        ids = (N.c_char_p * n)(*[_b(i) for i in item_ids])
        check(lib.recsys_catalog_embeddings(self.handle, _b(name), ids, n, dim,
                                            out.ctypes.data if n else None))
        return out

    def remove_item(self, item_id):
        check(lib.recsys_catalog_remove(self.handle, _b(item_id)))

    def get_item(self, item_id):
        return _json_call(lib.recsys_catalog_get_json, self.handle, _b(item_id))

    def upsert_users(self, users):
        data = _b(self._json(users))
        check(lib.recsys_user_upsert_json(self.handle, data, len(data)))

    def get_user(self, user_id):
        return _json_call(lib.recsys_user_get_json, self.handle, _b(user_id))

    def forget_user(self, user_id):
        check(lib.recsys_user_forget(self.handle, _b(user_id)))

    # feedback
    def feedback(self, user_id, item_id=None, type="click", value=0.0, timestamp=0,
                 request_id=None, position=None, query=None):
        keep = []
        ev = _event_struct({"user_id": user_id, "item_id": item_id, "type": type,
                            "value": value, "timestamp": timestamp, "request_id": request_id,
                            "position": position, "query": query}, keep)
        check(lib.recsys_feedback(self.handle, ctypes.byref(ev)))

    def feedback_many(self, events):
        """Events as JSON text, or a list of dicts (one recsys_feedback_batch call)."""
        if isinstance(events, (str, bytes)):
            data = _b(events)
            check(lib.recsys_feedback_json(self.handle, data, len(data)))
            return
        keep = []
        arr = (N.Event * len(events))(*[_event_struct(e, keep) for e in events])
        check(lib.recsys_feedback_batch(self.handle, arr, len(events)))

    def refresh(self):
        check(lib.recsys_refresh(self.handle))

    def compact(self):
        check(lib.recsys_engine_compact(self.handle))

    def count(self, what):
        v = N.c_uint64()
        check(lib.recsys_engine_count(self.handle, COUNTERS[what], ctypes.byref(v)))
        return v.value

    def llm_stats(self):
        s = N.LlmStats()
        s.struct_size = ctypes.sizeof(s)
        check(lib.recsys_engine_llm_stats(self.handle, ctypes.byref(s)))
        return {name: getattr(s, name) for name, _ in N.LlmStats._fields_[2:]}

    def ials_import(self, item_ids, factors):
        import numpy as np
        f = _f32(factors, np, ndim=2) if len(item_ids) else None
        n = len(item_ids)
        ids = (N.c_char_p * n)(*[_b(i) for i in item_ids])
        k = f.shape[1] if n else 1
        ptr = f.ctypes.data_as(ctypes.POINTER(N.c_float)) if n else None
        check(lib.recsys_ials_import(self.handle, ids, ptr, n, k))

    def ranker_train(self, ranker, outcomes):
        keep = []
        arr = (N.Event * len(outcomes))(*[_event_struct(e, keep) for e in outcomes])
        check(lib.recsys_ranker_train(self.handle, _b(ranker), arr, len(outcomes)))

    # rules and campaigns
    @staticmethod
    def _rule(kind, expr=None, value=0.0, position=0, item_id=None):
        r = N.Rule()
        lib.recsys_rule_init(ctypes.byref(r))
        r.kind = RULE_KINDS[kind] if isinstance(kind, str) else int(kind)
        r.expr, r.value, r.position, r.item_id = _b(expr), float(value), position, _b(item_id)
        return r

    def set_rule(self, name, kind, expr=None, value=0.0, position=0, item_id=None):
        r = self._rule(kind, expr, value, position, item_id)
        check(lib.recsys_engine_rule_set(self.handle, _b(name), ctypes.byref(r)))

    def remove_rule(self, name):
        check(lib.recsys_engine_rule_remove(self.handle, _b(name)))

    def upsert_campaign(self, campaign):
        data = _b(self._json(campaign))
        check(lib.recsys_campaign_upsert_json(self.handle, data, len(data)))

    def remove_campaign(self, campaign_id):
        check(lib.recsys_campaign_remove(self.handle, _b(campaign_id)))

    # plug-ins
    def enable(self, kind, name, enabled=True):
        check(lib.recsys_engine_plugin_enable(self.handle, PLUGIN_KINDS[kind], _b(name),
                                              1 if enabled else 0))

    def enable_only_sources(self, names):
        """Turns every built-in source off except names (an unknown name raises)."""
        for s in ("content", "popular", "trending", "itemknn", "rp3beta", "ease", "ials",
                  "session", "vector", "search", "campaign"):
            st = lib.recsys_engine_plugin_enable(self.handle, 1, _b(s), 0)
            if st not in (OK, E_NOT_FOUND):
                check(st)
        for s in names:
            self.enable("source", s, True)

    def configure_source(self, name, weight=1.0, quota=0):
        check(lib.recsys_engine_source_configure(self.handle, _b(name), float(weight), quota))

    def source_settings(self, name):
        w, q = N.c_double(), N.c_size_t()
        check(lib.recsys_engine_source_settings(self.handle, _b(name), ctypes.byref(w),
                                                ctypes.byref(q)))
        return w.value, q.value

    def _register(self, fn, vt_type, proto, method, body, register, name):
        if not callable(fn):
            raise RecsysError(E_INVALID_ARG, "plug-in %r is not callable" % (name,))
        vt = vt_type()
        vt.struct_size = ctypes.sizeof(vt)
        thunk = proto(_guard(body))
        destroy = N.DESTROY(lambda ctx: None)
        vt.destroy = destroy
        setattr(vt, method, thunk)
        self._keep.extend([fn, vt, thunk, destroy])
        check(register(self.handle, _b(name), ctypes.byref(vt)))

    def add_source(self, name, fn):
        """fn(query, candidates): calls candidates.add(item_id, score), or returns an iterable
        of (item_id, score)."""
        self._register(fn, N.SourceVtable, N.STAGE, "retrieve", _stage_body("source", fn),
                       lib.recsys_engine_add_source, name)

    def add_filter(self, name, fn):
        """fn(query, candidates): calls candidates.drop(i), or returns indices to drop."""
        self._register(fn, N.FilterVtable, N.STAGE, "apply", _stage_body("filter", fn),
                       lib.recsys_engine_add_filter, name)

    def set_ranker(self, name, fn):
        """fn(query, candidates): returns one score per candidate (or calls set_score)."""
        self._register(fn, N.RankerVtable, N.STAGE, "score", _stage_body("ranker", fn),
                       lib.recsys_engine_set_ranker, name)

    def add_diversifier(self, name, fn):
        """fn(query, candidates, n): returns the order (candidate indices, at most n)."""
        self._register(fn, N.DiversifierVtable, N.SELECT, "select", _diversifier_body(fn),
                       lib.recsys_engine_add_diversifier, name)

    def set_llm(self, name, fn):
        """fn(call: LlmCall) -> reply text, or (text, prompt_tokens, completion_tokens)."""
        self._register(fn, N.LlmVtable, N.COMPLETE, "complete", _llm_body(fn),
                       lib.recsys_engine_set_llm, name)

    def set_embedder(self, name, fn):
        """fn(text) -> a vector (list or numpy array of floats)."""
        self._register(fn, N.EmbedderVtable, N.EMBED, "embed", _embed_body(fn),
                       lib.recsys_engine_set_embedder, name)

    # recommend
    def _request(self, user=None, query=None, top_n=None, exclude=(), include=(), anchor=None,
                 ranker=None, request_id=None, rules=(), **opts):
        req = N.c_void_p()
        check(lib.recsys_request_new(ctypes.byref(req)))
        try:
            if user is not None:
                check(lib.recsys_request_set_user(req, _b(user)))
            if query is not None:
                check(lib.recsys_request_set_query(req, _b(query)))
            if anchor is not None:
                check(lib.recsys_request_set_anchor(req, _b(anchor)))
            if ranker is not None:
                check(lib.recsys_request_set_ranker(req, _b(ranker)))
            if request_id is not None:
                check(lib.recsys_request_set_id(req, _b(request_id)))
            for i in exclude:
                check(lib.recsys_request_exclude(req, _b(i)))
            for i in include:
                check(lib.recsys_request_include(req, _b(i)))
            for r in rules:
                rr = self._rule(**r)
                check(lib.recsys_request_add_rule(req, ctypes.byref(rr)))
            if top_n is not None:
                opts["engine.top_n"] = top_n
            for k, v in opts.items():
                opt = option(k)
                v = _option_value(opt, v)
                if opt.type is int:
                    check(lib.recsys_request_set_int(req, opt.key, v))
                elif opt.type is float:
                    check(lib.recsys_request_set_double(req, opt.key, v))
                else:
                    raise RecsysError(E_INVALID_ARG, "option %s cannot be set per request" %
                                      opt.name)
        except BaseException:
            lib.recsys_request_free(req)
            raise
        return req

    def recommend(self, user=None, **kw):
        """One request (recsys_recommend): user, query, top_n, exclude, include, anchor,
        ranker, request_id, rules [dict(kind=..., expr=...)], and per-request options as
        keywords. Returns a Result with every detail."""
        return self._serve(lambda req, out: lib.recsys_recommend(self.handle, req, out),
                           user, kw)

    def _serve(self, call, user, kw, visit=None):
        """Builds the request, runs call(req, &res), lets visit(res) read the native result,
        and returns the Result copied out; the request and the result are freed."""
        req = self._request(user, **kw)
        res = N.c_void_p()
        try:
            check(call(req, ctypes.byref(res)))
            if visit is not None:
                visit(res)
            return Result._from_native(res)
        finally:
            lib.recsys_result_free(res)
            lib.recsys_request_free(req)

    def score_batch(self, users, item_ids, threads=0, **kw):
        """The engine's final scores of the given items for each user, as a float64 matrix
        (len(users) x len(item_ids)): one recsys_recommend_batch call whose requests are
        restricted to item_ids (recsys_request_include). NaN marks an item the pipeline did
        not rank for that user (no source proposed it, or a filter or rule removed it:
        already consumed, unavailable...). At most 1000 items per call (engine.top_n)."""
        return _score_batch(self, users, item_ids, threads, **kw)

    def recommend_batch(self, users, threads=0, details=False, raise_on_error=True, **kw):
        """Recommends for many users in one recsys_recommend_batch call, on up to `threads`
        threads (0 = one per processor). Returns one Result per user, in order (with
        details=False only item ids and scores are read: the fast path). A failed slot
        raises (raise_on_error) or is a RecsysError in the list."""
        n = len(users)
        reqs = (N.c_void_p * n)()
        made = 0
        try:
            for i, u in enumerate(users):
                reqs[i] = self._request(u, **kw)
                made += 1
            results = (N.c_void_p * n)()
            statuses = (N.status_t * n)()
            st = lib.recsys_recommend_batch(self.handle, reqs, n, threads, results, statuses)
            msg = _s(lib.recsys_last_error())
            try:
                out = []
                for i in range(n):
                    if results[i]:
                        out.append(Result._from_native(results[i], details))
                    else:
                        out.append(RecsysError(statuses[i], "request %d failed" % i))
            finally:
                for i in range(n):
                    lib.recsys_result_free(results[i])
            if st != OK and raise_on_error:
                raise RecsysError(st, msg)
            return out
        finally:
            for i in range(made):
                lib.recsys_request_free(reqs[i])

    # the LLM layer: metadata enrichment and conversations
    def enrich(self, item_ids=None):
        """Asks the engine's LLM (set_llm) for tags, a summary and attributes of catalog items
        (recsys_catalog_enrich; item_ids None: the whole catalog) and returns the report as
        a dict: asked, cached, enriched, rejected, skipped, calls, dropped, and warning:
        None, or {"status", "status_name", "message"} when the call succeeded without doing
        everything (no LLM, its failure, a budget or deadline spent). A failing call raises
        RecsysError whose .report holds what was done until then."""
        h = self.handle
        if isinstance(item_ids, (str, bytes)):
            raise RecsysError(E_INVALID_ARG, "enrich: item_ids is a list of ids, not one id")
        rep = N.EnrichReport()
        rep.struct_size = ctypes.sizeof(rep)
        if item_ids is None:
            ids, n = None, 0
        else:
            enc = [_b(i) for i in item_ids]
            n = len(enc)
            ids = (N.c_char_p * max(n, 1))(*enc)
        st = lib.recsys_catalog_enrich(h, ids, n, ctypes.byref(rep))
        warn_status = lib.recsys_last_status() if st == OK else st
        warn_text = _s(lib.recsys_last_error())
        out = {name: getattr(rep, name) for name, _ in N.EnrichReport._fields_[2:]}
        out["warning"] = None
        if st != OK:
            try:
                check(st)
            except RecsysError as e:
                e.report = out
                raise
        if warn_status != OK:
            out["warning"] = {"status": int(warn_status),
                              "status_name": lib.recsys_status_str(warn_status).decode(),
                              "message": warn_text}
        return out

    def conversation(self, user_id=None):
        """Starts a conversation (recsys_conversation_new) for a user (None: anonymous): a
        Conversation, to use as a context manager; say(text) returns a Turn. It is closed
        with the engine at the latest."""
        conv = Conversation(self, user_id)
        self._conversations.add(conv)
        return conv

    # online evaluation and experiments
    def set_experiment(self, definition):
        """Defines or replaces an experiment (recsys_experiment_set) from a dict or JSON text:
        {"name", "salt", "holdout", "start", "end", "arms": [{"name", "percent", "ranker",
        "options": {name: value}}]}; arms[0] is the control."""
        data = _b(self._json(definition))
        check(lib.recsys_experiment_set(self.handle, data, len(data)))

    def remove_experiment(self, name):
        """Removes an experiment; name None removes every one, the saved definitions included
        even when they are damaged (recsys_experiment_remove with NULL)."""
        check(lib.recsys_experiment_remove(self.handle, _b(name)))

    def get_experiment(self, name):
        """The experiment's definition as a dict (keys as the library normalised them)."""
        return _json_call(lib.recsys_experiment_get_json, self.handle, _b(name))

    def experiment_arm(self, name, user_id):
        """The arm user_id is in (recsys_experiment_assign): an arm's name, "holdout", or ""
        when the user is not enrolled."""
        need = N.c_size_t()
        buf = ctypes.create_string_buffer(64)
        st = lib.recsys_experiment_assign(self.handle, _b(name), _b(user_id), buf, 64,
                                          ctypes.byref(need))
        if st == E_TOO_SMALL:  # 64 bytes always suffice today
            buf = ctypes.create_string_buffer(need.value)
            st = lib.recsys_experiment_assign(self.handle, _b(name), _b(user_id), buf,
                                              need.value, ctypes.byref(need))
        check(st)
        return buf.value.decode()

    def experiment_recommend(self, name, user=None, **kw):
        """recommend() under an experiment (recsys_experiment_recommend): the user's arm's
        option overrides and ranker apply on top of the request's. The Result's .experiment
        and .arm say which arm served it."""
        return self._serve(lambda req, out: lib.recsys_experiment_recommend(
            self.handle, _b(name), req, out), user, kw)

    def experiment_report(self, name):
        """The experiment's report (recsys_experiment_report_json) as a dict: arms with
        their metrics, comparisons to the control with intervals, the sample-ratio check."""
        return _json_call(lib.recsys_experiment_report_json, self.handle, _b(name))

    def online_metrics(self, start=0, end=0):
        """The online metrics of all traffic in [start, end) (Unix seconds; end 0 = open) as
        a dict (recsys_online_metrics_json)."""
        return _json_call(lib.recsys_online_metrics_json, self.handle,
                          _int_arg("start", start, -2**63, 2**63 - 1),
                          _int_arg("end", end, -2**63, 2**63 - 1))


def _score_batch(engine, users, item_ids, threads=0, **kw):
    import numpy as np
    col = {i: k for k, i in enumerate(item_ids)}
    if len(col) != len(item_ids):
        raise RecsysError(E_INVALID_ARG, "score_batch: repeated item ids")
    out = np.full((len(users), len(item_ids)), np.nan)
    if not item_ids or not users:
        return out
    kw.setdefault("top_n", min(len(item_ids), 1000))
    results = engine.recommend_batch(users, threads=threads, include=item_ids, **kw)
    for row, res in enumerate(results):
        for it in res.items:
            out[row, col[it.item_id]] = it.score
    return out


def _f32(a, np, ndim):
    """a as a C-contiguous float32 array of ndim dimensions, without a copy when it is one."""
    arr = np.asarray(a)
    if arr.dtype != np.float32 or not arr.flags["C_CONTIGUOUS"]:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.ndim != ndim:
        raise RecsysError(E_INVALID_ARG, "expected a %d-d array, got shape %s" % (ndim, arr.shape))
    if not np.all(np.isfinite(arr)):
        raise RecsysError(E_INVALID_ARG, "embedding values must be finite")
    return arr


def _int_arg(what, v, lo, hi):
    """v as an int in lo..hi (a bool or a float with a fraction is refused), else
    RecsysError(E_INVALID_ARG) naming what."""
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise RecsysError(E_INVALID_ARG, "%s takes an int, not %r" % (what, v))
    if not lo <= v <= hi:
        raise RecsysError(E_INVALID_ARG, "%s: %d is outside %d..%d" % (what, v, lo, hi))
    return v


# ---------------------------------------------------------------------------- conversations

TURN_KINDS = {1: "question", 2: "result"}


class Turn:
    """The library's answer to one thing the shopper said, copied out of the native turn
    (freed at once): kind ("question" or "result"), question and facet (the facet asked
    about: an attribute name, "category" or "tag:<tag>"; "" for a result), candidates (how
    many passed every filter under the constraints), result (a Result: the list as it
    stands, on a question turn too). Iterating a Turn iterates its result's items."""
    __slots__ = ("kind", "question", "facet", "candidates", "result")

    def __init__(self, kind, question, facet, candidates, result):
        self.kind, self.question, self.facet = kind, question, facet
        self.candidates, self.result = candidates, result

    @classmethod
    def _from_native(cls, t):
        k = lib.recsys_turn_kind(t)
        return cls(TURN_KINDS.get(k, k), _s(lib.recsys_turn_question(t)),
                   _s(lib.recsys_turn_facet(t)), lib.recsys_turn_candidates(t),
                   Result._from_native(lib.recsys_turn_result(t)))

    @property
    def items(self):
        return self.result.items

    def __iter__(self):
        return iter(self.result.items)

    def __len__(self):
        return len(self.result)

    def __repr__(self):
        return "Turn(%s, %r, %d candidates, %r)" % (self.kind, self.question or self.facet,
                                                    self.candidates, self.result.item_ids)


class Conversation(_Owned):
    """A shopper's multi-turn request (recsys_conversation): made by Engine.conversation(),
    closed by close(), the context manager, or the engine's close(). say(text) -> Turn;
    constraints() -> the accumulated constraints as a dict. One thread at a time."""

    _free = lib.recsys_conversation_free
    _what = "conversation"

    def __init__(self, engine, user_id=None):
        self._engine = engine  # the engine outlives the conversation
        h = N.c_void_p()
        check(lib.recsys_conversation_new(engine.handle, _b(user_id), ctypes.byref(h)))
        self._h = h
        self.user_id = user_id

    def say(self, text):
        """One turn (recsys_conversation_say): a request, a refinement or the answer to the
        last question. A failing turn raises and leaves the conversation unchanged."""
        if not isinstance(text, (str, bytes)):
            raise RecsysError(E_INVALID_ARG, "say: text must be a str, not %r" % (text,))
        t = N.c_void_p()
        try:
            check(lib.recsys_conversation_say(self.handle, _b(text), ctypes.byref(t)))
            return Turn._from_native(t)
        finally:
            lib.recsys_turn_free(t)

    def constraints(self):
        """{"category", "exclude_categories", "ranges", "equals", "require_tags",
        "exclude_tags", "terms", "expression"}: what was understood so far, and the filter
        the requests carry."""
        return _json_call(lib.recsys_conversation_constraints_json, self.handle)


# ---------------------------------------------------------------------------- interleaving

INTERLEAVE_MAX = 1000


def interleave(a, b, k, seed=0):
    """Team-draft interleaving of two rankings (recsys_interleave): a and b are item ids,
    best first, distinct within each list (at most INTERLEAVE_MAX each); k the most items to
    show; seed the coin flips (the same inputs and seed give the same list). Returns
    [(item_id, team)], team 0 where ranking a contributed the item, 1 where b did."""
    if isinstance(a, (str, bytes)) or isinstance(b, (str, bytes)):
        raise RecsysError(E_INVALID_ARG, "interleave: a and b are lists of ids")
    k = _int_arg("interleave: k", k, 0, 2**63 - 1)
    seed = _int_arg("interleave: seed", seed, 0, 2**64 - 1)
    ea, eb = [_b(i) for i in a], [_b(i) for i in b]
    arr_a = (N.c_char_p * max(len(ea), 1))(*ea)
    arr_b = (N.c_char_p * max(len(eb), 1))(*eb)
    cap = min(k, len(ea) + len(eb))
    out = (N.c_char_p * max(cap, 1))()
    team = (ctypes.c_uint8 * max(cap, 1))()
    n = N.c_size_t()
    check(lib.recsys_interleave(arr_a, len(ea), arr_b, len(eb), cap, seed, out, team,
                                ctypes.byref(n)))
    return [(out[i].decode(), team[i]) for i in range(n.value)]


def interleave_test(wins_a, wins_b):
    """The two-sided sign test over interleaved sessions (recsys_interleave_test): wins_a
    sessions ranking a won, wins_b that b won (ties left out). Returns p (1.0 when there
    are no decided sessions)."""
    wa = _int_arg("interleave_test: wins_a", wins_a, 0, 2**64 - 1)
    wb = _int_arg("interleave_test: wins_b", wins_b, 0, 2**64 - 1)
    p = N.c_double()
    check(lib.recsys_interleave_test(wa, wb, ctypes.byref(p)))
    return p.value
