"""test_eval.py - the evaluation harness from Python (recsys.Dataset over recsys_eval_*):
the split and the metrics on a small csv made here (exact, hand-checked values), the error
paths, and on ml-100k (skipped without RECSYS_DATA_DIR) the same figures as
`recsys-bench eval --dataset ml-100k --pipeline ials --json`, to 1e-9."""
import json
import math
import os
import subprocess

import pytest

import recsys
from conftest import ROOT

BENCH_SEED = 2025  # bench/bench.h


def test_dataset_split_and_ids(small_csv):
    path, items = small_csv
    with recsys.Dataset(path, "csv", items_path=items) as ds:
        info = ds.info()
        assert info["users"] == 6 and info["items"] == 12 and info["interactions"] == 60
        assert (info["train"], info["test"], info["fit"], info["validation"]) == (48, 12, 42, 6)
        assert info["test_users"] == 6 and info["metadata"] is True
        assert len(ds.item_ids) == 12 and ds.item_ids == sorted(ds.item_ids)
        assert ds.users("test") == ["u%07d" % u for u in range(6)]
        assert len(ds.users("all")) == 6
        with pytest.raises(recsys.RecsysError):
            ds.users("nope")


def _truth(path, user, part_ts_from):
    """The items of user%d in the csv from the timestamp offset on."""
    out = []
    for line in open(path).read().split("\n")[1:]:
        if line and line.startswith("user%d," % user) and int(line.split(",")[2]) % 100 >= part_ts_from:
            out.append(line.split(",")[1])
    return out


def test_metrics_of_perfect_and_bad_lists(small_csv):
    path, items = small_csv
    with recsys.Dataset(path, "csv", items_path=items) as ds:
        ids = ds.item_ids  # i0..i11 as engine ids, in id order (string ids: ranks)
        key = {"i%d" % i: None for i in range(12)}
        order = sorted(key)  # the byte order of the ids gives the ranks
        for rank, name in enumerate(order):
            key[name] = ids[rank]
        with ds.run("test") as run:
            for u, uid in enumerate(ds.users("test")):
                truth = [key[i] for i in _truth(path, u, 8)]  # the last two: test
                run.add(uid, truth)
            m = run.metrics()
        assert m["part"] == "test" and m["users"] == 6
        for k in ("ndcg@10", "recall@10", "hit@10", "ndcg@20", "recall@20", "map@10"):
            assert m[k] == pytest.approx(1.0, abs=1e-12), k
        assert m["precision@10"] == pytest.approx(0.2)
        assert m["violations"] == 0 and m["missing"] == 0
        assert m["padded"] == 6  # two entries each, completed to 20 with the ties
        assert set(m["mostpop"]) >= {"ndcg@10", "coverage@20", "ild@10"}
        assert m["calibration_kl@10"] is not None
        # a list of known (train) items, a repeat and an unknown id: dropped and counted
        with ds.run("test") as run:
            uid = ds.users("test")[0]
            train0 = [key[i] for i in _truth(path, 0, 0)][:2]
            run.add(uid, train0 + ["nope", train0[0]])
            m = run.metrics()
        assert m["violations"] == 4 and m["dropped"] == 4 and m["missing"] == 5
        assert m["ndcg@10"] < 1
        with ds.run("validation") as run:
            m = run.metrics()
        assert m["part"] == "validation" and m["users"] == 6 and m["missing"] == 6
        with ds.run("test") as run:
            with pytest.raises(recsys.RecsysError) as ei:
                run.add("u9999999", [])
            assert ei.value.status == recsys.E_NOT_FOUND
        with pytest.raises(recsys.RecsysError):
            ds.run("train")


def test_engine_pipeline_on_a_csv(small_csv):
    path, items = small_csv
    with recsys.Dataset(path, "csv", items_path=items) as ds, recsys.Engine(seed=1) as e:
        ds.configure(e, "train")
        assert e.get_option("top_n") == 20 and e.get_option("filter.seen") == 1
        ds.feed(e, "train", items=True, metadata=True)
        assert e.count("items") == 12 and e.count("events") == 48
        assert e.get_item(ds.item_ids[0])["category"] == "film"
        e.enable_only_sources(["popular"])
        e.enable("ranker", "blend", False)
        e.refresh()
        m = ds.evaluate(e, "test")
        assert m["users"] == 6 and m["violations"] == 0 and 0 <= m["ndcg@10"] <= 1
        with pytest.raises(recsys.RecsysError):
            ds.feed(e, "nope")


def test_dataset_errors(tmp_path):
    with pytest.raises(recsys.RecsysError) as ei:
        recsys.Dataset(str(tmp_path / "missing.csv"), "csv")
    assert ei.value.status == recsys.E_IO
    with pytest.raises(recsys.RecsysError) as ei:
        recsys.Dataset(str(tmp_path), "parquet")
    assert ei.value.status == recsys.E_INVALID_ARG
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,timestamp\nu1,,3\n")
    with pytest.raises(recsys.RecsysError) as ei:
        recsys.Dataset(str(bad), "csv")
    assert "bad.csv:2" in ei.value.message
    with pytest.raises(recsys.RecsysError):
        recsys.Dataset(str(bad), "csv", variant="ge5")


def _data_dir():
    d = os.environ.get("RECSYS_DATA_DIR")
    if not d or not os.path.exists(os.path.join(d, "ml-100k", "u.data")):
        pytest.skip("RECSYS_DATA_DIR with ml-100k is not set")
    return d


def test_ials_matches_recsys_bench_eval():
    data = _data_dir()
    if "asan" in os.environ.get("LD_PRELOAD", ""):  # make asan: 13 iALS trainings sanitized
        pytest.skip("slow under AddressSanitizer; the plain `make test` checks the figures")
    bench = os.environ.get("RECSYS_BENCH", os.path.join(ROOT, "build", "recsys-bench"))
    if not os.path.exists(bench):
        pytest.skip("recsys-bench not built (%s)" % bench)
    out = subprocess.run([bench, "eval", "--data", data, "--dataset", "ml-100k",
                          "--pipeline", "ials", "--json"], check=True, capture_output=True,
                         text=True, timeout=900).stdout
    ref = json.loads(out.strip().split("\n")[-1])
    with recsys.Dataset(os.path.join(data, "ml-100k"), "ml-100k") as ds, \
            recsys.Engine(seed=BENCH_SEED) as e:
        ds.configure(e, "train")
        ds.feed(e, "train")
        e.set_options(**ref["chosen"])  # the values bench's tuning chose, as it sets them
        e.enable_only_sources(["ials"])
        e.enable("ranker", "blend", False)
        e.refresh()
        m = ds.evaluate(e, "test")
    assert m["users"] == ref["users"] == 943
    keys = [k for k in ref if "@" in k and not k.startswith("validation")]
    assert "ndcg@10" in keys and len(keys) >= 20
    for k in keys:
        if ref[k] is None:
            assert m[k] is None, k
        else:  # bench prints 10 significant digits
            assert m[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-9), k
    assert abs(m["ndcg@10"] - ref["ndcg@10"]) <= 1e-9
    for k in ("padded", "dropped", "violations"):
        assert m[k] == ref[k]
    for k, v in ref["mostpop"].items():
        if isinstance(v, float):
            assert m["mostpop"][k] == pytest.approx(v, rel=1e-9, abs=1e-9), k
    assert not math.isnan(m["ndcg@10"])


def _bench():
    bench = os.environ.get("RECSYS_BENCH", os.path.join(ROOT, "build", "recsys-bench"))
    if not os.path.exists(bench):
        pytest.skip("recsys-bench not built (%s)" % bench)
    return bench


def test_bench_loads_a_csv_as_the_api_does(tmp_path):
    """recsys-bench loads its engines through recsys_eval_dataset_* (bench/dataset.c): on a
    csv with string ids and no timestamps (line numbers from 0, so every event time is
    shifted), `eval` gives the figures of the same pipeline built on the public API; an
    items file it cannot read is a warning that changes nothing but calibration."""
    bench = _bench()
    films = ["film-" + a + b for a in "pqrstuvw" for b in "xyz"]  # 24, sorted as strings
    seed, lines = 7, ["user,item"]
    for u in range(12):
        for _ in range(14 + u % 5):
            seed = (seed * 1103515245 + 12345) % 2 ** 31
            lines.append("viewer-%s,%s" % ("abcdefghijkl"[u], films[
                min(seed % 24, (seed >> 8) % 24)]))  # skewed: the first films are popular
    csv = tmp_path / "views.csv"
    csv.write_text("\n".join(lines) + "\n")
    items = tmp_path / "films.csv"
    items.write_text("item_id,title,tags\n" + "".join(
        "%s,Film %d (1990),%s\n" % (f, i, "Drama|War" if i % 3 else "Comedy")
        for i, f in enumerate(films)))

    def run(items_path):
        p = subprocess.run([bench, "eval", "--data", str(csv), "--dataset", "csv", "--items",
                            items_path, "--pipeline", "popular", "--grid", "none", "--json"],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout.strip().split("\n")[-1]), p.stderr

    ref, err = run(str(items))
    assert err == ""
    with recsys.Dataset(str(csv), "csv", items_path=str(items)) as ds, \
            recsys.Engine(seed=BENCH_SEED) as e:
        info = ds.info()
        assert (ref["items"], ref["train"], ref["test"], ref["fit"], ref["validation"]) == \
            (info["items"], info["train"], info["test"], info["fit"], info["validation"])
        ds.configure(e, "train")
        e.set_options(**ref["chosen"])
        e.enable_only_sources(["popular"])
        e.enable("ranker", "blend", False)
        ds.feed(e, "train")
        e.refresh()
        m = ds.evaluate(e, "test")
    assert m["users"] == ref["users"] >= 8  # users with 5+ distinct films
    keys = [k for k in ref if "@" in k]
    assert "ndcg@10" in keys and "calibration_kl@10" in keys
    for k in keys:
        assert m[k] is not None and m[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-9), k
    assert 0 < ref["ndcg@10"] < 1 and 0 < ref["recall@10"] < 1 and ref["items"] > 20
    assert ref["violations"] == m["violations"] == 0

    ref2, err2 = run(str(tmp_path / "missing.csv"))
    assert "warning: reading the item metadata" in err2 and "missing.csv" in err2
    assert ref2["calibration_kl@10"] is None and ref2["calibration_kl@20"] is None
    for k in keys:
        if not k.startswith("calibration"):
            assert ref2[k] == ref[k], k
