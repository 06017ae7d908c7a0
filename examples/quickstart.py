"""quickstart.py - the README's first Python program: an engine, a tiny catalog, a few
feedback events, one recommendation with its explanations (the Python twin of quickstart.c).

Run, after `make`:  PYTHONPATH=bindings/python /usr/bin/python3 examples/quickstart.py
"""
import recsys

CATALOG = [
    {"item_id": "c1", "title": "Distributed Systems Course", "category": "education",
     "tags": ["backend", "scalability", "architecture"]},
    {"item_id": "c2", "title": "Practical Kubernetes", "category": "education",
     "tags": ["devops", "scalability", "cloud"]},
    {"item_id": "c3", "title": "Machine Learning with Python", "category": "education",
     "tags": ["machine-learning", "python"]},
    {"item_id": "c4", "title": "System Design Masterclass", "category": "education",
     "tags": ["architecture", "backend", "system-design"]},
    {"item_id": "c5", "title": "Watercolour for Beginners", "category": "education",
     "tags": ["art", "creative"]},
    {"item_id": "c6", "title": "Database Internals", "category": "education",
     "tags": ["backend", "databases"]},
]


def main():
    print("librecsys %s (%s)" % (recsys.version(), recsys.library_path))
    with recsys.Engine(top_n=5) as engine:  # memory store, built-in plug-ins
        engine.upsert_items(CATALOG)
        engine.feedback("user_123", "c1", "purchase")
        engine.feedback("user_123", "c1", "rating", value=5)
        engine.feedback("user_123", "c5", "dislike")
        engine.feedback("user_456", "c2", "purchase")
        engine.refresh()
        result = engine.recommend("user_123")
        print("recommendations for user_123 (request %s):" % result.request_id)
        for rank, item in enumerate(result, 1):
            sources = ", ".join("%s %.2f" % s for s in item.sources)
            print("%d. %-3s %.3f  %s  [%s]" % (rank, item.item_id, item.score,
                                              item.explanation, sources))
        try:
            engine.recommend("user_123", anchor="no-such-item")
        except recsys.RecsysError as e:  # every failure carries the status and the message
            print("a bad request fails cleanly: status %d (%s): %s" % (e.status, e.status_name,
                                                                       e.message))


if __name__ == "__main__":
    main()
