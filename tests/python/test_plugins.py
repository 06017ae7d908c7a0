"""test_plugins.py - host plug-ins written in Python: source, filter, ranker, diversifier,
LLM, embedder and store; what they see; and their error paths: an exception raised inside
any of them is reported as the library's error (or, for the LLM, a fallback), never a crash,
and the callables stay alive as long as the engine can call them."""
import gc
import weakref

import numpy as np
import pytest

import recsys
from conftest import NOW, load


def test_source_sees_the_query_and_adds_candidates(engine):
    seen = {}

    def source(q, cands):
        seen.update(user=q.user_id, text=q.text, limit=q.limit, now=q.now,
                    history=q.history, item=q.item("c2").title, missing=q.item("zz"),
                    top=q.option("top_n"))
        cands.add("c3", 5.0)
        return [("f2", 2.0)]

    engine.enable_only_sources([])
    engine.add_source("py-src", source)
    res = engine.recommend("u1", top_n=4)
    assert set(res.item_ids) == {"c3", "f2"}
    assert all(n == "py-src" for it in res for n, _ in it.sources)
    assert seen["text"] is None
    engine.recommend("u1", query="python", top_n=4)  # (the query may narrow the list)
    assert seen["user"] == "u1" and seen["text"] == "python" and seen["limit"] > 0
    assert seen["now"] == NOW and seen["item"] == "Practical Kubernetes"
    assert seen["missing"] is None and seen["top"] == 4
    assert ("c1", "purchase", NOW - 3000) in seen["history"]
    with pytest.raises(recsys.RecsysError) as ei:
        engine.add_source("py-src", source)
    assert ei.value.status == recsys.E_EXISTS
    with pytest.raises(recsys.RecsysError):
        engine.add_source("BAD NAME", source)
    with pytest.raises(recsys.RecsysError):
        engine.add_source("x", "not callable")


def test_filter_ranker_and_diversifier(engine):
    looked = []

    def no_film(q, cands):
        for i, it in enumerate(cands):
            looked.append((it.id, it.category, it.tags, it.available, it.min_age,
                           it.number("price"), it.text("description"),
                           cands.score(i), cands.source_score(i, "popular")))
        return [i for i, it in enumerate(cands) if it.category == "film"]

    def by_price(q, cands):
        assert cands.ids == [it.id for it in cands]
        return [-(it.number("price", 0.0)) for it in cands]

    def reverse(q, cands, n):
        return list(range(len(cands)))[::-1][:n]

    engine.add_filter("no-film", no_film)
    engine.set_ranker("cheap-first", by_price)
    res = engine.recommend("u3", top_n=8)
    assert res.item_ids and all(not i.startswith("f") for i in res.item_ids)
    prices = [engine.get_item(i)["attributes"]["price"] for i in res.item_ids]
    assert prices == sorted(prices)
    assert looked and looked[0][3] is True
    engine.add_diversifier("reverse", reverse)
    res2 = engine.recommend("u3", top_n=8)
    assert res2.item_ids == res.item_ids[::-1]
    # the host ranker can still be switched for a built-in one per request
    assert engine.recommend("u3", ranker="blend").item_ids


def test_raising_callbacks_become_library_errors(engine):
    class Boom(Exception):
        pass

    def bad_source(q, c):
        raise Boom("source exploded")

    engine.add_source("bad-src", bad_source)
    with pytest.raises(recsys.RecsysError) as ei:
        engine.recommend("u1")
    assert ei.value.status == recsys.E_CALLBACK
    assert "bad-src" in ei.value.message and "source exploded" in ei.value.message
    assert isinstance(ei.value.__cause__, Boom)
    engine.enable("source", "bad-src", False)

    def bad_filter(q, c):
        raise recsys.RecsysError(recsys.E_IO, "filter backend is down")
    engine.add_filter("bad-filter", bad_filter)
    with pytest.raises(recsys.RecsysError) as ei:
        engine.recommend("u1")
    assert ei.value.status == recsys.E_IO  # a plug-in's own code is kept
    assert "bad-filter" in ei.value.message and "backend is down" in ei.value.message
    engine.enable("filter", "bad-filter", False)

    engine.set_ranker("short", lambda q, c: [1.0])  # wrong number of scores
    with pytest.raises(recsys.RecsysError) as ei:
        engine.recommend("u1", top_n=5)
    assert ei.value.status == recsys.E_CALLBACK and "scores" in ei.value.message
    engine.set_ranker("zero-div", lambda q, c: [1 / 0 for _ in c])
    with pytest.raises(recsys.RecsysError) as ei:
        engine.recommend("u1")
    assert "ZeroDivisionError" in ei.value.message
    engine.set_ranker("nan", lambda q, c: [float("nan")] * len(c))
    with pytest.raises(recsys.RecsysError):
        engine.recommend("u1")
    engine.add_diversifier("bad-order", lambda q, c, n: [0, 0])
    engine.set_ranker("fine", lambda q, c: [0.0] * len(c))
    with pytest.raises(recsys.RecsysError):
        engine.recommend("u1")
    # the engine still works once the broken plug-ins are off
    engine.enable("diversifier", "bad-order", False)
    assert engine.recommend("u1").item_ids
    # and through the batch call, on helper threads: the error, not a crash
    engine.enable("source", "bad-src", True)
    with pytest.raises(recsys.RecsysError) as ei:
        engine.recommend_batch(["u1", "u2", "u3"], threads=3)
    assert ei.value.status == recsys.E_CALLBACK and "source exploded" in ei.value.message


def test_llm_callback_and_its_failures():
    calls = []

    def llm(call):
        calls.append((call.task, call.max_tokens, call.deadline_ms, call.temperature))
        assert call.prompt and call.system is not None
        if len(calls) % 2:
            raise RuntimeError("the model is down")
        return ('{"order": []}', 10, 5)

    with recsys.Engine(now=NOW, log_impressions=0) as e:
        load(e)
        without = len(e.recommend("cold-user", top_n=5))
        e.set_llm("py-llm", llm)
        e.set_options(**{"llm.calls_per_request": 2, "llm.rerank_n": 5})
        for _ in range(4):
            res = e.recommend("cold-user", top_n=5)  # cold: the LLM re-ranks
            assert len(res) == without > 0  # a failing LLM never fails the request
        stats = e.llm_stats()
        assert calls and calls[0][0] in ("rerank", "explain", "intent", "clarify", "enrich")
        assert stats["calls"] == len(calls)
        assert stats["failures"] >= 1 and stats["fallbacks"] >= 1


def test_embedder_numpy_vectors_and_failure():
    asked = []

    def embed(text):
        asked.append(text)
        if text == "explode":
            raise ValueError("cannot embed")
        return np.array([1.0, 0.0, 0.0], dtype=np.float32)

    with recsys.Engine(now=NOW, log_impressions=0) as e:
        e.upsert_item("t1", title="alpha", embeddings={"text": np.array([1, 0, 0], np.float32)})
        e.upsert_item("t2", title="beta", embeddings={"text": np.array([0, 1, 0], np.float32)})
        e.set_embedder("py-embed", embed)
        e.refresh()
        res = e.recommend(None, query="something")
        assert asked and res.item_ids and res.item_ids[0] == "t1"
        with pytest.raises(recsys.RecsysError) as ei:
            e.recommend(None, query="explode")
        assert "cannot embed" in ei.value.message and "py-embed" in ei.value.message
        assert isinstance(ei.value.__cause__, ValueError)


def test_raising_store_fails_the_call_and_changes_nothing():
    class FlakyStore(recsys.MemoryStore):
        fail = False

        def put(self, kind, key, data):
            if self.fail:
                raise OSError("disk full")
            super().put(kind, key, data)

        def append_events(self, events):
            if self.fail:
                raise OSError("disk full")
            super().append_events(events)

    store = FlakyStore()
    with recsys.Engine(store=store, now=NOW) as e:
        load(e)
        items, events = e.count("items"), e.count("events")
        store.fail = True
        with pytest.raises(recsys.RecsysError) as ei:
            e.upsert_items({"item_id": "new"})
        assert "disk full" in ei.value.message and isinstance(ei.value.__cause__, OSError)
        with pytest.raises(recsys.RecsysError):
            e.feedback("u1", "c2", "click")
        assert e.count("items") == items and e.count("events") == events
        store.fail = False
        e.feedback("u1", "c2", "click")


def test_plugins_live_as_long_as_the_engine():
    e = recsys.Engine(now=NOW, log_impressions=0)
    load(e)

    class Src:
        def __call__(self, q, c):
            return [("c2", 1.0)]

    src = Src()
    ref = weakref.ref(src)
    e.enable_only_sources([])
    e.add_source("held", src)
    del src
    gc.collect()
    assert ref() is not None  # the engine can still call it
    for _ in range(3):
        assert e.recommend("u1").item_ids == ["c2"]
    e.close()
    gc.collect()
    assert ref() is None  # released once the engine is gone
