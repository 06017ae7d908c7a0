"""test_llm_experiments.py - the 0.2 API of the LLM layer and of online evaluation from
Python: metadata enrichment with a scripted Python LLM (the report, the stored generated
part, the cache, a failing and a lying LLM, bad ids), conversations (a dialogue whose
questions a Python LLM phrases and whose answers narrow the list, every item checked against
what was said; lifetimes and bad input), experiments (definitions, assignment, the arm's
overrides, the report and the online metrics over logged impressions and feedback, errors),
interleaving and its sign test, Run.add_recommendation (recsys_eval_run_add_result), the item
builder's flags, regions and booleans, the query's anchor, the vtable sizes, and last the
coverage check: every prototype of the package was called by the tests (conftest's counting
wrappers)."""
import ctypes
import json
import math
import re

import pytest

import recsys
from conftest import CALLS, COVERAGE_TEST, NOW, RAN_FILES, load

# ------------------------------------------------------------------------ a laptop catalog

NLAP = 24


def price_of(i):
    return 500 + 100 * i


def dgpu_of(i):
    return i % 2 == 1


def battery_of(i):
    return 4 + (i % 5) * 3


def weight_of(i):
    return 1.0 + (i % 4) * 0.5


LAPTOPS = [{"item_id": "lap-%02d" % i, "title": "Laptop %d" % i,
            "description": "A laptop for work and AI, number %d." % i, "category": "laptop",
            "tags": ["gaming"] if i % 3 == 0 else ["office"],
            "attributes": {"price": price_of(i), "dedicated_gpu": dgpu_of(i),
                           "battery_hours": battery_of(i), "weight_kg": weight_of(i),
                           "ram_gb": 16}} for i in range(NLAP)]
LAPTOPS += [{"item_id": "tab-%d" % i, "title": "Tablet %d" % i, "category": "tablet",
             "description": "A tablet for work and reading.",
             "attributes": {"price": 300 + 100 * i, "battery_hours": 12, "weight_kg": 0.5}}
            for i in range(3)]


def laptop_engine(**opts):
    e = recsys.Engine(seed=3, now=NOW, log_impressions=0, top_n=30, **opts)
    e.set_option("llm.clarify_facets", "dedicated_gpu,battery_hours,weight_kg")
    e.upsert_items(LAPTOPS)
    e.refresh()
    return e


# ------------------------------------------------------------------------ enrichment


def scripted_enricher(calls, tags=("gaming", "office"), reply=None):
    """A Python LLM answering every item card of an enrichment prompt (or `reply`)."""
    def llm(call):
        calls.append(call)
        if call.task != "enrich":
            raise AssertionError("unexpected task %s" % call.task)
        if reply is not None:
            return reply
        handles = [int(h) for h in re.findall(r'\{"handle":(\d+)', call.prompt)]
        return (json.dumps({"items": [{"handle": h, "tags": list(tags),
                                       "summary": "Item %d." % h,
                                       "attributes": {"ram_gb": 32}} for h in handles]}),
                100, 20)
    return llm


def test_enrich_with_a_python_llm_and_its_cache():
    calls = []
    with laptop_engine(**{"enrich.items_per_call": 5}) as e:
        e.set_llm("py-enricher", scripted_enricher(calls))
        ids = ["lap-00", "lap-01", "lap-02", "tab-0"]
        rep = e.enrich(ids)
        assert rep["asked"] == 4 and rep["enriched"] == 4 and rep["cached"] == 0
        assert rep["rejected"] == rep["skipped"] == 0 and rep["warning"] is None
        assert rep["calls"] == len(calls) == 1  # four items in one call of five
        call = calls[0]
        assert call.schema and call.max_tokens > 0 and call.system
        for i in ids:  # item ids never leave the process: handles only
            assert i not in call.prompt
        assert "Laptop 0" in call.prompt  # the item's text, quoted as data
        gen = e.get_item("lap-01")["generated"]
        assert gen["model"] == "py-enricher" and gen["summary"].startswith("Item ")
        assert gen["tags"] == ["gaming"]  # "office" is the host's own tag already
        assert e.get_item("lap-00")["generated"]["tags"] == ["office"]
        assert gen["attributes"] == {"ram_gb": 32}
        assert e.get_item("lap-01")["attributes"]["ram_gb"] == 16  # the host's value stays
        assert "generated" not in e.get_item("lap-05")  # not asked for
        # the same text again: cached, the LLM not asked
        rep = e.enrich(ids)
        assert rep["cached"] == 4 and rep["asked"] == rep["calls"] == 0 and len(calls) == 1
        # the whole catalog: 27 items, 4 cached, 23 asked in ceil(23 / 5) calls
        rep = e.enrich()
        assert rep["cached"] == 4 and rep["enriched"] == 23 and rep["calls"] == 5
        assert len(calls) == 6
        assert e.llm_stats()["calls"] == 6


def test_enrich_drops_what_the_vocabulary_does_not_allow():
    calls = []
    with laptop_engine() as e:
        e.set_llm("py", scripted_enricher(calls, tags=("gaming", "invented-tag")))
        rep = e.enrich(["lap-04"])
        assert rep["enriched"] == 1 and rep["dropped"] == 1  # the invented tag
        assert e.get_item("lap-04")["generated"]["tags"] == ["gaming"]


def test_enrich_failures_are_reported_not_raised():
    with laptop_engine() as e:
        # no LLM: nothing asked, every item skipped, a warning naming the problem
        rep = e.enrich(["lap-00", "lap-01"])
        assert rep["skipped"] == 2 and rep["enriched"] == 0
        w = rep["warning"]
        assert w["status"] == recsys.E_NOT_FOUND and "LLM" in w["message"]
        assert w["status_name"] == recsys.RecsysError(recsys.E_NOT_FOUND).status_name

        # an LLM that raises: skipped, a warning, never an exception
        def down(call):
            raise RuntimeError("model down")
        e.set_llm("down", down)
        rep = e.enrich(["lap-00"])
        assert rep["skipped"] == 1 and rep["calls"] == 1 and rep["warning"] is not None
        assert "generated" not in e.get_item("lap-00")
        assert e.llm_stats()["failures"] == 1

        # an LLM that answers against the schema: the item is rejected, keeps what it had
        calls = []
        e.set_llm("liar", scripted_enricher(calls, reply='{"items":[{"handle":1,"oops":2}]}'))
        rep = e.enrich(["lap-00"])
        assert rep["rejected"] == 1 and rep["enriched"] == 0 and len(calls) == 1
        assert "generated" not in e.get_item("lap-00")


def test_enrich_bad_ids_change_nothing():
    calls = []
    with laptop_engine() as e:
        e.set_llm("py", scripted_enricher(calls))
        with pytest.raises(recsys.RecsysError) as ei:
            e.enrich(["lap-00", "no-such-item"])
        assert ei.value.status == recsys.E_NOT_FOUND and "no-such-item" in ei.value.message
        assert ei.value.report["enriched"] == 0
        with pytest.raises(recsys.RecsysError) as ei:
            e.enrich(["lap-00", "lap-00"])
        assert ei.value.status == recsys.E_INVALID_ARG
        with pytest.raises(recsys.RecsysError) as ei:
            e.enrich("lap-00")  # one id, not a list of ids
        assert ei.value.status == recsys.E_INVALID_ARG
        e.set_option("enrich.attributes", "ram_gb:nonsense")
        with pytest.raises(recsys.RecsysError) as ei:
            e.enrich(["lap-00"])
        assert ei.value.status == recsys.E_INVALID_ARG and "enrich.attributes" in str(ei.value)
        assert not calls and "generated" not in e.get_item("lap-00")
        # an empty list enriches nothing
        e.set_option("enrich.attributes", "")
        rep = e.enrich([])
        assert rep["asked"] == rep["enriched"] == rep["calls"] == 0 and not calls


# ------------------------------------------------------------------------ conversations


def check_items(turn, said):
    """Every recommended item satisfies what the shopper said."""
    for it in turn:
        m = re.match(r"lap-(\d+)$", it.item_id)
        assert m, "%s is not a laptop" % it.item_id
        i = int(m.group(1))
        assert price_of(i) < said["max_price"]
        if said["dgpu"] is not None:
            assert dgpu_of(i) == said["dgpu"]
        assert battery_of(i) >= said["min_battery"] and weight_of(i) <= said["max_weight"]


def test_conversation_dialogue_with_a_python_llm():
    asked = []

    def llm(call):
        asked.append(call.task)
        if call.task == "clarify":
            assert "under $1500" in call.prompt  # the shopper's words, as data
            return json.dumps({"question": "Tell me more, please?"})
        return '{"category": null}'  # any other task: an answer the library may reject

    with laptop_engine() as e:
        e.set_llm("py-chat", llm)
        with e.conversation("shopper") as conv:
            t = conv.say("a laptop for AI work under $1500")
            said = {"max_price": 1500, "dgpu": None, "min_battery": 0, "max_weight": 1e9}
            assert isinstance(t, recsys.Turn)
            assert t.kind == "question" and t.candidates == 10  # laptops 0..9
            assert t.question == "Tell me more, please?"  # phrased by the Python LLM
            assert len(t) == 10 and len(t.items) == 10 and isinstance(t.result, recsys.Result)
            check_items(t, said)
            assert "clarify" in asked
            c = conv.constraints()
            assert c["category"] == "laptop" and c["ranges"][0]["attribute"] == "price"
            assert c["ranges"][0]["max"] == 1500 and "price" in c["expression"]
            before, questions = t.candidates, 0
            while t.kind == "question":
                questions += 1
                answer = {"dedicated_gpu": "yes", "battery_hours": "at least 7 hours",
                          "weight_kg": "under 2 kg"}[t.facet]
                said.update({"dedicated_gpu": {"dgpu": True},
                             "battery_hours": {"min_battery": 7},
                             "weight_kg": {"max_weight": 1.999}}[t.facet])
                t = conv.say(answer)
                check_items(t, said)
                assert t.candidates <= before
                before = t.candidates
                assert questions < 10
            assert t.kind == "result" and t.question == "" and t.facet == ""
            assert t.candidates == len(t) and t.candidates < 10
            assert t.result.experiment is None and t.result.arm is None
            # a refinement replaces the price constraint
            t = conv.say("under $1000 actually")
            said["max_price"] = 1000
            check_items(t, said)
            assert [r["max"] for r in conv.constraints()["ranges"]
                    if r["attribute"] == "price"] == [1000]
        with pytest.raises(recsys.RecsysError) as ei:
            conv.say("more")  # closed by the with block
        assert ei.value.status == recsys.E_STATE


def test_conversation_without_llm_uses_templates_and_bad_input_changes_nothing():
    with laptop_engine() as e:
        conv = e.conversation()  # anonymous
        t = conv.say("a laptop under $1500")
        assert t.kind == "question" and t.question  # the template
        assert t.facet in ("dedicated_gpu", "battery_hours", "weight_kg")
        if t.facet == "dedicated_gpu":
            assert t.question == "Do you need a dedicated GPU? (yes / no / doesn't matter)"
        before = conv.constraints()
        for bad in ("x" * 5000, b"\xff\xfe not utf-8"):
            with pytest.raises(recsys.RecsysError) as ei:
                conv.say(bad)
            assert ei.value.status == recsys.E_INVALID_ARG
        with pytest.raises(recsys.RecsysError) as ei:
            conv.say(42)
        assert ei.value.status == recsys.E_INVALID_ARG
        assert conv.constraints() == before  # a failed turn leaves it unchanged
        assert before["exclude_categories"] == []
        # an excluded category is listed, and filters through the expression
        shopper = e.conversation()
        t = shopper.say("anything but tablets under $800 for work")
        assert t.candidates == 3 and all(i.startswith("lap-") for i in t.result.item_ids)
        c = shopper.constraints()
        assert c["exclude_categories"] == ["tablet"] and c["category"] is None
        assert 'category != "tablet"' in c["expression"]
        shopper.close()
        with pytest.raises(recsys.RecsysError) as ei:
            e.conversation("u" * 1000)  # a user id too long
        assert ei.value.status == recsys.E_INVALID_ARG
        # a conversation the engine outlives: closing the engine closes it first
        other = e.conversation("later")
    assert conv._h is None and other._h is None
    with pytest.raises(recsys.RecsysError) as ei:
        other.constraints()
    assert ei.value.status == recsys.E_STATE
    with pytest.raises(recsys.RecsysError) as ei:
        e.conversation("u")
    assert ei.value.status == recsys.E_STATE


def test_conversation_llm_that_raises_never_fails_a_turn():
    def llm(call):
        raise ValueError("no model today")

    with laptop_engine() as e:
        e.set_llm("broken", llm)
        with e.conversation("s") as conv:
            t = conv.say("a laptop under $1500")
            assert t.kind == "question" and t.candidates == 10 and t.question
        assert e.llm_stats()["failures"] >= 1


# ------------------------------------------------------------------------ experiments

EXPERIMENT = {"name": "rank-test", "salt": "2026-11", "holdout": 10,
              "arms": [{"name": "control", "percent": 45},
                       {"name": "short", "percent": 45, "options": {"engine.top_n": 2}}]}


def test_experiment_definition_assignment_and_serving(engine):
    engine.set_experiment(EXPERIMENT)
    got = engine.get_experiment("rank-test")
    assert got["name"] == "rank-test" and got["salt"] == "2026-11" and got["holdout"] == 10
    assert [a["name"] for a in got["arms"]] == ["control", "short"]
    users = ["user-%d" % i for i in range(200)]
    arms = {u: engine.experiment_arm("rank-test", u) for u in users}
    assert set(arms.values()) <= {"control", "short", "holdout"}
    counts = {a: list(arms.values()).count(a) for a in ("control", "short", "holdout")}
    assert counts["control"] > 60 and counts["short"] > 60 and 5 <= counts["holdout"] <= 40
    # the same definition as JSON text: the same arms (a pure function of salt and id)
    engine.set_experiment(json.dumps(EXPERIMENT))
    assert all(engine.experiment_arm("rank-test", u) == a for u, a in arms.items())
    for u in users[:30]:
        res = engine.experiment_recommend("rank-test", u, top_n=5)
        assert res.experiment == "rank-test" and res.arm == arms[u]
        plain = engine.recommend(u, top_n=5)
        assert plain.experiment is None and plain.arm is None
        if arms[u] == "short":  # the arm's override wins over the request's top_n
            assert len(res) == min(2, len(plain))
        else:
            assert res.item_ids == plain.item_ids
    anon = engine.experiment_recommend("rank-test", None, top_n=5)
    assert anon.arm == ""  # anonymous requests are not enrolled
    # a new salt moves users
    moved = dict(EXPERIMENT, salt="other")
    engine.set_experiment(moved)
    assert any(engine.experiment_arm("rank-test", u) != a for u, a in arms.items())
    engine.remove_experiment("rank-test")
    for call in (lambda: engine.get_experiment("rank-test"),
                 lambda: engine.experiment_arm("rank-test", "u1"),
                 lambda: engine.experiment_recommend("rank-test", "u1"),
                 lambda: engine.experiment_report("rank-test"),
                 lambda: engine.remove_experiment("rank-test")):
        with pytest.raises(recsys.RecsysError) as ei:
            call()
        assert ei.value.status == recsys.E_NOT_FOUND


def test_experiment_bad_definitions_name_the_field(engine):
    bad = [({"name": "x", "arms": []}, "arms"),
           ({"name": "Bad Name!", "arms": [{"name": "c", "percent": 50}]}, "name"),
           ({"name": "x", "arms": [{"name": "c", "percent": 80}, {"name": "t", "percent": 30}]},
            "add up to"),
           ({"name": "x", "arms": [{"name": "c", "percent": 50,
                                    "options": {"no.such_option": 1}}]}, "no.such_option"),
           ({"name": "x", "arms": [{"name": "c", "percent": 50}], "colour": "red"}, "colour"),
           ("{not json", "")]
    for definition, field in bad:
        with pytest.raises(recsys.RecsysError) as ei:
            engine.set_experiment(definition)
        assert ei.value.status == recsys.E_INVALID_ARG, definition
        assert field in ei.value.message, (field, ei.value.message)
        with pytest.raises(recsys.RecsysError):
            engine.get_experiment("x")  # nothing was defined
    engine.set_experiment({"name": "x", "arms": [{"name": "c", "percent": 50}]})
    for bad_user in ("", "u" * 300):
        with pytest.raises(recsys.RecsysError) as ei:
            engine.experiment_arm("x", bad_user)
        assert ei.value.status == recsys.E_INVALID_ARG


def test_experiment_report_and_online_metrics():
    with recsys.Engine(seed=7, now=NOW) as e:  # impressions logged (the default)
        load(e)
        e.set_experiment({"name": "ab", "salt": "s1",
                          "arms": [{"name": "control", "percent": 50},
                                   {"name": "treat", "percent": 50}]})
        served = {}
        for i in range(40):
            u = "shopper-%d" % i
            res = e.experiment_recommend("ab", u, top_n=3)
            assert res.arm in ("control", "treat") and res.request_id and len(res) == 3
            served[u] = res
            if i % 2 == 0:  # every other shopper clicks the first item shown
                e.feedback(u, res.item_ids[0], "click", timestamp=NOW + 10,
                           request_id=res.request_id, position=0)
        rep = e.experiment_report("ab")
        assert rep["experiment"] == "ab" and rep["control"] == "control"
        arms = {a["name"]: a for a in rep["arms"]}
        assert set(arms) == {"control", "treat"}
        want = {a: sum(1 for r in served.values() if r.arm == a) for a in arms}
        for name, arm in arms.items():
            assert arm["users"] == want[name]
            assert arm["impressions"] == 3 * want[name]
            assert "ctr" in arm["metrics"]
        assert sum(a["clicks"] for a in arms.values()) == 20
        assert rep["attribution"]["by_request_id"] == 20
        assert rep["comparisons"] and rep["comparisons"][0]["arm"] == "treat"
        assert 0 <= rep["srm"]["p"] <= 1
        om = e.online_metrics()
        assert om["impressions"] >= 120 and om["clicks"] == 20
        assert abs(om["metrics"]["ctr"] - 20 / om["impressions"]) < 1e-9
        assert e.online_metrics(0, NOW)["impressions"] == 0  # all of it is from NOW on
        for bad in ((5, 3), (-1, 0), (1.5, 0), ("0", 0)):
            with pytest.raises(recsys.RecsysError) as ei:
                e.online_metrics(*bad)
            assert ei.value.status == recsys.E_INVALID_ARG


def test_llm_cost_per_request_and_arm():
    """Result.llm_stats is the request's own share of the LLM counters; the report gives the
    LLM calls, tokens and cost per request of each arm (the control arm's options apply
    too), and impressions a host logs itself carry their sources, ranker and LLM cost."""
    def llm(call):
        return ("[1, 2]", 90, 10)

    with recsys.Engine(seed=7, now=NOW, llm_cache_bytes=0,
                       online_llm_cost_per_1k_tokens=3.0) as e:
        load(e)
        e.set_llm("py", llm)
        e.set_experiment({"name": "cost", "salt": "c",
                          "arms": [{"name": "off", "percent": 50,
                                    "options": {"llm.rerank_n": 4,
                                                "llm.calls_per_request": 0}},
                                   {"name": "on", "percent": 50,
                                    "options": {"llm.rerank_n": 4}}]})
        spent = {"off": [0, 0, 0], "on": [0, 0, 0]}  # requests, calls, tokens
        for i in range(30):
            res = e.experiment_recommend("cost", "payer-%d" % i, top_n=4)
            st = res.llm_stats
            assert st["prompt_tokens"] == 90 * st["calls"]
            if res.arm == "off":
                assert st["calls"] == 0 and st["budget_denied"] >= 1
            else:
                assert st["calls"] >= 1
            s = spent[res.arm]
            s[0] += 1
            s[1] += st["calls"]
            s[2] += st["prompt_tokens"] + st["completion_tokens"]
        assert spent["off"][0] and spent["on"][0]
        rep = e.experiment_report("cost")
        for arm in rep["arms"]:
            req, calls, tokens = spent[arm["name"]]
            m = arm["metrics"]
            assert abs(m["llm_calls_per_request"] - calls / req) < 1e-9
            assert abs(m["llm_tokens_per_request"] - tokens / req) < 1e-9
            assert abs(m["llm_cost_per_request"] - tokens / 1000 * 3.0 / req) < 1e-9
        # a host's own impressions, with attribution and cost
        e.feedback_many([{"user_id": "host-user", "item_id": it, "type": "impression",
                          "request_id": "host-r1", "position": p, "timestamp": NOW + 5,
                          "sources": ["popular", "itemknn"], "ranker": "host-ranker",
                          "llm_calls": 2, "llm_tokens": 500}
                         for p, it in enumerate(e.recommend("host-user", top_n=2,
                                                            log_impressions=0).item_ids)])
        om = e.online_metrics(NOW + 5, 0)
        cut = [c for c in om["by_ranker"] if c["name"] == "host-ranker"]
        assert cut and cut[0]["requests"] == 1 and cut[0]["llm_calls_per_request"] == 2
        assert abs(cut[0]["llm_cost_per_request"] - 1.5) < 1e-9
        shown = e.recommend("host-user", top_n=1, log_impressions=0).item_ids[0]
        with pytest.raises(recsys.RecsysError) as ei:  # a click names no ranker
            e.feedback_many([{"user_id": "host-user", "item_id": shown, "type": "click",
                              "ranker": "host-ranker"}])
        assert ei.value.status == recsys.E_INVALID_ARG
        assert "impressions only" in str(ei.value)


def test_experiment_on_a_closed_engine():
    e = recsys.Engine()
    e.close()
    for call in (lambda: e.set_experiment(EXPERIMENT), lambda: e.online_metrics(),
                 lambda: e.enrich(), lambda: e.experiment_arm("x", "u")):
        with pytest.raises(recsys.RecsysError) as ei:
            call()
        assert ei.value.status == recsys.E_STATE


# ------------------------------------------------------------------------ interleaving


def test_interleave_team_draft():
    a = ["a%d" % i for i in range(10)]
    b = ["a0", "b1", "a2", "b3", "b4"]
    out = recsys.interleave(a, b, 8, seed=42)
    assert len(out) == 8
    ids = [i for i, _ in out]
    assert len(set(ids)) == 8 and set(ids) <= set(a) | set(b)
    assert recsys.interleave(a, b, 8, seed=42) == out  # deterministic
    for item, team in out:
        assert team in (0, 1)
        assert item in (a if team == 0 else b)
    # the teams stay balanced: after each round neither is ahead by more than one
    for n in range(1, len(out) + 1):
        t = [team for _, team in out[:n]]
        assert abs(t.count(0) - t.count(1)) <= 1
    # the first round: both lists' best ("a0" whoever picks first; then a1 or b1)
    assert ids[0] == "a0" and ids[1] in ("a1", "b1")
    seeds = {tuple(recsys.interleave(a, b, 8, seed=s)) for s in range(20)}
    assert len(seeds) > 1  # the coin flips matter
    # k beyond both lists: every distinct id once
    assert len(recsys.interleave(["x"], ["y", "x"], 10)) == 2
    assert recsys.interleave([], [], 5) == [] and recsys.interleave(a, b, 0) == []


def test_interleave_errors():
    for args, word in (((["a", "a"], ["b"], 3), "repeats 'a'"),
                       ((["a", None], ["b"], 3), "NULL"),
                       ((["x%d" % i for i in range(recsys.INTERLEAVE_MAX + 1)], [], 3),
                        "at most 1000"),
                       (("abc", ["b"], 3), "lists"),
                       ((["a"], ["b"], -1), "k"),
                       ((["a"], ["b"], 2, -5), "seed"),
                       ((["a"], ["b"], 2, 2 ** 64), "seed")):
        with pytest.raises(recsys.RecsysError) as ei:
            recsys.interleave(*args)
        assert ei.value.status == recsys.E_INVALID_ARG
        assert word.lower() in ei.value.message.lower(), (word, ei.value.message)


def test_interleave_sign_test():
    assert recsys.interleave_test(0, 0) == 1.0
    assert math.isclose(recsys.interleave_test(10, 0), 2 / 1024)
    assert recsys.interleave_test(3, 9) == recsys.interleave_test(9, 3) < 1
    assert recsys.interleave_test(50, 50) == 1.0
    assert recsys.interleave_test(421, 119) < 1e-30
    for bad in ((-1, 2), (1.5, 2), (2, "3")):
        with pytest.raises(recsys.RecsysError) as ei:
            recsys.interleave_test(*bad)
        assert ei.value.status == recsys.E_INVALID_ARG


# ------------------------------------------------------------------------ the rest of 0.2


def test_run_add_recommendation(small_csv):
    ds = recsys.Dataset(small_csv[0], "csv")
    with recsys.Engine(seed=1) as e:
        ds.configure(e, "train")
        ds.feed(e, "train")
        e.refresh()
        users = ds.users("test")
        with ds.run("test") as direct, ds.run("test") as copied:
            for u in users:
                res = direct.add_recommendation(e, u, top_n=10)
                assert isinstance(res, recsys.Result) and len(res) > 0
                copied.add(u, res)  # a Result is a list too
            assert direct.metrics() == copied.metrics()
            assert direct.metrics()["users"] == len(users)
            with pytest.raises(recsys.RecsysError) as ei:
                direct.add_recommendation(e, "nobody")  # no interactions in the part
            assert ei.value.status == recsys.E_NOT_FOUND


def test_item_builder_flags_regions_and_bools(engine):
    engine.upsert_item("n1", title="Refurbished", bools={"refurbished": True, "new": False},
                       regions=["eu", "us"], available=False, min_age=18, created=NOW - 5)
    got = engine.get_item("n1")
    assert got["attributes"]["refurbished"] is True and got["attributes"]["new"] is False
    assert sorted(got["regions"]) == ["eu", "us"]
    assert got["available"] is False and got["min_age"] == 18 and got["created"] == NOW - 5
    for bad in (dict(min_age=200), dict(min_age=1.5), dict(regions="eu"), dict(regions=[""]),
                dict(created="yesterday")):
        with pytest.raises(recsys.RecsysError) as ei:
            engine.upsert_item("n2", title="x", **bad)
        assert ei.value.status == recsys.E_INVALID_ARG, bad
    with pytest.raises(recsys.RecsysError):
        engine.get_item("n2")  # nothing was upserted


def test_source_sees_the_anchor(engine):
    seen = []

    def source(query, cands):
        a = query.anchor
        seen.append(None if a is None else (a.id, a.title))
        return []

    engine.add_source("anchor-probe", source)
    engine.recommend("u1", anchor="c3")
    engine.recommend("u1")
    assert seen == [("c3", "Machine Learning with Python"), None]


def test_vtable_sizes_match_the_library():
    """Each ctypes vtable has the size the library's own init function writes (into a
    buffer large enough whatever that size is)."""
    N = recsys._native
    for cls, init in ((N.SourceVtable, N.lib.recsys_source_vtable_init),
                      (N.FilterVtable, N.lib.recsys_filter_vtable_init),
                      (N.RankerVtable, N.lib.recsys_ranker_vtable_init),
                      (N.DiversifierVtable, N.lib.recsys_diversifier_vtable_init),
                      (N.LlmVtable, N.lib.recsys_llm_vtable_init),
                      (N.EmbedderVtable, N.lib.recsys_embedder_vtable_init)):
        buf = ctypes.create_string_buffer(1024)
        init(buf)
        size = ctypes.c_uint32.from_buffer(buf).value
        assert size == ctypes.sizeof(cls), cls.__name__
    rep = N.EnrichReport()
    assert ctypes.sizeof(rep) == 8 + 7 * 8


# ------------------------------------------------------------------------ coverage (last)

NEW_API = [
    "recsys_catalog_enrich", "recsys_last_status",
    "recsys_conversation_new", "recsys_conversation_free", "recsys_conversation_say",
    "recsys_conversation_constraints_json", "recsys_turn_free", "recsys_turn_kind",
    "recsys_turn_question", "recsys_turn_facet", "recsys_turn_candidates",
    "recsys_turn_result", "recsys_experiment_set", "recsys_experiment_remove",
    "recsys_experiment_get_json", "recsys_experiment_assign", "recsys_experiment_recommend",
    "recsys_experiment_report_json", "recsys_online_metrics_json", "recsys_interleave",
    "recsys_interleave_test", "recsys_result_experiment", "recsys_result_arm",
    "recsys_result_llm_stats",
    "recsys_eval_run_add_result", "recsys_item_spec_add_region",
    "recsys_item_spec_set_flags", "recsys_item_spec_set_bool", "recsys_query_anchor",
    "recsys_source_vtable_init", "recsys_filter_vtable_init", "recsys_ranker_vtable_init",
    "recsys_diversifier_vtable_init", "recsys_llm_vtable_init",
    "recsys_embedder_vtable_init"]
SUITE = {"test_engine.py", "test_eval.py", "test_plugins.py", "test_threads_memory.py",
         "test_llm_experiments.py"}


def test_every_prototype_is_reached():
    """Runs last (conftest). The functions this file's API added were each called; when the
    whole suite ran, every prototype of the package was."""
    assert COVERAGE_TEST == "test_every_prototype_is_reached"
    assert set(NEW_API) <= set(CALLS), sorted(set(NEW_API) - set(CALLS))
    missing = [n for n in NEW_API if not CALLS[n]]
    assert not missing, "never called: %s" % missing
    if SUITE <= RAN_FILES:
        missing = sorted(n for n, c in CALLS.items() if not c)
        assert not missing, "never called by the suite: %s" % missing
