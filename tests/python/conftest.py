"""conftest.py - the bindings' pytest setup: the package from bindings/python (RECSYS_LIBRARY
names the library `make test` built), and a small engine fixture."""
import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import recsys  # noqa: E402
from recsys import _native  # noqa: E402

# ---------------------------------------------------------------- the counting wrappers
# Every prototype of recsys/_native.py is wrapped (on the library object the package calls
# through, and where a class kept a native free function) by a wrapper that counts its calls
# in CALLS; the coverage tests assert that the tests reach each wrapped function at least once
# (test_llm_experiments.py: every function the 0.2 LLM and experiment API added).
CALLS = {name: 0 for name in _native._protos}


def _counting(name, fn):
    def wrapper(*args):
        CALLS[name] += 1
        return fn(*args)
    wrapper.__name__ = name
    wrapper.wrapped = fn
    return wrapper


def _install_counters():
    for name in _native._protos:
        setattr(_native.lib, name, _counting(name, getattr(_native.lib, name)))
    import recsys.engine
    import recsys.evaluation
    for mod in (recsys.engine, recsys.evaluation):
        for obj in vars(mod).values():
            free = getattr(obj, "_free", None) if isinstance(obj, type) else None
            if free is not None and "_free" in vars(obj) and getattr(free, "__name__", "") in CALLS:
                obj._free = _counting(free.__name__, free)


_install_counters()

# The test that checks CALLS runs last; RAN_FILES says which test files the session runs (the
# whole-API check needs them all: a selection with -k or a single file checks less).
COVERAGE_TEST = "test_every_prototype_is_reached"
RAN_FILES = set()


def pytest_collection_modifyitems(items):
    items.sort(key=lambda it: it.name == COVERAGE_TEST)  # stable: the rest keep their order


def pytest_collection_finish(session):
    RAN_FILES.update(os.path.basename(str(it.fspath)) for it in session.items)

CATALOG = [
    {"item_id": "c1", "title": "Distributed Systems Course", "category": "education",
     "tags": ["backend", "scalability"], "attributes": {"price": 30}},
    {"item_id": "c2", "title": "Practical Kubernetes", "category": "education",
     "tags": ["devops", "scalability"], "attributes": {"price": 45}},
    {"item_id": "c3", "title": "Machine Learning with Python", "category": "education",
     "tags": ["machine-learning", "python"], "attributes": {"price": 60}},
    {"item_id": "c4", "title": "System Design Masterclass", "category": "education",
     "tags": ["architecture", "backend"], "attributes": {"price": 80}},
    {"item_id": "c5", "title": "Watercolour for Beginners", "category": "art",
     "tags": ["art", "creative"], "attributes": {"price": 20}},
    {"item_id": "c6", "title": "Database Internals", "category": "education",
     "tags": ["backend", "databases"], "attributes": {"price": 50}},
    {"item_id": "f1", "title": "Space Odyssey", "category": "film", "tags": ["sci-fi"]},
    {"item_id": "f2", "title": "Blade Runner", "category": "film", "tags": ["sci-fi", "noir"]},
]

NOW = 1700000000


def load(engine):
    engine.upsert_items(CATALOG)
    engine.upsert_users([{"user_id": "u1", "interests": ["backend"]},
                         {"user_id": "u2", "interests": ["art"]}])
    engine.feedback_many([
        {"user_id": "u1", "item_id": "c1", "type": "purchase", "timestamp": NOW - 3000},
        {"user_id": "u1", "item_id": "c6", "type": "view", "timestamp": NOW - 2000},
        {"user_id": "u2", "item_id": "c5", "type": "like", "timestamp": NOW - 1000},
        {"user_id": "u3", "item_id": "f1", "type": "click", "timestamp": NOW - 500},
        {"user_id": "u3", "item_id": "c1", "type": "view", "timestamp": NOW - 400},
    ])
    engine.refresh()


@pytest.fixture
def small_csv(tmp_path):
    """(events.csv, items.csv) of a small data set: 6 users x 10 interactions (items
    i0..i11), one a second apart; the last 2 of each user are test, and inside train the
    last 1 of 8 is validation."""
    lines = ["user_id,item_id,timestamp"]
    for u in range(6):
        for k in range(10):
            lines.append("user%d,i%d,%d" % (u, (u + k) % 12, 1000 + 100 * u + k))
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,tags\n" + "".join(
        "i%d,Item %d,%s\n" % (i, i, "a|b" if i % 2 else "c") for i in range(12)))
    return str(path), str(items)


@pytest.fixture
def engine():
    with recsys.Engine(seed=7, now=NOW, log_impressions=0) as e:
        load(e)
        yield e
