"""bench_batch.py - recommending for every ml-100k user through the batch call: Python (the
bindings, ctypes) against C (`recsys-bench batch`), in one run, on the same machine.

Both sides do the same work: the same engine (seed 2025, the protocol's options for the train
part, the train interactions, only the "ials" source, "blend" off, one refresh), then per run
one request per user, one recsys_recommend_batch call on T threads, every result's ids and
scores read, everything freed. The two sides alternate, ROUNDS times (--rounds): the C side
as a child process timing R runs (--repeat), then the Python side timing R runs in this
process, so that both see the same load on a shared machine. Each side's figure is the median
of all its runs; the ratio is Python's median / C's.

Run, after `make`:
    PYTHONPATH=bindings/python /usr/bin/python3 bindings/python/bench_batch.py \\
        --data ../shared/data [--bench build/recsys-bench] [--repeat 5] [--threads 0]
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import recsys


def python_engine(data, dataset, pipeline):
    ds = recsys.Dataset(os.path.join(data, dataset), dataset)
    e = recsys.Engine(seed=2025)
    ds.configure(e, "train")
    ds.feed(e, "train")
    e.enable_only_sources(pipeline.split(","))
    e.enable("ranker", "blend", False)
    e.refresh()
    return ds, e


def python_runs(ds, e, repeat, threads):
    users = ds.users("all")
    secs, returned = [], 0
    for r in range(repeat + 1):  # run 0 warms up, as the C side's
        t = time.perf_counter()
        results = e.recommend_batch(users, threads=threads)
        returned = sum(len(x) for x in results)
        if r:
            secs.append(time.perf_counter() - t)
    return len(users), secs, returned


def c_runs(a):
    out = subprocess.run([a.bench, "batch", "--data", a.data, "--dataset", a.dataset,
                          "--pipeline", a.pipeline, "--threads", str(a.threads),
                          "--repeat", str(a.repeat), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().split("\n")[-1])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("RECSYS_DATA_DIR", "../shared/data"))
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--bench", default=os.environ.get(
        "RECSYS_BENCH", os.path.join(here, "..", "..", "build", "recsys-bench")))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--pipeline", default="ials")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    ds, e = python_engine(a.data, a.dataset, a.pipeline)
    c_med, py_secs, c_items, py_items, nusers, machine = [], [], 0, 0, 0, None
    c_min, py_min = [], []
    try:
        for _ in range(a.rounds):
            c = c_runs(a)
            machine = c["machine"]
            c_med.append(c["batch"]["median_s"])  # C reports its median of R runs
            c_min.append(c["batch"]["min_s"])
            c_items = c["batch"]["items_returned"]
            nusers, secs, py_items = python_runs(ds, e, a.repeat, a.threads)
            py_secs.append(statistics.median(secs))
            py_min.append(min(secs))
    finally:
        e.close()
        ds.close()
    c_s, py_s = statistics.median(c_med), statistics.median(py_secs)
    ratio = py_s / c_s
    print("machine: %d CPUs (nproc), %s; librecsys %s (%s)" % (
        machine["nproc"], machine["cpu"], recsys.version(), recsys.library_path))
    print("%s, pipeline %s, %d users, threads %d (0 = one per processor); %d rounds of %d "
          "runs each side, alternating:" % (a.dataset, a.pipeline, nusers, a.threads, a.rounds,
                                            a.repeat))
    print("  C      (recsys-bench batch)  median %.4f s  (per round %s; %d items)" % (
        c_s, " ".join("%.4f" % x for x in c_med), c_items))
    print("  Python (recsys bindings)     median %.4f s  (per round %s; %d items)" % (
        py_s, " ".join("%.4f" % x for x in py_secs), py_items))
    print("  ratio Python / C: %.3f (medians); %.3f (fastest runs: C %.4f s, Python %.4f s)"
          % (ratio, min(py_min) / min(c_min), min(c_min), min(py_min)))
    if a.json:
        print(json.dumps({"c_s": c_s, "python_s": py_s, "c_min_s": min(c_min),
                          "python_min_s": min(py_min), "c_rounds": c_med,
                          "python_rounds": py_secs, "ratio": ratio, "machine": machine}))


if __name__ == "__main__":
    main()
