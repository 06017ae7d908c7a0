"""test_engine.py - the Engine's own calls: options, catalog, users, feedback, recommend,
batch, rules, campaigns, embeddings through numpy, stores, errors."""
import ctypes
import json

import numpy as np
import pytest

import recsys
from conftest import CATALOG, NOW, load


def test_version_and_library():
    assert recsys.version() == recsys.__version__
    assert recsys.version_number() >= 200
    assert recsys.library_path.endswith(".so") or "recsys" in recsys.library_path


def test_option_table_and_lookup():
    table = recsys.options()
    assert "engine.top_n" in table
    top = table["engine.top_n"]
    assert top.type is int and top.default == 10 and top.min == 1
    assert recsys.option("top_n") is top
    assert recsys.option("engine_top_n") is top
    assert recsys.option("rank.w_category").type is float
    assert recsys.option("retrieve.vector_index").type is str
    with pytest.raises(recsys.RecsysError) as ei:
        recsys.option("no_such_option")
    assert ei.value.status == recsys.E_UNSUPPORTED
    assert "no_such_option" in str(ei.value)


def test_engine_options_typed_and_checked(engine):
    engine.set_option("top_n", 7)
    assert engine.get_option("engine.top_n") == 7
    engine.set_options(rank_w_category=0.25, explain_enabled=True)
    assert engine.get_option("rank.w_category") == 0.25
    assert engine.get_option("explain") == 1
    engine.set_option("retrieve.vector_index", "Flat")
    assert engine.get_option("retrieve.vector_index") == "Flat"
    engine.set_option("retrieve.vector_index", "IDMap,Flat" + "," * 0)
    assert engine.get_option("retrieve.vector_index") == "IDMap,Flat"
    for bad in [("top_n", 0), ("top_n", 1.5), ("top_n", "3"), ("rank.w_category", "x"),
                ("retrieve.vector_index", 3)]:
        with pytest.raises(recsys.RecsysError) as ei:
            engine.set_option(*bad)
        assert ei.value.status == recsys.E_INVALID_ARG
    assert engine.get_option("top_n") == 7  # nothing changed
    with pytest.raises(recsys.RecsysError):
        recsys.Engine(top_n=-1)


def test_catalog_users_and_counts(engine):
    assert engine.count("items") == len(CATALOG)
    item = engine.get_item("c3")
    assert item["title"] == "Machine Learning with Python"
    engine.upsert_items(json.dumps({"item_id": "n1", "title": "New", "tags": ["x"]}))
    engine.upsert_item("n2", title="Builder", category="misc", description="d", provider="p",
                       tags=["a", "b"], numbers={"price": 9.5}, strings={"gpu": "RTX"})
    got = engine.get_item("n2")
    assert got["tags"] == ["a", "b"] and got["category"] == "misc"
    assert engine.count("items") == len(CATALOG) + 2
    engine.remove_item("n1")
    with pytest.raises(recsys.RecsysError) as ei:
        engine.get_item("n1")
    assert ei.value.status == recsys.E_NOT_FOUND
    # all or nothing: one bad item rejects the text, with its index in the message
    with pytest.raises(recsys.RecsysError) as ei:
        engine.upsert_items([{"item_id": "ok"}, {"title": "no id"}])
    assert ei.value.status == recsys.E_INVALID_ARG and "1" in ei.value.message
    with pytest.raises(recsys.RecsysError):
        engine.get_item("ok")
    user = engine.get_user("u1")
    assert user["user_id"] == "u1" and "backend" in user["interests"]
    engine.forget_user("u2")
    with pytest.raises(recsys.RecsysError) as ei:
        engine.get_user("u2")
    assert ei.value.status == recsys.E_NOT_FOUND
    assert engine.count("users") >= 2
    engine.compact()


def test_feedback_forms(engine):
    before = engine.count("events")
    engine.feedback("u9", "c2", "click", timestamp=NOW - 10, request_id="r1", position=0)
    engine.feedback("u9", None, "search", query="kubernetes", timestamp=NOW - 9)
    engine.feedback_many('[{"user_id":"u9","item_id":"c3","type":"like","timestamp":%d}]'
                         % (NOW - 8))
    engine.feedback_many([{"user_id": "u9", "item_id": "c4", "type": "rating", "value": 4,
                           "timestamp": NOW - 7}])
    assert engine.count("events") == before + 4
    with pytest.raises(recsys.RecsysError) as ei:
        engine.feedback("u9", "missing-item", "click")
    assert ei.value.status == recsys.E_NOT_FOUND
    with pytest.raises(recsys.RecsysError) as ei:  # all or nothing, the bad one named
        engine.feedback_many([{"user_id": "u9", "item_id": "c1"},
                              {"user_id": "u9", "item_id": "nope"}])
    assert "event 1" in ei.value.message
    assert engine.count("events") == before + 4


def test_recommend_result_details(engine):
    res = engine.recommend("u1", top_n=3, request_id="req-1")
    assert res.request_id == "req-1"
    assert 1 <= len(res) <= 3
    assert "c1" not in res.item_ids  # bought: the seen filter drops it
    first = res[0]
    assert isinstance(first, recsys.RecommendedItem)
    assert first.sources and all(isinstance(n, str) for n, _ in first.sources)
    assert first.explanation
    assert all(k in ("attribute", "history", "interest", "popularity", "query")
               for k, _, _ in first.evidence)
    assert res.scores == sorted(res.scores, reverse=True)
    assert set(res.stage_ns) >= {"retrieve", "rank"}
    assert json.loads(res.to_json())["request_id"] == "req-1"
    assert [it.item_id for it in res] == res.item_ids
    # request options, exclusions, include list, anchor, per-request rules and ranker
    r2 = engine.recommend("u1", exclude=[res.item_ids[0]], explain=0)
    assert res.item_ids[0] not in r2.item_ids and all(it.explanation == "" for it in r2)
    r3 = engine.recommend(None, include=["c2", "c3"], top_n=5)
    assert set(r3.item_ids) <= {"c2", "c3"}
    r4 = engine.recommend(None, anchor="c1", top_n=4)
    assert "c1" not in r4.item_ids
    r5 = engine.recommend("u1", rules=[{"kind": "block", "expr": 'category == "education"'}])
    assert all(engine.get_item(i)["category"] != "education" for i in r5.item_ids)
    r6 = engine.recommend("u3", query="kubernetes", ranker="blend", rank_w_category=0.5)
    assert isinstance(r6, recsys.Result)
    with pytest.raises(recsys.RecsysError) as ei:
        engine.recommend("u1", anchor="nope")
    assert ei.value.status == recsys.E_NOT_FOUND and "nope" in ei.value.message
    with pytest.raises(recsys.RecsysError) as ei:
        engine.recommend("u1", ranker="no-such-ranker")
    assert ei.value.status == recsys.E_NOT_FOUND
    with pytest.raises(recsys.RecsysError):
        engine.recommend("u1", rules=[{"kind": "filter", "expr": "price <<< 3"}])
    with pytest.raises(recsys.RecsysError):
        engine.recommend("u1", vector_index="Flat")  # string options are engine-wide


def test_recommend_batch_equals_single_calls(engine):
    users = ["u1", "u2", "u3", "cold", None, "u1"]
    single = [engine.recommend(u, top_n=4) for u in users]
    for threads in (0, 1, 3):
        fast = engine.recommend_batch(users, threads=threads, top_n=4)
        assert [r.item_ids for r in fast] == [r.item_ids for r in single]
        assert [r.scores for r in fast] == [r.scores for r in single]
        full = engine.recommend_batch(users, threads=threads, top_n=4, details=True)
        assert [[it.explanation for it in r] for r in full] == \
               [[it.explanation for it in r] for r in single]
    assert engine.recommend_batch([]) == []


def test_score_batch_matrix(engine):
    users = ["u1", "u2", "u3"]
    items = ["c2", "c3", "c1", "f2"]
    m = engine.score_batch(users, items)
    assert m.shape == (3, 4) and m.dtype == np.float64
    assert np.isnan(m[0, 2])  # u1 bought c1: the seen filter removes it
    for row, u in enumerate(users):
        res = engine.recommend(u, include=items, top_n=4)
        for it in res:
            assert m[row, items.index(it.item_id)] == it.score
        assert np.count_nonzero(~np.isnan(m[row])) == len(res)
    assert engine.score_batch([], items).shape == (0, 4)
    with pytest.raises(recsys.RecsysError):
        engine.score_batch(users, ["c2", "c2"])


def test_recommend_batch_failing_slot(engine):
    users = ["u1", "u2", "u3"]
    with pytest.raises(recsys.RecsysError) as ei:
        engine.recommend_batch(users, anchor="nope")
    assert ei.value.status == recsys.E_NOT_FOUND and "request 0" in ei.value.message
    out = engine.recommend_batch(users, anchor="nope", raise_on_error=False)
    assert all(isinstance(r, recsys.RecsysError) for r in out)
    with pytest.raises(recsys.RecsysError):  # a bad request option fails before any call
        engine.recommend_batch(users, top_n=0)


def test_rules_and_campaigns(engine):
    engine.set_rule("no-art", "block", 'category == "art"')
    assert "c5" not in engine.recommend("u2", top_n=8).item_ids
    engine.remove_rule("no-art")
    with pytest.raises(recsys.RecsysError) as ei:
        engine.remove_rule("no-art")
    assert ei.value.status == recsys.E_NOT_FOUND
    with pytest.raises(recsys.RecsysError) as ei:
        engine.set_rule("bad", "filter", "price <")
    assert ei.value.status == recsys.E_INVALID_ARG
    engine.set_rule("pin-f2", "pin", item_id="f2", position=0)
    assert engine.recommend("u1").item_ids[0] == "f2"
    engine.remove_rule("pin-f2")
    engine.upsert_campaign({"id": "spring", "items": ["f1", "f2"], "boost": 2})
    engine.remove_campaign("spring")
    with pytest.raises(recsys.RecsysError):
        engine.remove_campaign("spring")


def test_plugin_switches_and_source_settings(engine):
    engine.configure_source("popular", weight=2.5, quota=7)
    assert engine.source_settings("popular") == (2.5, 7)
    with pytest.raises(recsys.RecsysError) as ei:
        engine.source_settings("nope")
    assert ei.value.status == recsys.E_NOT_FOUND
    engine.enable_only_sources(["popular"])
    res = engine.recommend("u1", details=None) if False else engine.recommend("u1")
    assert all(name == "popular" for it in res for name, _ in it.sources)
    engine.enable("source", "content", True)
    engine.enable("filter", "seen", False)
    assert "c1" in engine.recommend("u1", top_n=8).item_ids
    with pytest.raises(recsys.RecsysError):
        engine.enable("source", "nope")
    with pytest.raises(recsys.RecsysError):
        engine.enable_only_sources(["nope"])


def test_numpy_embeddings_in_and_out():
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((6, 8)).astype(np.float32)
    ids = ["e%d" % i for i in range(6)]
    with recsys.Engine(now=NOW) as e:
        e.add_items_with_embeddings(ids, emb, category="x")
        out = e.item_embeddings(ids, 8)
        assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(out, emb)
        # written in place into the caller's array (no copy), rows in the order asked
        buf = np.zeros((2, 8), dtype=np.float32)
        assert e.item_embeddings(["e3", "e0"], 8, out=buf) is buf
        np.testing.assert_array_equal(buf, emb[[3, 0]])
        # a non-contiguous or float64 input is converted; a named embedding
        e.upsert_item("t1", embeddings={"text": emb[:, 1]})  # a strided column
        np.testing.assert_array_equal(e.item_embeddings(["t1"], 6, name="text")[0], emb[:, 1])
        e.upsert_item("t2", embeddings={"default": np.arange(8, dtype=np.float64)})
        np.testing.assert_array_equal(e.item_embeddings(["t2"], 8)[0], np.arange(8))
        for bad in (np.zeros((2, 8), dtype=np.float64), np.zeros((8, 2), dtype=np.float32),
                    np.zeros((2, 8), dtype=np.float32)[:, ::1].T.copy().T):
            with pytest.raises(recsys.RecsysError):
                e.item_embeddings(["e3", "e0"], 8, out=bad)
        with pytest.raises(recsys.RecsysError) as ei:
            e.item_embeddings(["e1", "t1"], 8)
        assert ei.value.status == recsys.E_NOT_FOUND and "t1" in ei.value.message
        with pytest.raises(recsys.RecsysError) as ei:
            e.item_embeddings(["e1"], 4)
        assert ei.value.status == recsys.E_INVALID_ARG
        with pytest.raises(recsys.RecsysError):
            e.upsert_item("bad", embeddings={"default": np.array([1.0, np.nan])})
        with pytest.raises(recsys.RecsysError):
            e.add_items_with_embeddings(["a"], emb)
        assert e.item_embeddings([], 8).shape == (0, 8)


def test_ials_import_and_llm_stats(engine):
    engine.enable("source", "ials", True)
    ids = [it["item_id"] for it in CATALOG]
    factors = np.random.default_rng(3).standard_normal((len(ids), 4)).astype(np.float32)
    engine.ials_import(ids, factors)
    engine.refresh()
    res = engine.recommend("u1", top_n=5)
    assert any(n == "ials" for it in res for n, _ in it.sources)
    engine.ials_import([], None)
    with pytest.raises(recsys.RecsysError) as ei:
        engine.ials_import(["c1", "c1"], factors[:2])
    assert ei.value.status == recsys.E_INVALID_ARG
    stats = engine.llm_stats()
    assert stats["calls"] == 0 and set(stats) >= {"failures", "fallbacks", "explanations"}


def test_ranker_train_linear(engine):
    # outcomes for u1 and u3 on candidates they were not shown: positives and negatives
    outcomes = [{"user_id": "u1", "item_id": "c4", "type": "click", "timestamp": NOW - 1},
                {"user_id": "u3", "item_id": "c2", "type": "click", "timestamp": NOW - 1}]
    try:
        engine.ranker_train("linear", outcomes)
    except recsys.RecsysError as e:  # the library explains why it cannot train on this
        assert e.status == recsys.E_INVALID_ARG and e.message
    with pytest.raises(recsys.RecsysError) as ei:
        engine.ranker_train("no-such-ranker", outcomes)
    assert ei.value.status in (recsys.E_INVALID_ARG, recsys.E_NOT_FOUND)


def test_python_store_keeps_everything():
    store = recsys.MemoryStore()
    with recsys.Engine(store=store, now=NOW) as e:
        load(e)
        e.upsert_campaign({"id": "c", "items": ["f1"]})
        e.upsert_campaign({"id": "gone", "items": ["f2"]})
        e.remove_campaign("gone")
        e.upsert_items({"item_id": "tmp"})
        e.remove_item("tmp")
        e.forget_user("u2")
        events = e.count("events")
    assert store.records["item"] and store.events
    assert all(ev["user_id"] != "u2" for ev in store.events)
    assert "gone" not in store.records["campaign"] and "tmp" not in store.records["item"]
    # the get thunk: absent is NOT_FOUND; a present record goes through recsys_store_value_set
    # (which refuses a NULL sink: the thunk reports that status, it does not crash)
    keep = []
    vt = recsys.engine._store_vtable(store, keep)
    assert vt.get(None, 1, b"no-such-item", None) == recsys.E_NOT_FOUND
    assert vt.get(None, 1, b"c1", None) == recsys.E_INVALID_ARG
    with recsys.Engine(store=store, now=NOW) as e:  # reopened from the Python store
        assert e.count("items") == len(CATALOG)
        assert e.count("events") == events
        assert e.get_item("c1")["title"] == CATALOG[0]["title"]
        e.compact()


def test_file_store(tmp_path):
    with recsys.Engine(store_dir=str(tmp_path), now=NOW) as e:
        load(e)
    with recsys.Engine(store_dir=str(tmp_path), now=NOW) as e:
        assert e.count("items") == len(CATALOG)
    with pytest.raises(recsys.RecsysError):
        recsys.Engine(store_dir=str(tmp_path), store=recsys.MemoryStore())


def test_closed_engine_and_errors():
    e = recsys.Engine()
    e.close()
    e.close()  # twice is fine
    with pytest.raises(recsys.RecsysError) as ei:
        e.recommend("u")
    assert ei.value.status == recsys.E_STATE
    err = recsys.RecsysError(recsys.E_IO, "disk")
    assert err.status_name and "disk" in str(err)



def test_struct_layouts_match_the_header():
    """Each ctypes record has the size the library's own init function writes."""
    N = recsys._native
    for cls, init in ((N.Event, N.lib.recsys_event_init), (N.Rule, N.lib.recsys_rule_init),
                      (N.EngineOpts, N.lib.recsys_engine_opts_init),
                      (N.StoreVtable, N.lib.recsys_store_vtable_init)):
        rec = cls()
        init(ctypes.byref(rec))
        assert rec.struct_size == ctypes.sizeof(cls), cls.__name__
