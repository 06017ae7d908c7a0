"""movielens.py - MovieLens 100K end to end in Python: the evaluation protocol
(EVAL_PROTOCOL.md) through recsys.Dataset, iALS learned by the engine, every test user
served in one batch call, the metrics as a dict (the same figures recsys-bench eval
prints), item vectors out as a numpy matrix, and one user's explained recommendations.

Run, after `make`:
    PYTHONPATH=bindings/python /usr/bin/python3 examples/movielens.py ../shared/data/ml-100k
"""
import sys
import time

import numpy as np

import recsys


def main(folder, user_index=0):
    with recsys.Dataset(folder, "ml-100k") as ds, recsys.Engine(seed=2025) as engine:
        print("data set:", ds.info())
        ds.configure(engine, "train")  # the protocol's clock, top 20, full candidate sets
        ds.feed(engine, "train", metadata=True)  # items with titles and genres, then events
        engine.enable_only_sources(["ials"])
        engine.enable("ranker", "blend", False)
        engine.set_options(ials_reg=10.0, ials_alpha=0.1)
        t = time.perf_counter()
        engine.refresh()  # trains iALS
        print("trained in %.2f s" % (time.perf_counter() - t))

        t = time.perf_counter()
        metrics = ds.evaluate(engine, "test")  # one recsys_recommend_batch call
        print("evaluated %d users in %.2f s" % (metrics["users"], time.perf_counter() - t))
        for k in ("ndcg@10", "recall@10", "precision@10", "hit@10", "map@10", "coverage@10"):
            print("  %-13s %.4f   (MostPopular %.4f)" % (k, metrics[k], metrics["mostpop"][k]))

        user = ds.users("test")[user_index]
        result = engine.recommend(user, top_n=5, explain=1)
        print("\nfor user %s:" % user)
        for rank, item in enumerate(result, 1):
            title = engine.get_item(item.item_id)["title"]
            print("  %d. %-45s %.3f  %s" % (rank, title, item.score, item.explanation))

        # the engine's item vectors (iALS factors are not catalog embeddings; this shows
        # the numpy path with the genre one-hot vectors a host could have imported)
        ids = ds.item_ids[:5]
        vecs = np.eye(5, 8, dtype=np.float32)
        engine.add_items_with_embeddings(["vec-%d" % i for i in range(5)], vecs)
        back = engine.item_embeddings(["vec-%d" % i for i in range(5)], 8)
        print("\nembeddings round trip through the library: %s (%d items, e.g. %s)"
              % (bool((back == vecs).all()), len(back), ids[0]))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: movielens.py DATA_DIR/ml-100k [user-index]")
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
