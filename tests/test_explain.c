/* test_explain.c - template explanations cite only true facts; the grounding check rejects
 * false evidence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "llm/explain.h"
#include "retrieve/merge.h"
#include "support/fixture.h"

static const int64_t now = FIXTURE_NOW, day = FIXTURE_DAY, hour = FIXTURE_HOUR;

static const char *const source_names[] = { "popular", "trending", "content" };

/* A merged candidate set as stage 2 leaves it: popular proposed pop, trending proposed
 * trend, content proposed content (comma-separated ids, NULL for none). */
static void merged(fixture *f, recsys_candidates *out, const char *pop, const char *trend,
                   const char *content)
{
    recsys_candidates lists[3];
    fixture_cands(f, &lists[0], pop);
    fixture_cands(f, &lists[1], trend);
    fixture_cands(f, &lists[2], content);
    const double w[3] = { 1, 1, 1 };
    recsys__cands_init(out, &f->mem, &f->q, 0);
    out->source_names = source_names;
    out->nsources = 3;
    assert_int_equal(recsys__merge(out, lists, w, 3), RECSYS_OK);
    for (int k = 0; k < 3; k++)
        recsys__cands_free(&lists[k]);
}

/* Explains id (a candidate of c) and checks the invariants every explanation keeps. */
static void explain(fixture *f, recsys_candidates *c, const char *id, recsys__explanation *e)
{
    size_t i = fixture_cand_pos(f, c, id);
    assert_true(i != SIZE_MAX);
    assert_int_equal(recsys__explain_template(&f->mem, &f->q, c, i, e), RECSYS_OK);
    assert_non_null(e->text);
    assert_true(e->nev <= RECSYS__EXPLAIN_MAX_EVIDENCE);
    const recsys_item *it = fixture_get(f, id);
    for (size_t k = 0; k < e->nev; k++)
        assert_true(recsys__evidence_grounded(&f->q, it, e->ev[k].kind, e->ev[k].name,
                                              e->ev[k].value));
    if (!it->available)
        assert_int_equal(e->nev, 0);
}

static bool has_ev(const recsys__explanation *e, int32_t kind, const char *name,
                   const char *value)
{
    for (size_t k = 0; k < e->nev; k++)
        if (e->ev[k].kind == kind && strcmp(e->ev[k].name, name) == 0 &&
            strcmp(e->ev[k].value, value) == 0)
            return true;
    return false;
}

/* Explains one item for user/text with the given provenance. */
static void explain1(fixture *f, const char *user, const char *text, const char *id,
                     const char *pop, const char *trend, recsys__explanation *e)
{
    fixture_query(f, user, text, 100);
    recsys_candidates c;
    merged(f, &c, pop, trend, id);
    explain(f, &c, id, e);
    recsys__cands_free(&c);
}

/* ------------------------------------------------------------ explanations */

static void cites_a_related_liked_item_and_a_followed_tag(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "alice", "c_dist", RECSYS_EVENT_LIKE, 0, now - day);
    recsys__explanation e;
    explain1(f, "alice", NULL, "c_sys", NULL, NULL, &e);
    assert_string_equal(e.text, "Because you liked Distributed Systems Course and it is tagged "
                                "scalability, which you follow.");
    assert_int_equal(e.nev, 3);
    assert_true(has_ev(&e, RECSYS_EVIDENCE_HISTORY, "like", "c_dist"));
    assert_true(has_ev(&e, RECSYS_EVIDENCE_ATTRIBUTE, "tag", "scalability"));
    assert_true(has_ev(&e, RECSYS_EVIDENCE_INTEREST, "interest", "scalability"));
    recsys__explanation_free(&f->mem, &e);

    /* the liked item itself is never its own reason, and an unrelated item is none */
    explain1(f, "alice", NULL, "c_cook", NULL, NULL, &e);
    assert_string_equal(e.text, "Recommended for you.");
    assert_int_equal(e.nev, 0);
    recsys__explanation_free(&f->mem, &e);
    fixture_free(f);
}

static void cites_matched_query_terms_and_popularity(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_events(f, "bob", "l_gaming", RECSYS_EVENT_VIEW, 5, now - day);
    recsys__explanation e;
    explain1(f, NULL, "Which GPU laptops?", "l_gaming", "l_gaming", NULL, &e);
    /* 5 views a day ago: 5 * 2^(-1/30) = 4.89 */
    assert_string_equal(e.text, "Because it matches \"gpu\" and it is popular with other users.");
    assert_int_equal(e.nev, 2);
    assert_true(has_ev(&e, RECSYS_EVIDENCE_QUERY, "query", "gpu"));
    assert_true(has_ev(&e, RECSYS_EVIDENCE_POPULARITY, "popular", "5"));
    recsys__explanation_free(&f->mem, &e);

    /* popularity only when the popular source really proposed it */
    explain1(f, NULL, "Which GPU laptops?", "l_gaming", NULL, NULL, &e);
    assert_string_equal(e.text, "Because it matches \"gpu\".");
    recsys__explanation_free(&f->mem, &e);
    /* and never for an item without interactions, whatever the provenance says */
    explain1(f, NULL, NULL, "c_cook", "c_cook", "c_cook", &e);
    assert_string_equal(e.text, "Recommended for you.");
    assert_int_equal(e.nev, 0);
    recsys__explanation_free(&f->mem, &e);
    fixture_free(f);
}

static void cites_trending(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_events(f, "bob", "f_family", RECSYS_EVENT_VIEW, 10, now - 2 * hour);
    fixture_events(f, "bob", "c_dist", RECSYS_EVENT_VIEW, 20, now - 10 * day);
    recsys__explanation e;
    explain1(f, NULL, NULL, "f_family", "f_family", "f_family", &e);
    assert_string_equal(e.text, "Because it is trending right now.");
    assert_int_equal(e.nev, 1);
    assert_true(has_ev(&e, RECSYS_EVIDENCE_POPULARITY, "trending", "9")); /* 10 * 2^(-2/24) */
    recsys__explanation_free(&f->mem, &e);
    /* popular long ago, not trending now: falls back to popular */
    explain1(f, NULL, NULL, "c_dist", "c_dist", "c_dist", &e);
    assert_string_equal(e.text, "Because it is popular with other users.");
    assert_true(has_ev(&e, RECSYS_EVIDENCE_POPULARITY, "popular", "16")); /* 20 * 2^(-1/3) */
    recsys__explanation_free(&f->mem, &e);
    fixture_free(f);
}

static void never_praises_an_unavailable_item(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    /* dana follows "machine learning", liked the ML course, and l_ai is popular */
    fixture_event(f, "dana", "c_ml", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_events(f, "bob", "l_ai", RECSYS_EVENT_VIEW, 10, now - hour);
    recsys__explanation e;
    explain1(f, "dana", "machine learning laptop", "l_ai", "l_ai", "l_ai", &e);
    assert_string_equal(e.text, "Currently unavailable.");
    assert_int_equal(e.nev, 0);
    assert_null(e.ev);
    recsys__explanation_free(&f->mem, &e);
    fixture_free(f);
}

static void keeps_at_most_three_pieces(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "alice", "c_dist", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_events(f, "bob", "c_sys", RECSYS_EVENT_VIEW, 10, now - hour);
    recsys__explanation e;
    explain1(f, "alice", "scalability course", "c_sys", "c_sys", "c_sys", &e);
    assert_int_equal(e.nev, 3);
    /* query, history, then only one slot left: the interest alone */
    assert_true(has_ev(&e, RECSYS_EVIDENCE_QUERY, "query", "scalability"));
    assert_true(has_ev(&e, RECSYS_EVIDENCE_HISTORY, "like", "c_dist"));
    assert_true(has_ev(&e, RECSYS_EVIDENCE_INTEREST, "interest", "scalability"));
    assert_string_equal(e.text, "Because it matches \"scalability\", you liked Distributed "
                                "Systems Course and it matches your interest in scalability.");
    recsys__explanation_free(&f->mem, &e);
    fixture_free(f);
}

static void picks_the_strongest_recent_history(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_add_item(f, &(fixture_item_def){ .id = "c_pg", .title = "Scaling Postgres",
                                             .category = "education",
                                             .tags = "scalability,databases" });
    fixture_add_item(f, &(fixture_item_def){ .id = "c_arch", .title = "Architecture at Scale",
                                             .category = "education",
                                             .tags = "scalability,architecture" });
    recsys__explanation e;
    /* liked, then disliked: no longer a reason; a shared category alone ("education") is
     * not a reason either, nor is an unrelated purchase */
    fixture_event(f, "bob", "c_dist", RECSYS_EVENT_LIKE, 0, now - 3 * hour);
    fixture_event(f, "bob", "c_dist", RECSYS_EVENT_DISLIKE, 0, now - 2 * hour);
    fixture_event(f, "bob", "c_ml", RECSYS_EVENT_PURCHASE, 0, now - hour);
    fixture_event(f, "bob", "f_family", RECSYS_EVENT_PURCHASE, 0, now - hour);
    explain1(f, "bob", NULL, "c_sys", NULL, NULL, &e);
    assert_int_equal(e.nev, 0);
    recsys__explanation_free(&f->mem, &e);
    /* a view of an item sharing a tag is a reason */
    fixture_event(f, "bob", "c_pg", RECSYS_EVENT_VIEW, 0, now - hour);
    explain1(f, "bob", NULL, "c_sys", NULL, NULL, &e);
    assert_string_equal(e.text, "Because you viewed Scaling Postgres.");
    assert_true(has_ev(&e, RECSYS_EVIDENCE_HISTORY, "view", "c_pg"));
    recsys__explanation_free(&f->mem, &e);
    /* with the same tags shared, a purchase, even older, is stronger than a view */
    fixture_event(f, "bob", "c_pg", RECSYS_EVENT_PURCHASE, 0, now - 2 * day);
    explain1(f, "bob", NULL, "c_sys", NULL, NULL, &e);
    assert_string_equal(e.text, "Because you bought Scaling Postgres.");
    recsys__explanation_free(&f->mem, &e);
    /* an item sharing more tags is the better reason, even if only viewed */
    fixture_event(f, "bob", "c_arch", RECSYS_EVENT_VIEW, 0, now - 3 * day);
    explain1(f, "bob", NULL, "c_sys", NULL, NULL, &e);
    assert_string_equal(e.text, "Because you viewed Architecture at Scale.");
    assert_true(has_ev(&e, RECSYS_EVIDENCE_HISTORY, "view", "c_arch"));
    recsys__explanation_free(&f->mem, &e);
    /* the profile's purchases count too (carol bought l_ultra: portable, battery) */
    fixture_add_item(f, &(fixture_item_def){ .id = "l_slim", .title = "Slim 14",
                                             .category = "laptop", .tags = "portable" });
    explain1(f, "carol", NULL, "l_slim", NULL, NULL, &e);
    assert_string_equal(e.text, "Because you bought Ultrabook 13.");
    assert_true(has_ev(&e, RECSYS_EVIDENCE_HISTORY, "purchase", "l_ultra"));
    recsys__explanation_free(&f->mem, &e);
    fixture_free(f);
}

static void cites_a_tag_with_strong_affinity(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_add_item(f, &(fixture_item_def){ .id = "x_gpu", .title = "Graphics Card",
                                             .category = "component", .tags = "gpu" });
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_LIKE, 0, now - day);
    recsys__explanation e;
    explain1(f, "bob", NULL, "x_gpu", NULL, NULL, &e);
    assert_string_equal(e.text, "Because you liked Gaming Laptop RTX 4070 and it is tagged gpu, "
                                "a topic you often engage with.");
    assert_true(has_ev(&e, RECSYS_EVIDENCE_ATTRIBUTE, "tag", "gpu"));
    assert_int_equal(e.nev, 2);
    recsys__explanation_free(&f->mem, &e);
    fixture_free(f);
}

static void every_explanation_is_grounded(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "alice", "c_dist", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_event(f, "alice", "l_gaming", RECSYS_EVENT_VIEW, 0, now - hour);
    fixture_event(f, "bob", "f_horror", RECSYS_EVENT_DISLIKE, 0, now - hour);
    fixture_event(f, "bob", "f_space", RECSYS_EVENT_RATING, 5, now - hour);
    fixture_event(f, "dana", "l_ai", RECSYS_EVENT_ADD_TO_CART, 0, now - hour);
    fixture_events(f, "teen", "f_family", RECSYS_EVENT_VIEW, 12, now - hour);
    fixture_events(f, "teen", "c_ml", RECSYS_EVENT_VIEW, 4, now - 5 * day);
    const char *users[] = { NULL, "alice", "bob", "carol", "dana", "teen", "ghost" };
    const char *texts[] = { NULL, "learning about space and gpu laptops" };
    const char *all = "c_dist,c_ml,c_sys,c_cook,l_gaming,l_ultra,l_ai,l_eu,f_horror,f_family,"
                      "f_space,f_scifi";
    size_t cited = 0;
    for (size_t u = 0; u < sizeof users / sizeof users[0]; u++) {
        for (size_t t = 0; t < 2; t++) {
            fixture_query(f, users[u], texts[t], 100);
            recsys_candidates c;
            merged(f, &c, all, all, all);
            for (size_t i = 0; i < c.n; i++) {
                recsys__explanation e;
                explain(f, &c, fixture_id(f, c.v[i].item), &e); /* checks every piece */
                cited += e.nev;
                assert_true(strlen(e.text) < 200);
                recsys__explanation_free(&f->mem, &e);
            }
            recsys__cands_free(&c);
        }
    }
    assert_true(cited > 50);
    fixture_free(f);
}

/* ------------------------------------------------------------ grounding */

static bool g(fixture *f, const char *user, const char *text, const char *id, int32_t kind,
              const char *name, const char *value)
{
    fixture_query(f, user, text, 100);
    return recsys__evidence_grounded(&f->q, fixture_get(f, id), kind, name, value);
}

static void grounding_checks_attributes(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    const int32_t A = RECSYS_EVIDENCE_ATTRIBUTE;
    assert_true(g(f, NULL, NULL, "c_sys", A, "tag", "scalability"));
    assert_true(g(f, NULL, NULL, "c_sys", A, "tag", "Scalability")); /* case-insensitive */
    assert_false(g(f, NULL, NULL, "c_sys", A, "tag", "gaming"));     /* not its tag */
    assert_false(g(f, NULL, NULL, "c_sys", A, "tag", "scalable"));   /* exact only */
    assert_false(g(f, NULL, NULL, "c_sys", A, "tag", ""));
    assert_true(g(f, NULL, NULL, "l_gaming", A, "category", "Laptop"));
    assert_false(g(f, NULL, NULL, "l_gaming", A, "category", "film"));
    assert_true(g(f, NULL, NULL, "l_gaming", A, "title", "Gaming Laptop RTX 4070"));
    assert_false(g(f, NULL, NULL, "l_gaming", A, "title", "Gaming Laptop RTX 4080"));
    /* numbers must be equal */
    assert_true(g(f, NULL, NULL, "l_gaming", A, "price", "1899"));
    assert_true(g(f, NULL, NULL, "l_gaming", A, "price", "1899.00"));
    assert_false(g(f, NULL, NULL, "l_gaming", A, "price", "1799"));
    assert_false(g(f, NULL, NULL, "l_gaming", A, "price", "1899.5"));
    assert_false(g(f, NULL, NULL, "l_gaming", A, "price", "$1899"));
    assert_false(g(f, NULL, NULL, "l_gaming", A, "price", "cheap"));
    assert_false(g(f, NULL, NULL, "l_gaming", A, "price", "nan"));
    assert_false(g(f, NULL, NULL, "c_cook", A, "price", "0")); /* it has no price */
    /* strings exactly */
    assert_true(g(f, NULL, NULL, "l_gaming", A, "gpu", "RTX 4070"));
    assert_false(g(f, NULL, NULL, "l_gaming", A, "gpu", "RTX 4080"));
    assert_false(g(f, NULL, NULL, "l_gaming", A, "gpu", "rtx 4070"));
    /* availability, age, region */
    assert_true(g(f, NULL, NULL, "l_gaming", A, "available", "true"));
    assert_false(g(f, NULL, NULL, "l_ai", A, "available", "true"));
    assert_false(g(f, NULL, NULL, "l_ai", A, "available", "yes"));
    assert_true(g(f, NULL, NULL, "l_ai", A, "available", "false"));
    assert_true(g(f, NULL, NULL, "f_horror", A, "min_age", "18"));
    assert_false(g(f, NULL, NULL, "f_horror", A, "min_age", "16"));
    assert_true(g(f, NULL, NULL, "f_space", A, "region", "ca"));
    assert_false(g(f, NULL, NULL, "f_space", A, "region", "EU"));
    /* nothing is praised about an unavailable item, even a true tag */
    assert_false(g(f, NULL, NULL, "l_ai", A, "tag", "gpu"));
    /* unknown kinds, NULLs, stale copies */
    assert_false(g(f, NULL, NULL, "c_sys", 99, "tag", "scalability"));
    assert_false(g(f, NULL, NULL, "c_sys", A, NULL, "scalability"));
    assert_false(g(f, NULL, NULL, "c_sys", A, "tag", NULL));
    fixture_query(f, NULL, NULL, 100);
    assert_false(recsys__evidence_grounded(&f->q, NULL, A, "tag", "scalability"));
    recsys_item *copy = NULL;
    assert_int_equal(recsys__item_clone(&f->mem, fixture_get(f, "c_sys"), &copy), RECSYS_OK);
    assert_false(recsys__evidence_grounded(&f->q, copy, A, "tag", "scalability"));
    recsys__item_free(&f->mem, copy);
    fixture_free(f);
}

static void grounding_checks_history_and_interests(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    const int32_t H = RECSYS_EVIDENCE_HISTORY, I = RECSYS_EVIDENCE_INTEREST;
    fixture_event(f, "alice", "c_dist", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_event(f, "alice", "c_cook", RECSYS_EVENT_VIEW, 0, now - day);
    assert_true(g(f, "alice", NULL, "c_sys", H, "like", "c_dist"));
    assert_false(g(f, "alice", NULL, "c_sys", H, "like", "c_ml"));     /* never touched */
    assert_false(g(f, "alice", NULL, "c_sys", H, "purchase", "c_dist")); /* liked, not bought */
    assert_false(g(f, "alice", NULL, "c_sys", H, "like", "nope"));     /* no such item */
    assert_false(g(f, "alice", NULL, "l_gaming", H, "like", "c_dist")); /* unrelated item */
    assert_true(g(f, "alice", NULL, "c_cook", H, "view", "c_cook"));    /* the item itself */
    assert_false(g(f, "alice", NULL, "c_sys", H, "impression", "c_dist"));
    assert_false(g(f, "alice", NULL, "c_sys", H, "loved", "c_dist"));
    assert_false(g(f, "bob", NULL, "c_sys", H, "like", "c_dist"));     /* someone else's */
    assert_false(g(f, NULL, NULL, "c_sys", H, "like", "c_dist"));      /* anonymous */
    /* profile lists */
    assert_true(g(f, "carol", NULL, "l_gaming", H, "purchase", "l_ultra"));
    assert_true(g(f, "carol", NULL, "f_space", H, "view", "f_family"));
    assert_false(g(f, "carol", NULL, "f_space", H, "like", "f_family"));
    /* a history item removed from the catalog can no longer be shown to be related */
    fixture_remove(f, "c_dist");
    assert_false(g(f, "alice", NULL, "c_sys", H, "like", "c_dist"));

    /* interests: stated, and about the item */
    assert_true(g(f, "alice", NULL, "c_sys", I, "interest", "scalability"));
    assert_true(g(f, "alice", NULL, "c_sys", I, "interest", "SCALABILITY"));
    assert_false(g(f, "alice", NULL, "c_sys", I, "interest", "machine learning")); /* not hers */
    assert_false(g(f, "alice", NULL, "l_gaming", I, "interest", "scalability")); /* unrelated */
    assert_false(g(f, "alice", NULL, "c_sys", I, "hobby", "scalability"));
    assert_true(g(f, "dana", NULL, "c_ml", I, "interest", "machine learning"));
    assert_true(g(f, "dana", NULL, "f_space", I, "interest", "space")); /* a title word */
    assert_false(g(f, NULL, NULL, "c_sys", I, "interest", "scalability"));
    fixture_free(f);
}

static void grounding_checks_popularity_and_query(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    const int32_t P = RECSYS_EVIDENCE_POPULARITY, Q = RECSYS_EVIDENCE_QUERY;
    fixture_events(f, "bob", "l_gaming", RECSYS_EVENT_VIEW, 5, now - day);  /* 4.89 */
    fixture_events(f, "bob", "f_family", RECSYS_EVENT_VIEW, 10, now - 2 * hour);
    assert_true(g(f, NULL, NULL, "l_gaming", P, "popular", "5"));
    assert_true(g(f, NULL, NULL, "l_gaming", P, "popular", "4.9"));
    assert_false(g(f, NULL, NULL, "l_gaming", P, "popular", "8"));     /* inflated */
    assert_false(g(f, NULL, NULL, "l_gaming", P, "popular", "many"));
    assert_false(g(f, NULL, NULL, "c_cook", P, "popular", "0"));       /* no interactions */
    assert_false(g(f, NULL, NULL, "l_gaming", P, "trending", "5"));    /* not rising now */
    assert_true(g(f, NULL, NULL, "f_family", P, "trending", "9"));
    assert_false(g(f, NULL, NULL, "f_family", P, "viral", "9"));
    /* query terms: in the request and in the item */
    assert_true(g(f, NULL, "gpu laptops please", "l_gaming", Q, "query", "gpu"));
    assert_true(g(f, NULL, "gpu laptops please", "l_gaming", Q, "query", "laptop"));
    assert_true(g(f, NULL, "gpu laptops please", "l_gaming", Q, "query", "GPU laptops"));
    assert_false(g(f, NULL, "gpu laptops please", "l_gaming", Q, "query", "battery"));
    assert_false(g(f, NULL, "gpu laptops please", "l_ultra", Q, "query", "gpu"));
    assert_false(g(f, NULL, "gpu laptops please", "l_gaming", Q, "query", "please"));
    assert_false(g(f, NULL, NULL, "l_gaming", Q, "query", "gpu"));      /* no request text */
    assert_false(g(f, NULL, "gpu", "l_gaming", Q, "query", "the"));
    fixture_free(f);
}

static void explain_out_of_memory_and_bad_arguments(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "alice", "c_dist", RECSYS_EVENT_LIKE, 0, now - day);
    fixture_events(f, "bob", "c_sys", RECSYS_EVENT_VIEW, 10, now - hour);
    fixture_query(f, "alice", "system design", 100);
    recsys_candidates c;
    merged(f, &c, "c_sys", NULL, NULL);
    recsys__explanation e;
    long n;
    for (n = 1;; n++) {
        f->oom_stats.fail_at = n;
        recsys_status st = recsys__explain_template(&f->oom, &f->q, &c, 0, &e);
        f->oom_stats.fail_at = 0;
        if (st == RECSYS_OK) {
            assert_int_equal(e.nev, 3);
            recsys__explanation_free(&f->oom, &e);
            assert_int_equal(f->oom_stats.live, 0);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_null(e.text);
        assert_null(e.ev);
        assert_int_equal(e.nev, 0);
        assert_int_equal(f->oom_stats.live, 0);
    }
    assert_true(n > 3);
    assert_int_equal(recsys__explain_template(&f->mem, &f->q, &c, 5, &e), RECSYS_E_INVALID_ARG);
    assert_null(e.text);
    assert_int_equal(recsys__explain_template(&f->mem, NULL, &c, 0, &e), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__explain_template(&f->mem, &f->q, &c, 0, NULL), RECSYS_E_INVALID_ARG);
    recsys__explanation_free(&f->mem, NULL);
    recsys__cands_free(&c);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cites_a_related_liked_item_and_a_followed_tag),
        cmocka_unit_test(cites_matched_query_terms_and_popularity),
        cmocka_unit_test(cites_trending),
        cmocka_unit_test(never_praises_an_unavailable_item),
        cmocka_unit_test(keeps_at_most_three_pieces),
        cmocka_unit_test(picks_the_strongest_recent_history),
        cmocka_unit_test(cites_a_tag_with_strong_affinity),
        cmocka_unit_test(every_explanation_is_grounded),
        cmocka_unit_test(grounding_checks_attributes),
        cmocka_unit_test(grounding_checks_history_and_interests),
        cmocka_unit_test(grounding_checks_popularity_and_query),
        cmocka_unit_test(explain_out_of_memory_and_bad_arguments),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("llm/explain", tests, NULL, NULL);
}
