/* test_filters.c - the built-in filters, called through recsys_filter_vtable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "filter/filters.h"
#include "support/fixture.h"

typedef recsys_status (*ctor_fn)(const recsys__mem *, recsys_filter_vtable *);

static const int64_t now = FIXTURE_NOW, hour = FIXTURE_HOUR;

#define ALL "c_dist,c_ml,c_sys,c_cook,l_gaming,l_ultra,l_ai,l_eu,f_horror,f_family,f_space,f_scifi"

/* Applies the filter made by ctor to a fresh set of ids for q's user and returns the ids
 * kept, in order. */
static const char *kept(fixture *f, ctor_fn ctor, const char *user, const char *ids,
                        char *buf, size_t cap)
{
    recsys_filter_vtable vt;
    memset(&vt, 0xAB, sizeof vt);
    assert_int_equal(ctor(&f->mem, &vt), RECSYS_OK);
    assert_int_equal(vt.struct_size, sizeof vt);
    assert_null(vt.ctx);
    assert_null(vt.destroy);
    assert_non_null(vt.apply);
    fixture_query(f, user, NULL, 100);
    recsys_candidates c;
    fixture_cands(f, &c, ids);
    assert_int_equal(vt.apply(vt.ctx, &f->q, &c), RECSYS_OK);
    fixture_cands_str(f, &c, buf, cap);
    recsys__cands_free(&c);
    return buf;
}

/* The reason the filter gave item id (NULL when kept). */
static const char *reason(fixture *f, ctor_fn ctor, const char *user, const char *id)
{
    recsys_filter_vtable vt;
    assert_int_equal(ctor(&f->mem, &vt), RECSYS_OK);
    fixture_query(f, user, NULL, 100);
    recsys_candidates c;
    fixture_cands(f, &c, id);
    assert_int_equal(vt.apply(vt.ctx, &f->q, &c), RECSYS_OK);
    const char *r = c.v[0].dropped ? c.v[0].drop_reason : NULL;
    if (c.v[0].dropped)
        assert_non_null(r);
    recsys__cands_free(&c);
    return r;
}

static void availability_drops_unavailable_and_removed(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    char buf[512];
    assert_string_equal(kept(f, recsys__filter_availability, NULL, "l_gaming,l_ai,l_ultra", buf,
                             sizeof buf),
                        "l_gaming,l_ultra");
    assert_string_equal(reason(f, recsys__filter_availability, "alice", "l_ai"), "unavailable");
    assert_null(reason(f, recsys__filter_availability, "alice", "l_gaming"));

    /* an item removed while it is a candidate */
    recsys_filter_vtable vt;
    assert_int_equal(recsys__filter_availability(&f->mem, &vt), RECSYS_OK);
    fixture_query(f, NULL, NULL, 100);
    recsys_candidates c;
    fixture_cands(f, &c, "c_dist,c_ml");
    fixture_remove(f, "c_dist");
    assert_int_equal(vt.apply(vt.ctx, &f->q, &c), RECSYS_OK);
    assert_true(c.v[0].dropped);
    assert_string_equal(c.v[0].drop_reason, "removed");
    assert_false(c.v[1].dropped);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void age_restricted_items_need_a_known_old_enough_user(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    char buf[512];
    /* f_horror has min_age 18 */
    assert_string_equal(kept(f, recsys__filter_age, "alice", "f_horror,f_family", buf, sizeof buf),
                        "f_horror,f_family");                         /* 30 */
    assert_string_equal(kept(f, recsys__filter_age, "teen", "f_horror,f_family", buf, sizeof buf),
                        "f_family");                                  /* 15 */
    assert_string_equal(kept(f, recsys__filter_age, "bob", "f_horror,f_family", buf, sizeof buf),
                        "f_family");                                  /* unknown age */
    assert_string_equal(kept(f, recsys__filter_age, NULL, "f_horror,f_family", buf, sizeof buf),
                        "f_family");                                  /* anonymous */
    assert_string_equal(kept(f, recsys__filter_age, "ghost", "f_horror,f_family", buf, sizeof buf),
                        "f_family");                                  /* unknown user */
    assert_string_equal(reason(f, recsys__filter_age, "teen", "f_horror"), "age");

    /* exactly the minimum age is enough; one year less is not */
    fixture_add_user(f, "eighteen", NULL, 18, NULL, NULL, NULL, NULL);
    fixture_add_user(f, "seventeen", NULL, 17, NULL, NULL, NULL, NULL);
    assert_null(reason(f, recsys__filter_age, "eighteen", "f_horror"));
    assert_string_equal(reason(f, recsys__filter_age, "seventeen", "f_horror"), "age");
    /* age 0 is known, and too young */
    fixture_add_user(f, "baby", NULL, 0, NULL, NULL, NULL, NULL);
    assert_string_equal(reason(f, recsys__filter_age, "baby", "f_horror"), "age");
    /* nothing else is touched for anyone */
    assert_string_equal(kept(f, recsys__filter_age, NULL, ALL, buf, sizeof buf),
                        "c_dist,c_ml,c_sys,c_cook,l_gaming,l_ultra,l_ai,l_eu,f_family,f_space,"
                        "f_scifi");
    fixture_free(f);
}

static void region_lists_limit_who_sees_an_item(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    char buf[512];
    /* l_eu: EU only; f_space: US, CA; f_family: everywhere */
    const char *ids = "l_eu,f_space,f_family";
    assert_string_equal(kept(f, recsys__filter_region, "alice", ids, buf, sizeof buf),
                        "f_space,f_family");                          /* US */
    assert_string_equal(kept(f, recsys__filter_region, "teen", ids, buf, sizeof buf),
                        "f_space,f_family");                          /* CA */
    assert_string_equal(kept(f, recsys__filter_region, "carol", ids, buf, sizeof buf),
                        "f_family");                                  /* DE is not "EU" */
    assert_string_equal(kept(f, recsys__filter_region, "bob", ids, buf, sizeof buf),
                        "f_family");                                  /* unknown region */
    assert_string_equal(kept(f, recsys__filter_region, NULL, ids, buf, sizeof buf),
                        "f_family");                                  /* anonymous */
    fixture_add_user(f, "eve", NULL, 30, "eu", NULL, NULL, NULL);
    assert_string_equal(kept(f, recsys__filter_region, "eve", ids, buf, sizeof buf),
                        "l_eu,f_family");                             /* case-insensitive */
    assert_string_equal(reason(f, recsys__filter_region, "bob", "l_eu"), "region");
    fixture_free(f);
}

static void seen_drops_consumed_items_and_always_purchases(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    char buf[512];
    fixture_event(f, "bob", "c_dist", RECSYS_EVENT_VIEW, 0, now - 3 * hour);
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_PURCHASE, 0, now - 2 * hour);
    fixture_event(f, "bob", "c_ml", RECSYS_EVENT_RATING, 4, now - 2 * hour);
    fixture_event(f, "bob", "f_family", RECSYS_EVENT_IMPRESSION, 0, now - hour); /* shown only */
    fixture_event(f, "bob", "c_cook", RECSYS_EVENT_SKIP, 0, now - hour);         /* not consumed */
    fixture_event(f, "bob", NULL, RECSYS_EVENT_SEARCH, 0, now - hour);
    const char *ids = "c_dist,c_ml,c_sys,c_cook,l_gaming,f_family";
    assert_string_equal(kept(f, recsys__filter_seen, "bob", ids, buf, sizeof buf),
                        "c_sys,c_cook,f_family");
    assert_string_equal(reason(f, recsys__filter_seen, "bob", "l_gaming"), "purchased");
    assert_string_equal(reason(f, recsys__filter_seen, "bob", "c_dist"), "seen");

    /* seen-filtering off: purchases are still dropped */
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 0);
    assert_string_equal(kept(f, recsys__filter_seen, "bob", ids, buf, sizeof buf),
                        "c_dist,c_ml,c_sys,c_cook,f_family");

    /* the profile's lists: purchased always, recent views only with the option */
    assert_string_equal(kept(f, recsys__filter_seen, "carol", "l_ultra,f_family,c_cook", buf,
                             sizeof buf),
                        "f_family,c_cook");
    fixture_set_opt(f, RECSYS_OPT_FILTER_SEEN, 1);
    assert_string_equal(kept(f, recsys__filter_seen, "carol", "l_ultra,f_family,c_cook", buf,
                             sizeof buf),
                        "c_cook");
    /* nobody else's history counts */
    assert_string_equal(kept(f, recsys__filter_seen, "alice", ids, buf, sizeof buf), ids);
    assert_string_equal(kept(f, recsys__filter_seen, NULL, ids, buf, sizeof buf), ids);
    fixture_free(f);
}

static void negative_drops_disliked_items(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    char buf[512];
    fixture_event(f, "bob", "c_cook", RECSYS_EVENT_DISLIKE, 0, now - 5 * hour);
    /* disliked, then liked after all */
    fixture_event(f, "bob", "f_family", RECSYS_EVENT_DISLIKE, 0, now - 4 * hour);
    fixture_event(f, "bob", "f_family", RECSYS_EVENT_LIKE, 0, now - 3 * hour);
    /* liked, then disliked */
    fixture_event(f, "bob", "f_space", RECSYS_EVENT_LIKE, 0, now - 3 * hour);
    fixture_event(f, "bob", "f_space", RECSYS_EVENT_DISLIKE, 0, now - 2 * hour);
    /* a skip is not negative feedback enough */
    fixture_event(f, "bob", "c_ml", RECSYS_EVENT_SKIP, 0, now - hour);
    const char *ids = "c_cook,f_family,f_space,c_ml,c_dist";
    assert_string_equal(kept(f, recsys__filter_negative, "bob", ids, buf, sizeof buf),
                        "f_family,c_ml,c_dist");
    assert_string_equal(reason(f, recsys__filter_negative, "bob", "c_cook"), "negative");
    /* the profile's negative list */
    assert_string_equal(kept(f, recsys__filter_negative, "carol", "f_horror,f_family", buf,
                             sizeof buf),
                        "f_family");
    assert_string_equal(kept(f, recsys__filter_negative, "alice", ids, buf, sizeof buf), ids);
    assert_string_equal(kept(f, recsys__filter_negative, NULL, ids, buf, sizeof buf), ids);
    fixture_free(f);
}

static void exclude_drops_the_request_excludes(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    char buf[512];
    assert_string_equal(kept(f, recsys__filter_exclude, NULL, "c_dist,c_ml,c_sys", buf, sizeof buf),
                        "c_dist,c_ml,c_sys");
    fixture_exclude(f, "c_ml");
    fixture_exclude(f, "f_space");
    assert_string_equal(kept(f, recsys__filter_exclude, NULL, "c_dist,c_ml,c_sys", buf, sizeof buf),
                        "c_dist,c_sys");
    assert_string_equal(reason(f, recsys__filter_exclude, "bob", "c_ml"), "excluded");
    fixture_free(f);
}

static void the_first_reason_is_kept(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_exclude(f, "l_ai");
    recsys_filter_vtable avail, excl;
    assert_int_equal(recsys__filter_availability(&f->mem, &avail), RECSYS_OK);
    assert_int_equal(recsys__filter_exclude(&f->mem, &excl), RECSYS_OK);
    fixture_query(f, NULL, NULL, 100);
    recsys_candidates c;
    fixture_cands(f, &c, "l_ai,l_gaming");
    assert_int_equal(avail.apply(avail.ctx, &f->q, &c), RECSYS_OK);
    assert_int_equal(excl.apply(excl.ctx, &f->q, &c), RECSYS_OK);
    assert_string_equal(c.v[0].drop_reason, "unavailable");
    assert_false(c.v[1].dropped);
    recsys__cands_free(&c);
    fixture_free(f);
}

static void filters_out_of_memory(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    fixture_event(f, "bob", "c_dist", RECSYS_EVENT_VIEW, 0, now - 3 * hour);
    fixture_event(f, "bob", "l_gaming", RECSYS_EVENT_PURCHASE, 0, now - 2 * hour);
    fixture_event(f, "bob", "c_cook", RECSYS_EVENT_DISLIKE, 0, now - hour);
    fixture_event(f, "bob", "c_ml", RECSYS_EVENT_LIKE, 0, now - hour);
    const ctor_fn ctors[] = { recsys__filter_seen, recsys__filter_negative };
    for (size_t k = 0; k < 2; k++) {
        recsys_filter_vtable vt;
        assert_int_equal(ctors[k](&f->mem, &vt), RECSYS_OK);
        fixture_query(f, "bob", NULL, 100);
        long n;
        for (n = 1;; n++) {
            recsys_candidates c;
            fixture_cands(f, &c, ALL);
            c.mem = &f->oom; /* the filter's scratch comes from the set's allocator */
            f->oom_stats.fail_at = n;
            recsys_status st = vt.apply(vt.ctx, &f->q, &c);
            f->oom_stats.fail_at = 0;
            assert_int_equal(f->oom_stats.live, 0);
            c.mem = &f->mem;
            size_t dropped = 0;
            for (size_t i = 0; i < c.n; i++)
                dropped += c.v[i].dropped;
            recsys__cands_free(&c);
            if (st == RECSYS_OK) {
                assert_true(dropped > 0);
                break;
            }
            assert_int_equal(st, RECSYS_E_NOMEM);
        }
        assert_true(n > 1);
    }
    fixture_free(f);
}

static void filters_reject_null_arguments(void **state)
{
    (void)state;
    fixture *f = fixture_new_standard();
    const ctor_fn ctors[] = { recsys__filter_availability, recsys__filter_age,
                              recsys__filter_region,       recsys__filter_seen,
                              recsys__filter_negative,     recsys__filter_exclude };
    for (size_t k = 0; k < 6; k++) {
        assert_int_equal(ctors[k](&f->mem, NULL), RECSYS_E_INVALID_ARG);
        recsys_filter_vtable vt;
        assert_int_equal(ctors[k](&f->mem, &vt), RECSYS_OK);
        recsys_candidates c;
        fixture_query(f, "bob", NULL, 100);
        fixture_cands(f, &c, "c_dist");
        assert_int_equal(vt.apply(NULL, NULL, &c), RECSYS_E_INVALID_ARG);
        assert_int_equal(vt.apply(NULL, &f->q, NULL), RECSYS_E_INVALID_ARG);
        recsys__cands_free(&c);
    }
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(availability_drops_unavailable_and_removed),
        cmocka_unit_test(age_restricted_items_need_a_known_old_enough_user),
        cmocka_unit_test(region_lists_limit_who_sees_an_item),
        cmocka_unit_test(seen_drops_consumed_items_and_always_purchases),
        cmocka_unit_test(negative_drops_disliked_items),
        cmocka_unit_test(exclude_drops_the_request_excludes),
        cmocka_unit_test(the_first_reason_is_kept),
        cmocka_unit_test(filters_out_of_memory),
        cmocka_unit_test(filters_reject_null_arguments),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("filter/builtin", tests, NULL, NULL);
}
