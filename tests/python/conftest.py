"""conftest.py - the bindings' pytest setup: the package from bindings/python (RECSYS_LIBRARY
names the library `make test` built), and a small engine fixture."""
import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import recsys  # noqa: E402

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
def engine():
    with recsys.Engine(seed=7, now=NOW, log_impressions=0) as e:
        load(e)
        yield e
