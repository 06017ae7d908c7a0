"""test_threads_memory.py - the bindings under Python threads (the library releases the GIL
in every call: ctypes.CDLL) and over many calls: no growth of Python objects (tracemalloc)
or of the process (RSS) after thousands of recommend calls."""
import os
import threading
import tracemalloc

import recsys
from conftest import NOW, load


def test_python_threads_share_one_engine(engine):
    users = ["u1", "u2", "u3", "cold", None]
    want = {u: engine.recommend(u, top_n=5).item_ids for u in users}
    errors, done = [], []

    catalog = {"c1", "c2", "c3", "c4", "c5", "c6", "f1", "f2"}

    def reader(k, exact):
        try:
            for i in range(200):
                u = users[(i + k) % len(users)]
                got = engine.recommend(u, top_n=5).item_ids
                if exact:  # nothing changes the engine meanwhile: the same answers
                    assert got == want[u]
                else:  # feedback meanwhile changes popularity: valid answers
                    assert got and set(got) <= catalog
            done.append(k)
        except BaseException as e:  # reported below
            errors.append(e)

    def writer():
        try:
            for i in range(200):
                engine.feedback("w%d" % (i % 7), "c%d" % (1 + i % 6), "view", timestamp=NOW - 5)
        except BaseException as e:
            errors.append(e)

    calls = []

    def source(q, c):  # a Python plug-in called from several threads at once
        calls.append(threading.get_ident())
        return []

    engine.add_source("py-noop", source)
    for exact in (True, False):
        threads = [threading.Thread(target=reader, args=(k, exact)) for k in range(4)]
        if not exact:
            threads.append(threading.Thread(target=writer))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert len(done) == 8 and len(calls) >= 1600
    assert len(set(calls)) >= 2


# Under AddressSanitizer (make asan preloads it) freed memory sits in a quarantine, so the
# process grows by design: the RSS checks then have nothing to say (tracemalloc still runs).
SANITIZED = "asan" in os.environ.get("LD_PRELOAD", "")


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_no_growth_over_many_calls():
    with recsys.Engine(now=NOW, log_impressions=0) as e:
        load(e)
        e.add_source("py-src", lambda q, c: [("c2", 1.0)])

        def work(n):
            for i in range(n):
                res = e.recommend("u%d" % (1 + i % 3), top_n=5)
                assert res.item_ids
            e.recommend_batch(["u1", "u2", "u3"] * 50)

        work(500)  # warm up: caches, interned strings, allocator arenas
        tracemalloc.start()
        rss0 = _rss_kib()
        snap0 = tracemalloc.take_snapshot()
        work(3000)
        snap1 = tracemalloc.take_snapshot()
        rss1 = _rss_kib()
        tracemalloc.stop()
        grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename") if s.size_diff > 0)
        assert grown < 64 * 1024, "Python objects grew by %d bytes" % grown
        if not SANITIZED:
            assert rss1 - rss0 < 2048, "RSS grew by %d KiB over 3000 requests" % (rss1 - rss0)


def test_engines_made_and_freed_do_not_leak():
    def cycle():
        with recsys.Engine(now=NOW) as e:
            load(e)
            e.add_source("s", lambda q, c: None)
            e.recommend("u1")
    for _ in range(20):
        cycle()
    rss0 = _rss_kib()
    for _ in range(200):
        cycle()
    if not SANITIZED:
        assert _rss_kib() - rss0 < 4096
