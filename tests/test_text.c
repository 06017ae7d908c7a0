/* test_text.c - the tokenizer and the BM25 index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/utf8.h"
#include "support/fixture.h"
#include "text/bm25.h"
#include "text/tokenize.h"

/* All tokens of text joined by '|'. */
static const char *tokens(const char *text, char *buf, size_t cap)
{
    recsys__tok t;
    char w[RECSYS__TOK_MAX];
    size_t n, len = 0;
    buf[0] = '\0';
    recsys__tok_init(&t, text);
    while ((n = recsys__tok_next(&t, w)) > 0) {
        assert_int_equal(strlen(w), n);
        assert_true(len + n + 2 < cap);
        if (len)
            buf[len++] = '|';
        memcpy(buf + len, w, n + 1);
        len += n;
    }
    return buf;
}

static void tokenizer_splits_lowercases_and_drops_stopwords(void **state)
{
    (void)state;
    char buf[512];
    assert_string_equal(tokens("Recommend a LAPTOP for AI-work, please!", buf, sizeof buf),
                        "recommend|laptop|ai|work|please");
    assert_string_equal(tokens("The RTX 4070 and the M2", buf, sizeof buf), "rtx|4070|m2");
    assert_string_equal(tokens("", buf, sizeof buf), "");
    assert_string_equal(tokens("  ,;  the of and  ", buf, sizeof buf), "");
    assert_string_equal(tokens(NULL, buf, sizeof buf), "");
}

static void tokenizer_keeps_utf8_runs(void **state)
{
    (void)state;
    char buf[512];
    assert_string_equal(tokens("Café crème, 日本語のテキスト; naïve", buf, sizeof buf),
                        "café|crème|日本語のテキスト|naïve");
    /* ASCII case folding only: non-ASCII letters stay as they are */
    assert_string_equal(tokens("ÉCOLE École", buf, sizeof buf), "École|École");
}

static void tokenizer_stems_plurals(void **state)
{
    (void)state;
    char buf[512];
    assert_string_equal(tokens("laptops batteries courses classes boxes watches", buf,
                               sizeof buf),
                        "laptop|battery|course|class|box|watch");
    /* words that only look plural are left alone */
    assert_string_equal(tokens("analysis campus glass gas bus", buf, sizeof buf),
                        "analysis|campus|glass|gas|bus");
    /* both forms meet */
    char a[RECSYS__TOK_MAX] = "laptops", b[RECSYS__TOK_MAX] = "laptop";
    assert_int_equal(recsys__tok_stem(a, strlen(a)), recsys__tok_stem(b, strlen(b)));
    assert_string_equal(a, b);
}

static void tokenizer_cuts_long_words_on_a_utf8_boundary(void **state)
{
    (void)state;
    char text[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(text, "é"); /* 200 bytes, one word */
    recsys__tok t;
    char w[RECSYS__TOK_MAX];
    recsys__tok_init(&t, text);
    size_t n = recsys__tok_next(&t, w);
    assert_true(n > 0 && n < RECSYS__TOK_MAX);
    assert_int_equal(n % 2, 0);
    assert_true(recsys__utf8_valid(w, n));
    assert_int_equal(recsys__tok_next(&t, w), 0); /* the rest of the word is consumed */

    /* a long ASCII word: cut, then the next word still comes */
    char text2[200];
    memset(text2, 'x', 100);
    strcpy(text2 + 100, " laptop");
    recsys__tok_init(&t, text2);
    assert_int_equal(recsys__tok_next(&t, w), RECSYS__TOK_MAX - 1);
    assert_int_equal(recsys__tok_next(&t, w), 6);
    assert_string_equal(w, "laptop");
}

static void phrases_compare_word_for_word(void **state)
{
    (void)state;
    assert_true(recsys__tok_phrase_eq("Machine Learning", "machine-learning"));
    assert_true(recsys__tok_phrase_eq("machine learnings", "Machine learning"));
    assert_true(recsys__tok_phrase_eq("system design", "System  Design!"));
    assert_false(recsys__tok_phrase_eq("machine", "machine learning"));
    assert_false(recsys__tok_phrase_eq("learning machine", "machine learning"));
    assert_false(recsys__tok_phrase_eq("", ""));
    assert_false(recsys__tok_phrase_eq("...", "---"));
    assert_true(recsys__tok_contains("Gaming Laptops RTX", "laptop"));
    assert_false(recsys__tok_contains("Gaming Laptops RTX", "lap"));
    assert_true(recsys__text_ieq("GPU", "gpu"));
    assert_false(recsys__text_ieq("GPU", "gpus"));
    assert_false(recsys__text_ieq("École", "école")); /* ASCII folding only */
}

/* ------------------------------------------------------------ BM25 */

/* The documented formula, for hand checks: weighted tf, Lucene idf. */
static double bm25(double tf, double dl, double avgdl, double df, double n)
{
    const double k1 = 1.2, b = 0.75;
    double idf = log(1.0 + (n - df + 0.5) / (df + 0.5));
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl));
}

/* d1 "red apple" (title), d2 "green apple" + tag fruit, d3 "red car", d4 description
 * "apple apple apple". Weighted: title/tag words 3, description words 1. */
static fixture *apples(void)
{
    fixture *f = fixture_new();
    fixture_add_item(f, &(fixture_item_def){ .id = "d1", .title = "red apple" });
    fixture_add_item(f, &(fixture_item_def){ .id = "d2", .title = "green apple", .tags = "fruit" });
    fixture_add_item(f, &(fixture_item_def){ .id = "d3", .title = "red car" });
    fixture_add_item(f, &(fixture_item_def){ .id = "d4", .description = "apple apple apple" });
    fixture_refresh(f);
    return f;
}

typedef struct hits {
    uint32_t *items;
    float *scores;
    size_t n;
} hits;

static hits search(fixture *f, const char *text, size_t limit)
{
    hits h = { 0 };
    assert_int_equal(recsys__bm25_search(f->derived.state[RECSYS__DERIVED_BM25], text, limit, &f->mem, &h.items,
                                         &h.scores, &h.n),
                     RECSYS_OK);
    return h;
}

static void hits_free(fixture *f, hits *h)
{
    recsys__free(&f->mem, h->items);
    recsys__free(&f->mem, h->scores);
}

static const char *hit_ids(fixture *f, const hits *h, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < h->n; i++) {
        const char *id = fixture_id(f, h->items[i]);
        assert_true(len + strlen(id) + 2 < cap);
        if (len)
            buf[len++] = ',';
        strcpy(buf + len, id);
        len += strlen(id);
    }
    return buf;
}

static void bm25_ranks_hand_checked_documents(void **state)
{
    (void)state;
    fixture *f = apples();
    assert_int_equal(recsys__bm25_ndocs(f->derived.state[RECSYS__DERIVED_BM25]), 4);
    assert_int_equal(recsys__bm25_nterms(f->derived.state[RECSYS__DERIVED_BM25]), 5); /* red apple green fruit car */
    hits h = search(f, "red apples", 10);
    char buf[128];
    assert_string_equal(hit_ids(f, &h, buf, sizeof buf), "d1,d3,d4,d2");
    /* lengths 6, 9, 6, 3; avgdl 6; df(apple) 3, df(red) 2; N 4 */
    double avg = 6.0;
    assert_float_equal(h.scores[0], bm25(3, 6, avg, 2, 4) + bm25(3, 6, avg, 3, 4), 1e-4);
    assert_float_equal(h.scores[1], bm25(3, 6, avg, 2, 4), 1e-4);
    assert_float_equal(h.scores[2], bm25(3, 3, avg, 3, 4), 1e-4);
    assert_float_equal(h.scores[3], bm25(3, 9, avg, 3, 4), 1e-4);
    hits_free(f, &h);

    h = search(f, "red apples", 2);
    assert_string_equal(hit_ids(f, &h, buf, sizeof buf), "d1,d3");
    hits_free(f, &h);

    /* a repeated query word counts once */
    h = search(f, "car car car", 10);
    assert_string_equal(hit_ids(f, &h, buf, sizeof buf), "d3");
    assert_float_equal(h.scores[0], bm25(3, 6, avg, 1, 4), 1e-4);
    hits_free(f, &h);
    fixture_free(f);
}

static void bm25_title_and_tags_outweigh_description(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    fixture_add_item(f, &(fixture_item_def){ .id = "desc", .title = "other thing",
                                             .description = "scalability" });
    fixture_add_item(f, &(fixture_item_def){ .id = "title", .title = "scalability",
                                             .tags = "other,thing" });
    fixture_add_item(f, &(fixture_item_def){ .id = "tag", .title = "other thing",
                                             .tags = "scalability" });
    fixture_add_item(f, &(fixture_item_def){ .id = "cat", .title = "other thing",
                                             .category = "scalability" });
    fixture_refresh(f);
    hits h = search(f, "scalability", 10);
    char buf[128];
    assert_int_equal(h.n, 4);
    /* title and tag tie (same weight, same weighted length 9): index order; then category
     * (tf 2), then description (tf 1) */
    assert_string_equal(hit_ids(f, &h, buf, sizeof buf), "title,tag,cat,desc");
    assert_float_equal(h.scores[0], h.scores[1], 1e-6);
    assert_true(h.scores[1] > h.scores[2] && h.scores[2] > h.scores[3]);
    hits_free(f, &h);
    fixture_free(f);
}

static void bm25_skips_removed_items(void **state)
{
    (void)state;
    fixture *f = apples();
    fixture_remove(f, "d1"); /* after the build */
    hits h = search(f, "red apple", 10);
    char buf[128];
    assert_string_equal(hit_ids(f, &h, buf, sizeof buf), "d3,d4,d2");
    hits_free(f, &h);
    /* an item added after the build is not indexed until the next refresh */
    fixture_add_item(f, &(fixture_item_def){ .id = "d5", .title = "red red apple" });
    h = search(f, "red apple", 10);
    assert_string_equal(hit_ids(f, &h, buf, sizeof buf), "d3,d4,d2");
    hits_free(f, &h);
    fixture_refresh(f);
    h = search(f, "red apple", 10);
    assert_string_equal(hit_ids(f, &h, buf, sizeof buf), "d5,d3,d4,d2");
    hits_free(f, &h);
    fixture_free(f);
}

static void bm25_empty_and_unknown_queries(void **state)
{
    (void)state;
    fixture *f = apples();
    hits h = search(f, "banana", 10);
    assert_int_equal(h.n, 0);
    assert_null(h.items);
    h = search(f, "the of and", 10);
    assert_int_equal(h.n, 0);
    h = search(f, "", 10);
    assert_int_equal(h.n, 0);
    h = search(f, "apple", 0);
    assert_int_equal(h.n, 0);
    h = search(f, NULL, 10);
    assert_int_equal(h.n, 0);
    uint32_t *items;
    float *scores;
    size_t n;
    assert_int_equal(recsys__bm25_search(NULL, "apple", 10, &f->mem, &items, &scores, &n),
                     RECSYS_E_INVALID_ARG);
    recsys__bm25 *ix = (recsys__bm25 *)1;
    assert_int_equal(recsys__bm25_build(&f->mem, &f->model.catalog, -1, 0.5, &ix),
                     RECSYS_E_INVALID_ARG);
    assert_null(ix);
    fixture_free(f);
}

static void bm25_empty_catalog(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    fixture_refresh(f);
    hits h = search(f, "anything", 10);
    assert_int_equal(h.n, 0);
    fixture_free(f);
}

static void bm25_parameters_change_scores(void **state)
{
    (void)state;
    fixture *f = apples();
    /* b = 0: no length normalisation; d4 (short) and d2 (long) then tie on "apple" */
    fixture_set_opt(f, RECSYS_OPT_BM25_B, 0.0);
    fixture_refresh(f);
    hits h = search(f, "apple", 10);
    char buf[128];
    assert_string_equal(hit_ids(f, &h, buf, sizeof buf), "d1,d2,d4");
    assert_float_equal(h.scores[0], h.scores[2], 1e-6);
    hits_free(f, &h);
    fixture_free(f);
}

/* The top k of a search is exactly the first k of the full ranking, ties included: the
 * selection that avoids sorting every hit must not change the answer. */
static void bm25_top_k_is_a_prefix_of_the_full_ranking(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    static const char *words[] = { "red", "green", "apple", "car", "fast", "slow", "blue", "tree" };
    char id[16], title[64];
    uint64_t r = 12345;
    for (int i = 0; i < 600; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(id, sizeof id, "d%03d", i);
        /* few distinct titles: many exact score ties */
        snprintf(title, sizeof title, "%s %s", words[(r >> 33) % 8], words[(r >> 41) % 8]);
        fixture_add_item(f, &(fixture_item_def){ .id = id, .title = title });
    }
    fixture_refresh(f);
    static const char *queries[] = { "red", "apple car", "fast blue tree", "green green" };
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        hits all = search(f, queries[q], 100000);
        assert_true(all.n > 50);
        for (size_t k = 1; k <= all.n; k += 7) {
            hits top = search(f, queries[q], k);
            assert_int_equal(top.n, k);
            for (size_t i = 0; i < k; i++) {
                assert_int_equal(top.items[i], all.items[i]);
                assert_true(top.scores[i] == all.scores[i]);
            }
            hits_free(f, &top);
        }
        hits_free(f, &all);
    }
    fixture_free(f);
}

/* The map accumulator (rare terms in a large catalog) and the dense one give the same answer,
 * scores and ties included. */
static void bm25_sparse_and_dense_sums_agree(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    static const char *common[] = { "red", "green", "blue", "apple", "car", "tree" };
    char id[16], title[96];
    uint64_t r = 777;
    for (int i = 0; i < 2000; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(id, sizeof id, "d%04d", i);
        /* every 50th document also carries a rare word */
        snprintf(title, sizeof title, "%s %s%s", common[(r >> 33) % 6], common[(r >> 41) % 6],
                 i % 50 == 0 ? (i % 100 ? " zephyr" : " quasar zephyr") : "");
        fixture_add_item(f, &(fixture_item_def){ .id = id, .title = title });
    }
    fixture_refresh(f);
    const recsys__bm25 *ix = f->derived.state[RECSYS__DERIVED_BM25];
    static const char *queries[] = { "zephyr", "quasar", "zephyr quasar red", "apple car" };
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++)
        for (size_t limit = 1; limit <= 2000; limit *= 7) {
            hits a = { 0 }, b = { 0 };
            assert_int_equal(recsys__bm25_search_mode(ix, queries[q], limit, &f->mem, 1, &a.items,
                                                      &a.scores, &a.n), RECSYS_OK);
            assert_int_equal(recsys__bm25_search_mode(ix, queries[q], limit, &f->mem, 2, &b.items,
                                                      &b.scores, &b.n), RECSYS_OK);
            assert_true(a.n > 0);
            assert_int_equal(a.n, b.n);
            for (size_t i = 0; i < a.n; i++) {
                assert_int_equal(a.items[i], b.items[i]);
                assert_true(a.scores[i] == b.scores[i]);
            }
            hits_free(f, &a);
            hits_free(f, &b);
        }
    fixture_free(f);
}

/* Over its postings budget a search reads each long term's best postings only: exact for a
 * single term (the best `budget`), never above the exact score otherwise, and exact again
 * when the postings fit the budget. */
static void bm25_over_budget_reads_the_best_postings(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    static const char *common[] = { "red", "green", "blue", "apple", "car", "tree" };
    char id[16], title[96];
    uint64_t r = 4242;
    for (int i = 0; i < 2000; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(id, sizeof id, "d%04d", i);
        snprintf(title, sizeof title, "%s %s %s%s", common[(r >> 33) % 6],
                 common[(r >> 41) % 6], i % 7 ? "" : common[(r >> 50) % 6],
                 i % 50 == 0 ? " zephyr" : "");
        fixture_add_item(f, &(fixture_item_def){ .id = id, .title = title });
    }
    recsys__bm25 *ix = NULL;
    assert_int_equal(recsys__bm25_build_budget(&f->mem, &f->model.catalog, 1.2, 0.75, 0, &ix),
                     RECSYS_E_INVALID_ARG);
    assert_null(ix);
    assert_int_equal(recsys__bm25_build_budget(&f->mem, &f->model.catalog, 1.2, 0.75, 64, &ix),
                     RECSYS_OK);
    /* one long term: the best 64 exactly, and no more */
    for (size_t limit = 10; limit <= 100; limit += 90) {
        hits a = { 0 }, b = { 0 };
        assert_int_equal(recsys__bm25_search_mode(ix, "red", limit, &f->mem, 0, &a.items,
                                                  &a.scores, &a.n), RECSYS_OK);
        assert_int_equal(recsys__bm25_search_mode(ix, "red", limit, &f->mem, 2, &b.items,
                                                  &b.scores, &b.n), RECSYS_OK);
        assert_int_equal(a.n, limit < 64 ? limit : 64);
        assert_true(b.n >= a.n);
        for (size_t i = 0; i < a.n; i++) {
            assert_int_equal(a.items[i], b.items[i]);
            assert_true(a.scores[i] == b.scores[i]);
        }
        hits_free(f, &a);
        hits_free(f, &b);
    }
    /* several long terms: every score at most the exact one */
    hits a = { 0 }, b = { 0 };
    assert_int_equal(recsys__bm25_search_mode(ix, "red green blue zephyr", 2000, &f->mem, 0,
                                              &a.items, &a.scores, &a.n), RECSYS_OK);
    assert_int_equal(recsys__bm25_search_mode(ix, "red green blue zephyr", 2000, &f->mem, 2,
                                              &b.items, &b.scores, &b.n), RECSYS_OK);
    assert_true(a.n > 0 && a.n < b.n);
    for (size_t i = 0; i < a.n; i++) {
        size_t j = 0;
        while (j < b.n && b.items[j] != a.items[i])
            j++;
        assert_true(j < b.n);
        assert_true(a.scores[i] <= b.scores[j]);
        if (i)
            assert_true(a.scores[i] <= a.scores[i - 1]);
    }
    hits_free(f, &a);
    hits_free(f, &b);
    /* within the budget (40 postings): the exact answer */
    assert_int_equal(recsys__bm25_search_mode(ix, "zephyr", 100, &f->mem, 0, &a.items, &a.scores,
                                              &a.n), RECSYS_OK);
    assert_int_equal(recsys__bm25_search_mode(ix, "zephyr", 100, &f->mem, 2, &b.items, &b.scores,
                                              &b.n), RECSYS_OK);
    assert_int_equal(a.n, 40);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.items[i], b.items[i]);
        assert_true(a.scores[i] == b.scores[i]);
    }
    hits_free(f, &a);
    hits_free(f, &b);
    recsys__bm25_free(ix);
    fixture_free(f);
}

static void bm25_out_of_memory(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    recsys__bm25 *ix = NULL;
    recsys_status st;
    long n;
    for (n = 1;; n++) {
        f->oom_stats.fail_at = n;
        st = recsys__bm25_build(&f->oom, &f->model.catalog, 1.2, 0.75, &ix);
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(ix);
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_true(n > 3);
    f->oom_stats.fail_at = 0;
    recsys__bm25_free(ix);
    ix = NULL;
    /* a budget of 1 gives most terms an impact list: their allocations fail too */
    for (n = 1;; n++) {
        f->oom_stats.fail_at = n;
        st = recsys__bm25_build_budget(&f->oom, &f->model.catalog, 1.2, 0.75, 1, &ix);
        if (st == RECSYS_OK) {
            recsys__bm25_free(ix);
            ix = NULL;
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(ix);
        assert_int_equal(f->oom_stats.live, 0);
    }
    f->oom_stats.fail_at = 0;
    for (n = 1;; n++) {
        f->oom_stats.fail_at = n;
        st = recsys__bm25_build(&f->oom, &f->model.catalog, 1.2, 0.75, &ix);
        if (st == RECSYS_OK)
            break;
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(ix);
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_true(n > 3);
    f->oom_stats.fail_at = 0;
    for (n = 1;; n++) {
        uint32_t *items = NULL;
        float *scores = NULL;
        size_t cnt = 99;
        long before = f->oom_stats.live;
        f->oom_stats.fail_at = n;
        st = recsys__bm25_search(ix, "gpu laptop scalability", 5, &f->oom, &items, &scores, &cnt);
        if (st == RECSYS_OK) {
            assert_true(cnt > 0);
            recsys__free(&f->oom, items);
            recsys__free(&f->oom, scores);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_int_equal(cnt, 0);
        assert_int_equal(f->oom_stats.live, before);
    }
    f->oom_stats.fail_at = 0;
    recsys__bm25_free(ix);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokenizer_splits_lowercases_and_drops_stopwords),
        cmocka_unit_test(tokenizer_keeps_utf8_runs),
        cmocka_unit_test(tokenizer_stems_plurals),
        cmocka_unit_test(tokenizer_cuts_long_words_on_a_utf8_boundary),
        cmocka_unit_test(phrases_compare_word_for_word),
        cmocka_unit_test(bm25_ranks_hand_checked_documents),
        cmocka_unit_test(bm25_title_and_tags_outweigh_description),
        cmocka_unit_test(bm25_skips_removed_items),
        cmocka_unit_test(bm25_empty_and_unknown_queries),
        cmocka_unit_test(bm25_empty_catalog),
        cmocka_unit_test(bm25_parameters_change_scores),
        cmocka_unit_test(bm25_top_k_is_a_prefix_of_the_full_ranking),
        cmocka_unit_test(bm25_sparse_and_dense_sums_agree),
        cmocka_unit_test(bm25_over_budget_reads_the_best_postings),
        cmocka_unit_test(bm25_out_of_memory),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
