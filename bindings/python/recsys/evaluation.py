"""evaluation.py - the offline evaluation protocol (EVAL_PROTOCOL.md) from Python, over the
library's recsys_eval_* API: the figures are those recsys-bench eval prints for the same
lists.

    ds = Dataset("../shared/data/ml-100k", "ml-100k")
    with Engine(seed=2025) as e:
        ds.configure(e, "train"); ds.feed(e, "train", items=True)
        e.enable_only_sources(["ials"]); e.enable("ranker", "blend", False)
        e.refresh()
        metrics = ds.evaluate(e, "test")      # a dict: {"ndcg@10": ..., "mostpop": {...}}
"""
import ctypes

from . import _native as N
from .engine import E_INVALID_ARG, RecsysError, Result, _b, _json_call, _Owned, check

lib = N.lib
PARTS = {"train": 1, "test": 2, "fit": 3, "validation": 4, "all": 5}
VARIANTS = {"all": 0, "ge4": 1}
FEED_ITEMS, FEED_METADATA = 0x1, 0x2


def _part(p):
    if p not in PARTS:
        raise RecsysError(E_INVALID_ARG, "unknown part %r (one of %s)" % (p, ", ".join(PARTS)))
    return PARTS[p]


class Dataset(_Owned):
    """A data set read and split per the protocol (recsys_eval_dataset_open): path is the
    ml-100k or ml-latest-small folder or a csv file; format "ml-100k", "ml-latest-small" or
    "csv"; variant "all" or "ge4"; items_path an optional item metadata csv (csv only)."""

    _free = lib.recsys_eval_dataset_free
    _what = "data set"

    def __init__(self, path, format="ml-100k", variant="all", items_path=None):
        if variant not in VARIANTS:
            raise RecsysError(E_INVALID_ARG, "unknown variant %r" % (variant,))
        h = N.c_void_p()
        check(lib.recsys_eval_dataset_open(_b(path), _b(format), VARIANTS[variant],
                                           _b(items_path), None, ctypes.byref(h)))
        self._h = h

    def info(self):
        """Counts: users, items, interactions, train, test, fit, validation, test_users..."""
        return _json_call(lib.recsys_eval_dataset_info_json, self.handle)

    @property
    def item_ids(self):
        h = self.handle
        return [lib.recsys_eval_dataset_item_id(h, i).decode()
                for i in range(lib.recsys_eval_dataset_item_count(h))]

    def users(self, part="test"):
        """Engine ids of the users with interactions in part (for test: the evaluated users)."""
        h, p = self.handle, _part(part)
        return [lib.recsys_eval_dataset_user_id(h, p, i).decode()
                for i in range(lib.recsys_eval_dataset_user_count(h, p))]

    def configure(self, engine, part="train"):
        """The options the protocol fixes, for an engine trained on part."""
        check(lib.recsys_eval_dataset_configure(self.handle, engine.handle, _part(part)))

    def feed(self, engine, part="train", items=True, metadata=False):
        """Loads the catalog (items, or with metadata: titles and genres) and part's
        interactions as view events in time order."""
        flags = (FEED_ITEMS if items else 0) | (FEED_METADATA if metadata else 0)
        check(lib.recsys_eval_dataset_feed(self.handle, engine.handle, _part(part), flags))

    def run(self, part="test"):
        return Run(self, part)

    def evaluate(self, engine, part="test", threads=0, **request_opts):
        """Recommends for every evaluated user of part with one batch call (top 20, no
        explanations, no impressions, plus request_opts) and returns the metrics dict."""
        users = self.users(part)
        opts = {"top_n": 20, "explain.enabled": 0, "engine.log_impressions": 0}
        opts.update(request_opts)
        results = engine.recommend_batch(users, threads=threads, **opts)
        with self.run(part) as run:
            for u, res in zip(users, results):
                run.add(u, res.item_ids)
            return run.metrics()


class Run(_Owned):
    """Lists being scored for the users of part ("test" or "validation")."""

    _free = lib.recsys_eval_run_free
    _what = "run"

    def __init__(self, ds, part="test"):
        self._ds = ds  # keeps the data set alive
        h = N.c_void_p()
        check(lib.recsys_eval_run_new(ds.handle, _part(part), ctypes.byref(h)))
        self._h = h

    def add(self, user_id, item_ids):
        """The user's ranked list (engine item ids, best first, or a Result)."""
        if isinstance(item_ids, Result):
            item_ids = item_ids.item_ids
        n = len(item_ids)
        arr = (N.c_char_p * n)(*[_b(i) for i in item_ids])
        check(lib.recsys_eval_run_add(self.handle, _b(user_id), arr, n))

    def add_recommendation(self, engine, user_id, **request_opts):
        """Recommends for user_id (engine.recommend's keywords) and adds the list straight
        from the library's result (recsys_eval_run_add_result). Returns the Result."""
        def add(res):
            check(lib.recsys_eval_run_add_result(self.handle, _b(user_id), res))
        return engine._serve(lambda req, out: lib.recsys_recommend(engine.handle, req, out),
                             user_id, request_opts, visit=add)

    def metrics(self):
        return _json_call(lib.recsys_eval_run_metrics_json, self.handle)
