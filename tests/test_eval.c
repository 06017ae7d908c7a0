/* test_eval.c - lib/eval: file readers, the split of EVAL_PROTOCOL.md sections 3 and 4, the
 * metrics of section 6, MostPopular (section 7), item metadata, the beyond-accuracy metrics
 * (hand-computed values and a dense reference) and the final list; and, when RECSYS_DATA_DIR
 * is set, the protocol's sizes, SHA-256 checksums and conformance values on MovieLens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "eval/eval.h"
#include "support/sha256.h"
#include "support/testkit.h"

static const recsys__mem *mem = &recsys__mem_default;

/* ------------------------------------------------------------------ helpers */

static recsys__eval_data parse_ok(const char *text, int format, int variant)
{
    recsys__eval_data d;
    recsys_status st = recsys__eval_parse(mem, text, strlen(text), "t.data", format, variant, &d);
    if (st != RECSYS_OK)
        fail_msg("parse failed: %s", recsys_last_error());
    return d;
}

/* Asserts the parse fails with INVALID_ARG and a message containing want. */
static void parse_bad(const char *text, int format, int variant, const char *want)
{
    recsys__eval_data d;
    memset(&d, 0x5a, sizeof d);
    recsys_status st = recsys__eval_parse(mem, text, strlen(text), "bad.csv", format, variant, &d);
    assert_int_equal(st, RECSYS_E_INVALID_ARG);
    if (!strstr(recsys_last_error(), want))
        fail_msg("message '%s' lacks '%s'", recsys_last_error(), want);
    assert_null(d.all.ev); /* zeroed on failure */
    assert_int_equal(d.users.n, 0);
}

/* "u:i,i,i;u:i" - the part's items per user, by user id then time order. */
static void part_str(const recsys__eval_data *d, const recsys__eval_part *p, char *buf,
                     size_t cap)
{
    size_t w = 0;
    buf[0] = '\0';
    for (uint32_t u = 0; u < p->nusers; u++) {
        if (p->off[u + 1] == p->off[u])
            continue;
        w += (size_t)snprintf(buf + w, cap - w, "%s%s:", w ? ";" : "", d->users.name[u]);
        for (size_t i = p->off[u]; i < p->off[u + 1]; i++)
            w += (size_t)snprintf(buf + w, cap - w, "%s%s", i > p->off[u] ? "," : "",
                                  d->items.name[p->ev[i].item]);
        assert_true(w < cap);
    }
}

static void assert_part(const recsys__eval_data *d, const recsys__eval_part *p, const char *want)
{
    char buf[2048];
    part_str(d, p, buf, sizeof buf);
    assert_string_equal(buf, want);
}

/* ------------------------------------------------------------------ metrics */

static void metrics_hand_computed(void **state)
{
    (void)state;
    recsys__eval_user m;
    /* hits at ranks 1, 3, 8 of 10; |T| = 4, so D = 4:
     * DCG = 1 + 1/log2(4) + 1/log2(9), IDCG = 1 + 1/log2(3) + 1/log2(4) + 1/log2(5),
     * AP = (1/1 + 2/3 + 3/8) / 4 */
    const uint8_t a[10] = { 1, 0, 1, 0, 0, 0, 0, 1, 0, 0 };
    recsys__eval_user_at(a, 10, 4, 10, &m);
    assert_float_equal(m.ndcg, 0.708721269, 1e-8);
    assert_float_equal(m.recall, 0.75, 1e-12);
    assert_float_equal(m.precision, 0.3, 1e-12);
    assert_float_equal(m.hit, 1.0, 0);
    assert_float_equal(m.ap, 0.510416667, 1e-8);

    /* |T| = 25 > K = 10: D = 10; hits at 2 and 5 */
    const uint8_t b[10] = { 0, 1, 0, 0, 1, 0, 0, 0, 0, 0 };
    recsys__eval_user_at(b, 10, 25, 10, &m);
    assert_float_equal(m.ndcg, 0.224005562, 1e-8); /* (1/log2 3 + 1/log2 6) / 4.543559338 */
    assert_float_equal(m.recall, 0.2, 1e-12);      /* hits / min(K, |T|), not / |T| */
    assert_float_equal(m.precision, 0.2, 1e-12);
    assert_float_equal(m.ap, 0.09, 1e-12);         /* (1/2 + 2/5) / 10 */

    /* a list of 3 (shorter than K = 20), |T| = 2: hits at 2 and 3 */
    const uint8_t c[3] = { 0, 1, 1 };
    recsys__eval_user_at(c, 3, 2, 20, &m);
    assert_float_equal(m.ndcg, 0.693426404, 1e-8); /* (1/log2 3 + 1/2) / (1 + 1/log2 3) */
    assert_float_equal(m.recall, 1.0, 1e-12);
    assert_float_equal(m.precision, 0.1, 1e-12);   /* hits / K, whatever the list length */
    assert_float_equal(m.ap, 0.583333333, 1e-8);   /* (1/2 + 2/3) / 2 */

    /* no hit */
    const uint8_t z[10] = { 0 };
    recsys__eval_user_at(z, 10, 3, 10, &m);
    assert_float_equal(m.ndcg + m.recall + m.precision + m.hit + m.ap, 0, 0);
    /* entries beyond K do not count */
    const uint8_t late[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1 };
    recsys__eval_user_at(late, 12, 2, 10, &m);
    assert_float_equal(m.hit, 0, 0);
    /* a perfect list */
    const uint8_t p[2] = { 1, 1 };
    recsys__eval_user_at(p, 2, 2, 10, &m);
    assert_float_equal(m.ndcg, 1.0, 1e-12);
    assert_float_equal(m.ap, 1.0, 1e-12);
}

static void accumulator_means_and_coverage(void **state)
{
    (void)state;
    recsys__eval_acc acc;
    assert_int_equal(recsys__eval_acc_init(&acc, mem, 30), RECSYS_OK);
    uint32_t l1[20], l2[20];
    for (uint32_t i = 0; i < 20; i++) {
        l1[i] = i;     /* items 0..19 */
        l2[i] = i + 5; /* items 5..24 */
    }
    const uint32_t t1[2] = { 0, 15 }, t2[1] = { 29 };
    assert_int_equal(recsys__eval_acc_add(&acc, l1, 20, t1, 2), RECSYS_OK);
    assert_int_equal(recsys__eval_acc_add(&acc, l2, 20, t2, 1), RECSYS_OK);
    /* bad lists are refused and change nothing */
    const uint32_t dup[3] = { 1, 2, 1 }, out_of_range[1] = { 30 };
    assert_int_equal(recsys__eval_acc_add(&acc, dup, 3, t2, 1), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "twice"));
    assert_int_equal(recsys__eval_acc_add(&acc, out_of_range, 1, t2, 1), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__eval_acc_add(&acc, l1, 20, t2, 0), RECSYS_E_INVALID_ARG);
    recsys__eval_metrics m;
    recsys__eval_acc_result(&acc, &m);
    assert_int_equal(m.users, 2);
    /* user 1 @10: hit at rank 1, D = 2: NDCG = 1 / (1 + 1/log2 3), AP = 1/2;
     * @20: hits at 1 and 16: NDCG = (1 + 1/log2 17) / (1 + 1/log2 3), AP = (1 + 2/16) / 2.
     * user 2: nothing. Means over the two users. */
    assert_float_equal(m.ndcg[0], 0.306573596, 1e-8);
    assert_float_equal(m.recall[0], 0.25, 1e-12);
    assert_float_equal(m.precision[0], 0.05, 1e-12);
    assert_float_equal(m.hit[0], 0.5, 1e-12);
    assert_float_equal(m.map[0], 0.25, 1e-12);
    assert_float_equal(m.ndcg[1], 0.381576993, 1e-8);
    assert_float_equal(m.recall[1], 0.5, 1e-12);
    assert_float_equal(m.precision[1], 0.05, 1e-12);
    assert_float_equal(m.hit[1], 0.5, 1e-12);
    assert_float_equal(m.map[1], 0.28125, 1e-12);
    /* top-10 lists cover items 0..14, top-20 lists 0..24, of 30 */
    assert_float_equal(m.coverage[0], 0.5, 1e-12);
    assert_float_equal(m.coverage[1], 25.0 / 30.0, 1e-12);
    recsys__eval_acc_free(&acc);
}

static void topk_breaks_ties_by_item(void **state)
{
    (void)state;
    const double s[6] = { 1, 3, 3, 2, 3, NAN };
    uint32_t out[20];
    size_t n;
    recsys__eval_topk(s, 6, NULL, 3, out, &n);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);
    assert_int_equal(out[2], 4);
    const uint8_t skip[6] = { 0, 0, 1, 0, 0, 0 };
    recsys__eval_topk(s, 6, skip, 20, out, &n);
    assert_int_equal(n, 5); /* NaN ranks last */
    const uint32_t want[5] = { 1, 4, 3, 0, 5 };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(out[i], want[i]);
    recsys__eval_topk(s, 6, NULL, 0, out, &n);
    assert_int_equal(n, 0);
}

/* ------------------------------------------------------------------ split */

/* u.data-style text: ties by item id in numeric order (string order would differ: "10" <
 * "2" < "9"), n = 4, 5, 7, 9, 10, 14. */
static const char split_text[] =
    "1\t10\t5\t100\n1\t5\t5\t100\n1\t7\t5\t50\n1\t3\t5\t200\n1\t2\t5\t300\n1\t9\t5\t300\n"
    "1\t1\t5\t400\n"
    "2\t4\t5\t10\n2\t8\t5\t20\n2\t10\t5\t30\n2\t9\t5\t30\n2\t2\t5\t30\n"
    "3\t1\t5\t1\n3\t2\t5\t2\n3\t3\t5\t3\n3\t4\t5\t4\n"
    "4\t1\t5\t1\n4\t2\t5\t2\n4\t3\t5\t3\n4\t4\t5\t4\n4\t5\t5\t5\n4\t6\t5\t6\n4\t7\t5\t7\n"
    "4\t8\t5\t8\n4\t9\t5\t9\n4\t10\t5\t10\n"
    "5\t1\t5\t9\n5\t2\t5\t8\n5\t3\t5\t7\n5\t4\t5\t6\n5\t5\t5\t5\n5\t6\t5\t4\n5\t7\t5\t3\n"
    "5\t8\t5\t2\n5\t9\t5\t1\n"
    "6\t1\t1\t1\n6\t2\t1\t1\n6\t3\t1\t1\n6\t4\t1\t1\n6\t5\t1\t1\n6\t6\t1\t1\n6\t7\t1\t1\n"
    "6\t8\t1\t1\n6\t9\t1\t1\n6\t10\t1\t1\n6\t11\t1\t1\n6\t12\t1\t1\n6\t13\t1\t1\n6\t14\t1\t1\n";

static void split_per_user_temporal(void **state)
{
    (void)state;
    recsys__eval_data d = parse_ok(split_text, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL);
    assert_int_equal(d.records, 49);
    assert_int_equal(d.all.n, 49);
    assert_int_equal(d.users.n, 6);
    assert_int_equal(d.items.n, 14);
    assert_true(d.items.numeric);
    assert_string_equal(d.items.name[1], "2"); /* numeric order */
    assert_string_equal(d.items.name[9], "10");
    recsys__eval_part train, test, fit, val;
    assert_int_equal(recsys__eval_split(mem, &d.all, &train, &test), RECSYS_OK);
    /* user 1: (ts, item) order 7 5 10 3 2 9 1, floor(7/5) = 1 -> 1.
     * user 2: 4 8 then the tie at 30 in item order 2 9 10 -> the last is 10.
     * user 3: 4 < 5 interactions -> all train, not evaluated.
     * user 4: floor(10/5) = 2; user 5 (times reversed): floor(9/5) = 1 -> item 1;
     * user 6: 14 all at one time -> by item, floor(14/5) = 2 -> 13, 14. */
    assert_part(&d, &test, "1:1;2:10;4:9,10;5:1;6:13,14");
    assert_part(&d, &train, "1:7,5,10,3,2,9;2:4,8,2,9;3:1,2,3,4;4:1,2,3,4,5,6,7,8;"
                            "5:9,8,7,6,5,4,3,2;6:1,2,3,4,5,6,7,8,9,10,11,12");
    assert_int_equal(train.n + test.n, d.all.n);
    assert_int_equal(recsys__eval_part_users(&test), 5);
    /* section 4 on train: user 1 has 6 -> 1; user 2 has 4 -> none; user 6 has 12 -> 2 */
    assert_int_equal(recsys__eval_split(mem, &train, &fit, &val), RECSYS_OK);
    assert_part(&d, &val, "1:9;4:8;5:2;6:11,12");
    assert_int_equal(recsys__eval_part_users(&val), 4);
    assert_int_equal(fit.n + val.n, train.n);
    uint8_t mark[14] = { 0 };
    recsys__eval_part_mark(&fit, 1, mark, 1); /* user "2": 4 8 2 9 */
    assert_int_equal(mark[3] + mark[7] + mark[1] + mark[8], 4);
    assert_int_equal(mark[0] + mark[2] + mark[9], 0);
    recsys__eval_part_free(mem, &train);
    recsys__eval_part_free(mem, &test);
    recsys__eval_part_free(mem, &fit);
    recsys__eval_part_free(mem, &val);
    recsys__eval_data_free(&d);
}

static void ge4_discards_low_ratings(void **state)
{
    (void)state;
    /* user 9 has only low ratings: not a user at all; item 30 only low: not in the catalog */
    const char *text = "1\t10\t4\t1\n1\t20\t3\t2\n1\t30\t1\t3\n2\t20\t5\t4\n9\t10\t2\t5\n"
                       "1\t40\t5\t6\n";
    recsys__eval_data all = parse_ok(text, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL);
    recsys__eval_data ge4 = parse_ok(text, RECSYS__EVAL_ML100K, RECSYS__EVAL_GE4);
    assert_int_equal(all.all.n, 6);
    assert_int_equal(all.users.n, 3);
    assert_int_equal(all.items.n, 4);
    assert_int_equal(ge4.records, 6);
    assert_int_equal(ge4.discarded, 3);
    assert_int_equal(ge4.all.n, 3);
    assert_int_equal(ge4.users.n, 2);
    assert_string_equal(ge4.users.name[1], "2");
    assert_int_equal(ge4.items.n, 3);
    assert_part(&ge4, &ge4.all, "1:10,40;2:20");
    /* ml-latest-small: rating >= 4.0, so 3.5 is out and 4.0 in */
    const char *csv = "userId,movieId,rating,timestamp\r\n1,1,3.5,10\r\n1,2,4.0,11\r\n"
                      "1,3,4.5,12\r\n";
    recsys__eval_data ml = parse_ok(csv, RECSYS__EVAL_MLLATEST, RECSYS__EVAL_GE4);
    assert_part(&ml, &ml.all, "1:2,3");
    assert_int_equal(ml.min_ts, 11);
    assert_int_equal(ml.max_ts, 12);
    recsys__eval_data_free(&ml);
    recsys__eval_data_free(&all);
    recsys__eval_data_free(&ge4);
}

static void duplicates_keep_the_first_occurrence(void **state)
{
    (void)state;
    /* (1,5): ts 9 (rating 5), then ts 3 (rating 2), then ts 3 again (rating 5): ALL keeps ts 3;
     * GE4 first discards the rating-2 line, then keeps ts 3 of the last line. (1,6) twice at
     * one time: the earlier line. */
    const char *text = "user_id,item_id,timestamp,value\n1,5,9,5\n1,5,3,2\n1,6,4,4\n1,5,3,5\n"
                       "1,6,4,5\n1,7,1,4\n";
    recsys__eval_data d = parse_ok(text, RECSYS__EVAL_CSV, RECSYS__EVAL_ALL);
    assert_int_equal(d.records, 6);
    assert_int_equal(d.duplicates, 3);
    assert_int_equal(d.all.n, 3);
    assert_part(&d, &d.all, "1:7,5,6");
    assert_int_equal(d.all.ev[1].ts, 3);
    recsys__eval_data_free(&d);
    d = parse_ok(text, RECSYS__EVAL_CSV, RECSYS__EVAL_GE4);
    assert_int_equal(d.discarded, 1);
    assert_int_equal(d.duplicates, 2);
    assert_part(&d, &d.all, "1:7,5,6");
    assert_int_equal(d.all.ev[1].ts, 3);
    recsys__eval_data_free(&d);
    /* a GE4 duplicate whose first copy is low keeps the later positive one */
    d = parse_ok("u,i,ts,rating\n1,5,1,1\n1,5,8,4\n", RECSYS__EVAL_CSV, RECSYS__EVAL_GE4);
    assert_int_equal(d.all.n, 1);
    assert_int_equal(d.all.ev[0].ts, 8);
    recsys__eval_data_free(&d);
}

static void csv_string_ids_and_line_timestamps(void **state)
{
    (void)state;
    /* columns found by name in any order; string ids in byte order; quoted ids; a record
     * without a timestamp gets its 0-based line number (header excluded) */
    const char *text = "\xEF\xBB\xBFitem,Timestamp,User\n"
                       "c10,5,bob\n"
                       "c9,,bob\n"
                       "\"a,1\",2,\"ann \"\"x\"\"\"\n"
                       "\n"
                       "b,,bob\n"
                       "c9,7,ann \"x\"\n";
    recsys__eval_data d = parse_ok(text, RECSYS__EVAL_CSV, RECSYS__EVAL_ALL);
    assert_false(d.items.numeric);
    assert_false(d.users.numeric);
    assert_int_equal(d.items.n, 4);
    assert_string_equal(d.items.name[0], "a,1");
    assert_string_equal(d.items.name[1], "b");
    assert_string_equal(d.items.name[2], "c10");
    assert_string_equal(d.items.name[3], "c9");
    assert_string_equal(d.users.name[0], "ann \"x\"");
    /* bob: c9 at line 1, c10 at 5, b at line 4 (the blank line counts) */
    assert_part(&d, &d.all, "ann \"x\":a,1,c9;bob:c9,b,c10");
    assert_int_equal(d.all.ev[1].ts, 7);
    assert_int_equal(d.all.ev[2].ts, 1);
    assert_int_equal(d.all.ev[3].ts, 4);
    assert_int_equal(d.all.ev[4].ts, 5);
    recsys__eval_data_free(&d);
    /* positional columns; two-field records; mixed numeric and string ids -> byte order */
    d = parse_ok("a,b\n10,x\n9,y\n10,2\n", RECSYS__EVAL_CSV, RECSYS__EVAL_ALL);
    assert_true(d.users.numeric);
    assert_false(d.items.numeric);
    assert_part(&d, &d.all, "9:y;10:x,2");
    recsys__eval_data_free(&d);
    /* ids with leading zeros are strings: "007" and "7" are two items */
    d = parse_ok("u,i\n1,007\n1,7\n", RECSYS__EVAL_CSV, RECSYS__EVAL_ALL);
    assert_int_equal(d.items.n, 2);
    assert_false(d.items.numeric);
    recsys__eval_data_free(&d);
}

static void bad_input_is_reported_with_file_and_line(void **state)
{
    (void)state;
    parse_bad("1\t2\t3\t4\n1\t2\t3\n", RECSYS__EVAL_ML100K, 0, "bad.csv:2: 3 field(s), expected 4");
    parse_bad("1\t2\t3\t4\nx\t2\t3\t4\n", RECSYS__EVAL_ML100K, 0,
              "bad.csv:2: field 1 (user id) 'x' is not a decimal integer");
    parse_bad("1\t2\t3\t4z\n", RECSYS__EVAL_ML100K, 0,
              "bad.csv:1: field 4 (timestamp) '4z' is not a decimal integer");
    parse_bad("1\t2\tfive\t4\n", RECSYS__EVAL_ML100K, 1, "bad.csv:1: field 3 (value) 'five'");
    parse_bad("1\t2\t\t4\n", RECSYS__EVAL_ML100K, 0, "bad.csv:1: field 3 (rating) is empty");
    parse_bad("1\t2\t3\t99999999999999999999\n", RECSYS__EVAL_ML100K, 0, "not a decimal integer");
    parse_bad("", RECSYS__EVAL_ML100K, 0, "no interactions");
    parse_bad("1\t2\t3\t4\n", RECSYS__EVAL_ML100K, 1, "no positive (value >= 4) interactions");
    parse_bad("userId,itemId,rating,timestamp\n", RECSYS__EVAL_MLLATEST, 0,
              "bad.csv:1: the header is not 'userId,movieId,rating,timestamp'");
    parse_bad("", RECSYS__EVAL_CSV, 0, "bad.csv:1: a header line is expected (the file is empty)");
    parse_bad("user,item\n", RECSYS__EVAL_CSV, 0, "bad.csv: no interactions (0 records read)");
    parse_bad("user,item\n1,\"2\n", RECSYS__EVAL_CSV, 0,
              "bad.csv:2: field 2: the quoted text is not closed");
    parse_bad("user,item\n1,\"2\"x\n", RECSYS__EVAL_CSV, 0,
              "unexpected 'x' after the closing quote");
    parse_bad("user,item\n1,2\n3,  \n", RECSYS__EVAL_CSV, 0,
              "bad.csv:3: field 2 (item id) is empty");
    parse_bad("user,item\n1\n", RECSYS__EVAL_CSV, 0, "bad.csv:2: 1 field(s)");
    parse_bad("user,item\n1,2,3\n", RECSYS__EVAL_CSV, 0,
              "bad.csv:2: 3 fields, but the header has 2");
    parse_bad("user,item,ts\n1,2,3\n", RECSYS__EVAL_CSV, RECSYS__EVAL_GE4,
              "bad.csv:2: variant GE4 needs a value");
    parse_bad("user,item,ts,value\n1,2,3,inf\n", RECSYS__EVAL_CSV, 0, "not a finite number");
    parse_bad("user\n", RECSYS__EVAL_CSV, 0, "bad.csv:1: the header has 1 field(s)");
    char longid[400];
    memset(longid, 'x', sizeof longid);
    memcpy(longid, "u,i\n1,", 6);
    strcpy(longid + 300, "\n");
    parse_bad(longid, RECSYS__EVAL_CSV, 0, "bytes long (at most 256)");
    /* a NUL byte inside the text */
    recsys__eval_data d;
    assert_int_equal(recsys__eval_parse(mem, "u,i\n1,a\0b\n", 10, "nul.csv", RECSYS__EVAL_CSV, 0,
                                        &d),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "nul.csv:2: field 2 (item id) contains a NUL"));
    /* arguments and files */
    assert_int_equal(recsys__eval_parse(mem, "x", 1, "f", 7, 0, &d), RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__eval_parse(mem, "x", 1, "f", RECSYS__EVAL_CSV, 5, &d),
                     RECSYS_E_INVALID_ARG);
    assert_int_equal(recsys__eval_read(mem, "/nonexistent/u.data", RECSYS__EVAL_ML100K, 0, &d),
                     RECSYS_E_IO);
    assert_non_null(strstr(recsys_last_error(), "cannot open '/nonexistent/u.data'"));
    recsys__eval_part h, t;
    assert_int_equal(recsys__eval_split(mem, NULL, &h, &t), RECSYS_E_INVALID_ARG);
}

/* ------------------------------------------------------------------ MostPopular */

/* items 1..6. train popularity: 1 and 2 -> 3 users, 3, 4 and 6 -> 2 users, 5 -> none (only
 * in test). user 1 (5 events) tests item 5; user 2 tests 3; users 3, 4 are not evaluated. */
static const char mostpop_text[] = "1\t1\t5\t1\n1\t2\t5\t2\n1\t4\t5\t3\n1\t6\t5\t4\n1\t5\t5\t9\n"
                                   "2\t1\t5\t1\n2\t2\t5\t2\n2\t4\t5\t3\n2\t6\t5\t4\n2\t3\t5\t9\n"
                                   "3\t1\t5\t1\n3\t2\t5\t1\n3\t3\t5\t1\n"
                                   "4\t3\t5\t1\n";

static void mostpop_ranks_by_distinct_train_users(void **state)
{
    (void)state;
    recsys__eval_data d = parse_ok(mostpop_text, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL);
    recsys__eval_part train, test;
    assert_int_equal(recsys__eval_split(mem, &d.all, &train, &test), RECSYS_OK);
    assert_part(&d, &test, "1:5;2:3");
    double *s;
    assert_int_equal(recsys__eval_mostpop_scores(mem, d.items.n, &train, &s), RECSYS_OK);
    const double want[6] = { 3, 3, 2, 2, 0, 2 };
    for (size_t i = 0; i < 6; i++)
        assert_float_equal(s[i], want[i], 0);
    recsys__free(mem, s);
    /* user 1's candidates: 3 (2 users), 5 (0). Ranked 3, 5: the test item 5 at rank 2.
     * user 2's candidates: 3 (2), 5 (0): the test item 3 at rank 1. */
    recsys__eval_metrics m;
    assert_int_equal(recsys__eval_mostpop(mem, d.items.n, &train, &test, &m), RECSYS_OK);
    assert_int_equal(m.users, 2);
    assert_int_equal(m.padded, 0);
    double u1 = 1 / log2(3.0);
    assert_float_equal(m.ndcg[0], (u1 + 1) / 2, 1e-12);
    assert_float_equal(m.recall[0], 1, 1e-12);
    assert_float_equal(m.precision[0], 0.1, 1e-12);
    assert_float_equal(m.precision[1], 0.05, 1e-12);
    assert_float_equal(m.map[0], (0.5 + 1) / 2, 1e-12);
    assert_float_equal(m.coverage[0], 2.0 / 6.0, 1e-12);
    recsys__eval_part_free(mem, &train);
    recsys__eval_part_free(mem, &test);
    recsys__eval_data_free(&d);
}

typedef struct fixed_lists {
    const uint32_t *list;
    size_t n;
} fixed_lists;

static recsys_status give_list(void *ctx, uint32_t user, const uint8_t *known, uint32_t *list,
                               size_t *n)
{
    const fixed_lists *f = ctx;
    (void)user;
    (void)known;
    if (f->n)
        memcpy(list, f->list, f->n * sizeof *list);
    *n = f->n;
    return RECSYS_OK;
}

static void run_pads_short_lists_and_refuses_known_items(void **state)
{
    (void)state;
    /* one user with 5 events over items 1..5; 25 items in the catalog via a second user */
    char text[2048];
    size_t w = 0;
    for (int i = 1; i <= 5; i++)
        w += (size_t)snprintf(text + w, sizeof text - w, "1\t%d\t5\t%d\n", i, i);
    for (int i = 1; i <= 25; i++)
        w += (size_t)snprintf(text + w, sizeof text - w, "2\t%d\t5\t1\n", i);
    recsys__eval_data d = parse_ok(text, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL);
    recsys__eval_part train, test;
    assert_int_equal(recsys__eval_split(mem, &d.all, &train, &test), RECSYS_OK);
    assert_part(&d, &test, "1:5;2:21,22,23,24,25");
    /* item "1" (index 0) is in both users' train part: not a candidate */
    const uint32_t one[1] = { 0 };
    fixed_lists f = { one, 1 };
    recsys__eval_metrics m;
    assert_int_equal(recsys__eval_run(mem, d.items.n, &train, &test, give_list, &f, NULL, &m),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "known (train) item"));
    const uint32_t dup[2] = { 24, 24 };
    f = (fixed_lists){ dup, 2 };
    assert_int_equal(recsys__eval_run(mem, d.items.n, &train, &test, give_list, &f, NULL, &m),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "listed twice"));
    f = (fixed_lists){ NULL, 0 };
    assert_int_equal(recsys__eval_run(mem, d.items.n, &train, &test, give_list, &f, NULL, &m),
                     RECSYS_OK);
    /* empty lists: user 1 gets candidates 5..24 in order (test item 5 at rank 1); user 2
     * gets 21..25 (all 5 test items at ranks 1..5) */
    assert_int_equal(m.users, 2);
    assert_int_equal(m.padded, 2);
    assert_float_equal(m.ndcg[0], 1.0, 1e-12);
    assert_float_equal(m.hit[0], 1.0, 1e-12);
    assert_float_equal(m.precision[0], (0.1 + 0.5) / 2, 1e-12);
    recsys__eval_part_free(mem, &train);
    recsys__eval_part_free(mem, &test);
    recsys__eval_data_free(&d);
}

/* ------------------------------------------------------------------ item metadata */

static void items_ml100k_latin1_and_genres(void **state)
{
    (void)state;
    const char *genres = "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\n"
                         "Comedy|5\nCrime|6\nDocumentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\n"
                         "Horror|11\nMusical|12\nMystery|13\nRomance|14\nSci-Fi|15\n"
                         "Thriller|16\nWar|17\nWestern|18\n\n";
    const char *items = "1|Toy Story (1995)|01-Jan-1995||http://x|"
                        "0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                        "543|Mis\xe9rables, Les (1995)|01-Jan-1995||http://y|"
                        "0|0|0|0|0|0|0|0|1|0|0|0|1|0|0|0|0|0|0\n";
    recsys__eval_items it;
    assert_int_equal(recsys__eval_parse_items(mem, items, strlen(items), "u.item",
                                              RECSYS__EVAL_ML100K, genres, strlen(genres),
                                              "u.genre", &it),
                     RECSYS_OK);
    assert_int_equal(it.n, 2);
    const recsys__eval_item *toy = recsys__eval_items_find(&it, "1");
    assert_non_null(toy);
    assert_string_equal(toy->title, "Toy Story (1995)");
    assert_int_equal(toy->ntags, 3);
    assert_string_equal(toy->tags[0], "Animation");
    assert_string_equal(toy->tags[1], "Children's");
    assert_string_equal(toy->tags[2], "Comedy");
    const recsys__eval_item *mis = recsys__eval_items_find(&it, "543");
    assert_string_equal(mis->title, "Mis\xc3\xa9rables, Les (1995)");
    assert_int_equal(mis->ntags, 2);
    assert_string_equal(mis->tags[1], "Musical");
    assert_null(recsys__eval_items_find(&it, "2"));
    recsys__eval_items_free(&it);

    /* errors */
    const char *bad_flag = "1|T|d||u|0|0|0|2|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n";
    assert_int_equal(recsys__eval_parse_items(mem, bad_flag, strlen(bad_flag), "u.item",
                                              RECSYS__EVAL_ML100K, genres, strlen(genres),
                                              "u.genre", &it),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(),
                           "u.item:1: field 9 (flag of genre 'Animation') is '2', not 0 or 1"));
    const char *short_line = "1|T|d\n";
    assert_int_equal(recsys__eval_parse_items(mem, short_line, strlen(short_line), "u.item",
                                              RECSYS__EVAL_ML100K, genres, strlen(genres),
                                              "u.genre", &it),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "u.item:1: 3 field(s), expected 24"));
    const char *few = "unknown|0\nAction|1\n";
    assert_int_equal(recsys__eval_parse_items(mem, items, strlen(items), "u.item",
                                              RECSYS__EVAL_ML100K, few, strlen(few), "u.genre",
                                              &it),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "u.genre: genre 2 is missing"));
    const char *twice = "unknown|0\nAction|0\n";
    assert_int_equal(recsys__eval_parse_items(mem, items, strlen(items), "u.item",
                                              RECSYS__EVAL_ML100K, twice, strlen(twice), "u.genre",
                                              &it),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "u.genre:2: genre index 0 is given twice"));
}

static void items_movies_csv(void **state)
{
    (void)state;
    const char *text = "movieId,title,genres\r\n"
                       "11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
                       "7789,\"11'09\"\"01 - September 11 (2002)\",Drama\r\n"
                       "2,Jumanji (1995),(no genres listed)\r\n";
    recsys__eval_items it;
    assert_int_equal(recsys__eval_parse_items(mem, text, strlen(text), "movies.csv",
                                              RECSYS__EVAL_MLLATEST, NULL, 0, NULL, &it),
                     RECSYS_OK);
    assert_int_equal(it.n, 3);
    const recsys__eval_item *a = recsys__eval_items_find(&it, "11");
    assert_string_equal(a->title, "American President, The (1995)");
    assert_int_equal(a->ntags, 3);
    assert_string_equal(a->tags[2], "Romance");
    assert_string_equal(recsys__eval_items_find(&it, "7789")->title,
                        "11'09\"01 - September 11 (2002)");
    assert_int_equal(recsys__eval_items_find(&it, "2")->ntags, 0);
    recsys__eval_items_free(&it);

    /* generic csv: named columns, tags optional; errors */
    const char *gen = "title,id\nCafé,x1\nTea,x2\n";
    assert_int_equal(recsys__eval_parse_items(mem, gen, strlen(gen), "items.csv", RECSYS__EVAL_CSV,
                                              NULL, 0, NULL, &it),
                     RECSYS_OK);
    assert_string_equal(recsys__eval_items_find(&it, "x1")->title, "Café");
    recsys__eval_items_free(&it);
    const char *dup = "id,title\n1,a\n1,b\n";
    assert_int_equal(recsys__eval_parse_items(mem, dup, strlen(dup), "items.csv", RECSYS__EVAL_CSV,
                                              NULL, 0, NULL, &it),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "items.csv: item id '1' occurs twice"));
    const char *latin = "id,title\n1,Caf\xe9\n";
    assert_int_equal(recsys__eval_parse_items(mem, latin, strlen(latin), "items.csv",
                                              RECSYS__EVAL_CSV, NULL, 0, NULL, &it),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "items.csv:2: field 2 (title) is not valid UTF-8"));
    const char *hdr = "movieId,title\n1,a\n";
    assert_int_equal(recsys__eval_parse_items(mem, hdr, strlen(hdr), "movies.csv",
                                              RECSYS__EVAL_MLLATEST, NULL, 0, NULL, &it),
                     RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "movies.csv:1: the header is not"));
    assert_int_equal(recsys__eval_read_items(mem, "/nonexistent/movies.csv", RECSYS__EVAL_MLLATEST,
                                             NULL, &it),
                     RECSYS_E_IO);
}

/* ------------------------------------------------------------------ beyond accuracy */

/* users 1..5, items 1..5 (indices 0..4), every event known (fewer than 5 per user):
 * U(1) = {1,2}, U(2) = {1,2,3}, U(3) = {1,3}, U(4) = {3,4}, U(5) = {4,5} */
static const char beyond_text[] = "1\t1\t5\t1\n1\t2\t5\t2\n1\t3\t5\t3\n"
                                  "2\t1\t5\t1\n2\t2\t5\t2\n"
                                  "3\t2\t5\t1\n3\t3\t5\t2\n3\t4\t5\t3\n"
                                  "4\t4\t5\t1\n4\t5\t5\t2\n"
                                  "5\t5\t5\t1\n";

static void beyond_metrics_hand_computed(void **state)
{
    (void)state;
    recsys__eval_data d = parse_ok(beyond_text, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL);
    recsys__eval_beyond b;
    /* 20 items: indices 5..19 have no user (pop 0, cosine 0 with everything) */
    assert_int_equal(recsys__eval_beyond_init(&b, mem, 20, &d.all, NULL), RECSYS_OK);
    assert_int_equal(b.nusers, 5);
    const uint32_t pop[6] = { 2, 3, 2, 2, 2, 0 };
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(b.pop[i], pop[i]);
    assert_int_equal(b.uoff[2] - b.uoff[1], 3); /* item 2: users 0, 1, 2 ascending */
    assert_int_equal(b.users[b.uoff[1]], 0);
    assert_int_equal(b.users[b.uoff[1] + 2], 2);

    /* user 1: [1 2 3]. cos(1,2) = 2/sqrt(6), cos(1,3) = 1/2, cos(2,3) = 2/sqrt(6):
     * ILD = (2.5 - 4/sqrt(6)) / 3 = 0.289002; novelty = (2 log2(5/2) + log2(5/3)) / 3;
     * ARP = 7/3. */
    const uint32_t la[3] = { 0, 1, 2 };
    assert_int_equal(recsys__eval_beyond_add(&b, 0, la, 3), RECSYS_OK);
    /* user 2: [1 2 3 6..16] (14 items). At 10: the 3 pairs above and 42 at distance 1,
     * novelty of an unseen item log2(5) (pop counted as 1), ARP 7/10. At 20 (L = 14): 88
     * pairs at distance 1 of 91, 11 unseen items, ARP 7/14. */
    uint32_t lb[14] = { 0, 1, 2 };
    for (uint32_t i = 3; i < 14; i++)
        lb[i] = i + 2;
    assert_int_equal(recsys__eval_beyond_add(&b, 1, lb, 14), RECSYS_OK);
    /* user 5: [5]: no ILD, novelty log2(5/2), ARP 2; user 4: an empty list, no value */
    const uint32_t lc[1] = { 4 };
    assert_int_equal(recsys__eval_beyond_add(&b, 4, lc, 1), RECSYS_OK);
    assert_int_equal(recsys__eval_beyond_add(&b, 3, NULL, 0), RECSYS_OK);

    /* bad lists add nothing */
    const uint32_t dup[3] = { 7, 3, 7 }, far[2] = { 1, 20 };
    assert_int_equal(recsys__eval_beyond_add(&b, 2, dup, 3), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "user 2: item 7 is listed twice"));
    assert_int_equal(recsys__eval_beyond_add(&b, 2, far, 2), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "item 20 at rank 2 is beyond the 20 items"));
    assert_int_equal(recsys__eval_beyond_add(&b, 5, la, 3), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "user 5 is beyond the 5 users"));

    recsys__eval_beyond_metrics m;
    recsys__eval_beyond_result(&b, &m);
    assert_int_equal(m.users, 4);
    assert_false(m.has_calibration);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(m.ild_users[k], 2);
        assert_int_equal(m.listed_users[k], 3);
        assert_int_equal(m.calibrated_users[k], 0);
        assert_float_equal(m.calibration_kl[k], 0, 0);
    }
    double s3 = 2.5 - 4 / sqrt(6.0), ild_a = s3 / 3;
    assert_float_equal(ild_a, 0.2890022794, 1e-9);
    assert_float_equal(m.ild[0], (ild_a + (s3 + 42) / 45) / 2, 1e-12);
    assert_float_equal(m.ild[1], (ild_a + (s3 + 88) / 91) / 2, 1e-12);
    double n3 = 2 * log2(2.5) + log2(5.0 / 3);
    assert_float_equal(m.novelty[0], (n3 / 3 + (n3 + 7 * log2(5.0)) / 10 + log2(2.5)) / 3, 1e-12);
    assert_float_equal(m.novelty[1], (n3 / 3 + (n3 + 11 * log2(5.0)) / 14 + log2(2.5)) / 3, 1e-12);
    assert_float_equal(m.novelty[0], 1.4707668448, 1e-9);
    assert_float_equal(m.arp[0], (7.0 / 3 + 0.7 + 2) / 3, 1e-12);
    assert_float_equal(m.arp[1], (7.0 / 3 + 0.5 + 2) / 3, 1e-12);
    recsys__eval_beyond_free(&b);
    recsys__eval_beyond_free(&b); /* twice is harmless */

    /* init refuses what it cannot index */
    assert_int_equal(recsys__eval_beyond_init(&b, mem, 4, &d.all, NULL), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "item 4 is beyond the 4 items"));
    assert_null(b.pop);
    assert_int_equal(recsys__eval_beyond_init(&b, mem, 5, NULL, NULL), RECSYS_E_INVALID_ARG);
    recsys__eval_data_free(&d);
}

static void calibration_hand_computed(void **state)
{
    (void)state;
    recsys__eval_data d = parse_ok(beyond_text, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL);
    /* genres x, y, z. Item 2 names x twice (counted once), item 5 has none, items 6..13 are
     * x, item 14 z; "99" is not in the metadata. */
    const char *meta = "id,title,tags\n1,A,x|y\n2,B,x|x\n3,C,z\n4,D,y|z\n5,E,\n6,F,x\n7,G,x\n"
                       "8,H,x\n9,I,x\n10,J,x\n11,K,x\n12,L,x\n13,M,x\n14,N,z\n";
    recsys__eval_items it;
    assert_int_equal(recsys__eval_parse_items(mem, meta, strlen(meta), "items.csv",
                                              RECSYS__EVAL_CSV, NULL, 0, NULL, &it),
                     RECSYS_OK);
    char *ids[15] = { "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
                      "99" };
    recsys__eval_genres g;
    assert_int_equal(recsys__eval_genres_build(mem, &it, ids, 15, &g), RECSYS_OK);
    recsys__eval_items_free(&it);
    assert_int_equal(g.ngenres, 3);
    assert_string_equal(g.name[0], "x");
    assert_string_equal(g.name[2], "z");
    const size_t want_off[16] = { 0, 2, 3, 4, 6, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15 };
    for (size_t i = 0; i <= 15; i++)
        assert_int_equal(g.off[i], want_off[i]);
    assert_int_equal(g.g[0], 0);
    assert_int_equal(g.g[1], 1);
    assert_int_equal(g.g[4], 1); /* item 4: y, z */
    assert_int_equal(g.g[14], 2);

    recsys__eval_beyond b;
    assert_int_equal(recsys__eval_beyond_init(&b, mem, 14, &d.all, &g), RECSYS_E_INVALID_ARG);
    assert_non_null(strstr(recsys_last_error(), "genres of 15 items for a catalog of 14"));
    assert_int_equal(recsys__eval_beyond_init(&b, mem, 15, &d.all, &g), RECSYS_OK);
    /* user 1 knows 1, 2, 3: p = (x 1/2+1, y 1/2, z 1) / 3 = (1/2, 1/6, 1/3).
     * List [4 5 6..13 14]: at 10, items 4 (y, z), 5 (none), 6..13 (x): 9 items with genres,
     * q = (8/9, 1/18, 1/18); at 20 item 14 (z) joins: q = (0.8, 0.05, 0.15).
     * KL(p || 0.99 q + 0.01 p) = 0.475301605289 and 0.225814485809. */
    uint32_t l1[11];
    for (uint32_t i = 0; i < 11; i++)
        l1[i] = 3 + i;
    assert_int_equal(recsys__eval_beyond_add(&b, 0, l1, 11), RECSYS_OK);
    recsys__eval_beyond_metrics m;
    recsys__eval_beyond_result(&b, &m);
    assert_true(m.has_calibration);
    assert_float_equal(m.calibration_kl[0], 0.475301605289, 1e-11);
    assert_float_equal(m.calibration_kl[1], 0.225814485809, 1e-11);
    /* user 2 knows 1, 2: p = (3/4, 1/4, 0); the list [5] has no genre: q = 0, q~ = 0.01 p,
     * KL = ln(100). User 5 knows only item 5 (no genre): no value. */
    const uint32_t l2[1] = { 4 }, l5[2] = { 0, 2 };
    assert_int_equal(recsys__eval_beyond_add(&b, 1, l2, 1), RECSYS_OK);
    assert_int_equal(recsys__eval_beyond_add(&b, 4, l5, 2), RECSYS_OK);
    recsys__eval_beyond_result(&b, &m);
    assert_int_equal(m.users, 3);
    assert_int_equal(m.calibrated_users[0], 2);
    assert_int_equal(m.calibrated_users[1], 2);
    assert_float_equal(m.calibration_kl[0], (0.475301605289 + log(100.0)) / 2, 1e-11);
    assert_float_equal(m.calibration_kl[1], (0.225814485809 + log(100.0)) / 2, 1e-11);
    /* the same list against the same history is perfectly calibrated only when q = p: a
     * list [1 2 3] for user 1 gives KL 0 */
    recsys__eval_beyond_free(&b);
    assert_int_equal(recsys__eval_beyond_init(&b, mem, 15, &d.all, &g), RECSYS_OK);
    const uint32_t same[3] = { 0, 1, 2 };
    assert_int_equal(recsys__eval_beyond_add(&b, 0, same, 3), RECSYS_OK);
    recsys__eval_beyond_result(&b, &m);
    assert_float_equal(m.calibration_kl[0], 0, 1e-15);
    recsys__eval_beyond_free(&b);
    recsys__eval_genres_free(&g);
    recsys__eval_genres_free(&g);
    recsys__eval_data_free(&d);
}

static void final_list_drops_and_completes(void **state)
{
    (void)state;
    uint8_t known[30] = { 0 };
    known[1] = known[3] = 1;
    /* a known item (1, 3), a repeat (5), ids the catalog lacks (UINT32_MAX, 40) */
    const uint32_t raw[8] = { 5, 1, UINT32_MAX, 5, 7, 40, 3, 2 };
    uint32_t out[RECSYS__EVAL_KMAX];
    size_t n = 0;
    recsys__eval_violations v = { 0, 0, 0 };
    assert_true(recsys__eval_final_list(raw, 8, 30, known, out, &n, &v));
    assert_int_equal(v.known, 2);
    assert_int_equal(v.repeated, 1);
    assert_int_equal(v.unknown, 2);
    assert_int_equal(n, 20);
    /* 5 7 2, then the candidates in item order: 0 4 6 8 9 10 ... 21 */
    const uint32_t want[20] = { 5, 7, 2, 0, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                                20, 21 };
    for (size_t i = 0; i < 20; i++)
        assert_int_equal(out[i], want[i]);
    /* counts add up; more than KMAX valid entries are cut; a repeat past the cut counts */
    uint32_t many[26];
    for (uint32_t i = 0; i < 25; i++)
        many[i] = 29 - i;
    many[25] = 29;
    assert_false(recsys__eval_final_list(many, 26, 30, NULL, out, &n, &v));
    assert_int_equal(n, 20);
    assert_int_equal(out[0], 29);
    assert_int_equal(out[19], 10);
    assert_int_equal(v.repeated, 2);
    assert_int_equal(v.known + v.unknown, 4);
    /* fewer candidates than KMAX: every one of them, no counting */
    uint8_t k4[4] = { 1, 0, 0, 0 };
    assert_true(recsys__eval_final_list(NULL, 0, 4, k4, out, &n, NULL));
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[2], 3);
    const uint32_t all3[3] = { 3, 2, 1 };
    assert_false(recsys__eval_final_list(all3, 3, 4, k4, out, &n, NULL));
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 3);
}

static void mostpop_beyond_on_hand_data(void **state)
{
    (void)state;
    /* mostpop_text: users 1 and 2 both get [3 5];
     * train pop(3) = 2, pop(5) = 0 over 4 users: ILD 1 (item 5 has no user), novelty
     * (log2(4/2) + log2(4/1)) / 2 = 1.5, ARP (2 + 0) / 2 = 1 */
    recsys__eval_data d = parse_ok(mostpop_text, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL);
    recsys__eval_part train, test;
    assert_int_equal(recsys__eval_split(mem, &d.all, &train, &test), RECSYS_OK);
    recsys__eval_metrics m, ref;
    recsys__eval_beyond_metrics bm;
    assert_int_equal(recsys__eval_mostpop_beyond(mem, d.items.n, &train, &test, NULL, &m, &bm),
                     RECSYS_OK);
    assert_int_equal(recsys__eval_mostpop(mem, d.items.n, &train, &test, &ref), RECSYS_OK);
    assert_memory_equal(&m, &ref, sizeof m);
    assert_int_equal(bm.users, 2);
    for (int k = 0; k < 2; k++) {
        assert_float_equal(bm.ild[k], 1.0, 1e-15);
        assert_float_equal(bm.novelty[k], 1.5, 1e-15);
        assert_float_equal(bm.arp[k], 1.0, 1e-15);
    }
    assert_false(bm.has_calibration);
    recsys__eval_part_free(mem, &train);
    recsys__eval_part_free(mem, &test);
    recsys__eval_data_free(&d);
}

/* A dense reference: the item x user matrix of known, every cosine by a full scan. */
typedef struct naive {
    const recsys__eval_part *known;
    const recsys__eval_genres *g;
    size_t nitems, nusers, active;
    uint8_t *M;  /* nitems x nusers */
    double *pop; /* nitems: column sums of M */
    double ild[2], nov[2], arp[2], kl[2];
    size_t ild_n[2], n[2], kl_n[2];
} naive;

static void naive_init(naive *r, const recsys__eval_part *known, size_t nitems,
                       const recsys__eval_genres *g)
{
    memset(r, 0, sizeof *r);
    r->known = known;
    r->g = g;
    r->nitems = nitems;
    r->nusers = known->nusers;
    r->M = calloc(nitems * r->nusers + 1, 1);
    assert_non_null(r->M);
    for (size_t u = 0; u < known->nusers; u++) {
        r->active += known->off[u + 1] > known->off[u];
        for (size_t e = known->off[u]; e < known->off[u + 1]; e++)
            r->M[known->ev[e].item * r->nusers + u] = 1;
    }
    r->pop = calloc(nitems + 1, sizeof *r->pop);
    assert_non_null(r->pop);
    for (size_t i = 0; i < nitems; i++)
        for (size_t u = 0; u < r->nusers; u++)
            r->pop[i] += r->M[i * r->nusers + u];
}

static void naive_free(naive *r)
{
    free(r->M);
    free(r->pop);
}

static double naive_pop(const naive *r, uint32_t i)
{
    return r->pop[i];
}

static void naive_dist(const naive *r, const uint32_t *l, size_t n, double *d)
{
    memset(d, 0, r->g->ngenres * sizeof *d);
    double items = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = r->g->off[l[i] + 1] - r->g->off[l[i]];
        for (size_t k = r->g->off[l[i]]; k < r->g->off[l[i] + 1]; k++)
            d[r->g->g[k]] += 1.0 / (double)c;
        items += c > 0;
    }
    for (size_t j = 0; items > 0 && j < r->g->ngenres; j++)
        d[j] /= items;
}

static void naive_add(naive *r, uint32_t user, const uint32_t *list, size_t n)
{
    for (int k = 0; k < 2; k++) {
        size_t l = n < recsys__eval_k[k] ? n : recsys__eval_k[k];
        if (l >= 2) {
            double s = 0;
            for (size_t a = 0; a < l; a++)
                for (size_t b = a + 1; b < l; b++) {
                    double dot = 0;
                    for (size_t u = 0; u < r->nusers; u++)
                        dot += r->M[list[a] * r->nusers + u] * r->M[list[b] * r->nusers + u];
                    double pa = naive_pop(r, list[a]), pb = naive_pop(r, list[b]);
                    s += 1 - (pa > 0 && pb > 0 ? dot / sqrt(pa * pb) : 0);
                }
            r->ild[k] += s / ((double)l * (double)(l - 1) / 2);
            r->ild_n[k]++;
        }
        if (l == 0)
            continue;
        double nov = 0, pop = 0;
        for (size_t i = 0; i < l; i++) {
            double c = naive_pop(r, list[i]);
            pop += c;
            nov += log2((double)r->active / (c > 0 ? c : 1));
        }
        r->nov[k] += nov / (double)l;
        r->arp[k] += pop / (double)l;
        r->n[k]++;
        if (!r->g)
            continue;
        size_t nh = r->known->off[user + 1] - r->known->off[user];
        uint32_t *h = malloc((nh + 1) * sizeof *h);
        assert_non_null(h);
        for (size_t i = 0; i < nh; i++)
            h[i] = r->known->ev[r->known->off[user] + i].item;
        double p[64], q[64], kl = 0, psum = 0;
        assert_true(r->g->ngenres <= 64);
        naive_dist(r, h, nh, p);
        naive_dist(r, list, l, q);
        free(h);
        for (size_t j = 0; j < r->g->ngenres; j++) {
            psum += p[j];
            if (p[j] > 0)
                kl += p[j] * log(p[j] / (0.99 * q[j] + 0.01 * p[j]));
        }
        if (psum > 0) {
            r->kl[k] += kl;
            r->kl_n[k]++;
        }
    }
}

static void naive_check(const naive *r, const recsys__eval_beyond_metrics *m)
{
    for (int k = 0; k < 2; k++) {
        assert_int_equal(m->ild_users[k], r->ild_n[k]);
        assert_int_equal(m->listed_users[k], r->n[k]);
        assert_float_equal(m->ild[k], r->ild_n[k] ? r->ild[k] / (double)r->ild_n[k] : 0, 1e-9);
        assert_float_equal(m->novelty[k], r->n[k] ? r->nov[k] / (double)r->n[k] : 0, 1e-9);
        assert_float_equal(m->arp[k], r->n[k] ? r->arp[k] / (double)r->n[k] : 0, 1e-9);
        if (r->g) {
            assert_int_equal(m->calibrated_users[k], r->kl_n[k]);
            assert_float_equal(m->calibration_kl[k], r->kl_n[k] ? r->kl[k] / (double)r->kl_n[k] : 0,
                               1e-9);
        }
    }
}

static uint32_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void beyond_matches_a_dense_reference(void **state)
{
    (void)state;
    uint64_t seed = 12345;
    char *text = malloc(1 << 16), *meta = malloc(1 << 14);
    assert_non_null(text);
    assert_non_null(meta);
    size_t w = 0, mw = 0;
    for (int u = 1; u <= 30; u++) {
        int n = (int)(lcg(&seed) % 16);
        for (int e = 0; e < n; e++)
            w += (size_t)snprintf(text + w, (1 << 16) - w, "%d\t%u\t5\t%d\n", u,
                                  1 + lcg(&seed) % 40, e);
    }
    text[w] = '\0';
    recsys__eval_data d = parse_ok(text, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL);
    /* the catalog plus 3 items no one has; random tags a..f, some items without, "y1" not
     * in the metadata */
    size_t nitems = d.items.n + 3;
    char **ids = calloc(nitems, sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < d.items.n; i++)
        ids[i] = d.items.name[i];
    ids[d.items.n] = "x1";
    ids[d.items.n + 1] = "x2";
    ids[d.items.n + 2] = "y1";
    mw += (size_t)snprintf(meta + mw, (1 << 14) - mw, "id,title,tags\n");
    for (size_t i = 0; i + 1 < nitems; i++) {
        mw += (size_t)snprintf(meta + mw, (1 << 14) - mw, "%s,t,", ids[i]);
        int nt = (int)(lcg(&seed) % 4);
        for (int t = 0; t < nt; t++)
            mw += (size_t)snprintf(meta + mw, (1 << 14) - mw, "%s%c", t ? "|" : "",
                                   'a' + (int)(lcg(&seed) % 6));
        mw += (size_t)snprintf(meta + mw, (1 << 14) - mw, "\n");
    }
    recsys__eval_items it;
    assert_int_equal(recsys__eval_parse_items(mem, meta, mw, "m.csv", RECSYS__EVAL_CSV, NULL, 0,
                                              NULL, &it),
                     RECSYS_OK);
    recsys__eval_genres g;
    assert_int_equal(recsys__eval_genres_build(mem, &it, ids, nitems, &g), RECSYS_OK);
    for (int with_genres = 0; with_genres < 2; with_genres++) {
        recsys__eval_beyond b;
        naive r;
        const recsys__eval_genres *gp = with_genres ? &g : NULL;
        assert_int_equal(recsys__eval_beyond_init(&b, mem, nitems, &d.all, gp), RECSYS_OK);
        naive_init(&r, &d.all, nitems, gp);
        for (uint32_t u = 0; u < d.users.n; u++) {
            uint32_t list[RECSYS__EVAL_KMAX + 5];
            size_t n = lcg(&seed) % (RECSYS__EVAL_KMAX + 5), got = 0;
            while (got < n) { /* distinct random items */
                uint32_t x = lcg(&seed) % (uint32_t)nitems;
                bool again = false;
                for (size_t j = 0; j < got; j++)
                    again |= list[j] == x;
                if (!again)
                    list[got++] = x;
            }
            assert_int_equal(recsys__eval_beyond_add(&b, u, list, n), RECSYS_OK);
            naive_add(&r, u, list, n < RECSYS__EVAL_KMAX ? n : RECSYS__EVAL_KMAX);
        }
        recsys__eval_beyond_metrics m;
        recsys__eval_beyond_result(&b, &m);
        assert_int_equal(m.users, d.users.n);
        naive_check(&r, &m);
        naive_free(&r);
        recsys__eval_beyond_free(&b);
    }
    recsys__eval_genres_free(&g);
    recsys__eval_items_free(&it);
    free(ids);
    free(text);
    free(meta);
    recsys__eval_data_free(&d);
}

static void beyond_out_of_memory(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    recsys__mem m;
    assert_int_equal(recsys__mem_init(&m, &rec), RECSYS_OK);
    recsys__eval_data d = parse_ok(beyond_text, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL);
    const char *meta = "id,title,tags\n1,A,x|y\n2,B,x\n3,C,z\n4,D,y|z\n";
    recsys__eval_items it;
    assert_int_equal(recsys__eval_parse_items(mem, meta, strlen(meta), "m.csv", RECSYS__EVAL_CSV,
                                              NULL, 0, NULL, &it),
                     RECSYS_OK);
    const uint32_t list[3] = { 3, 4, 0 };
    for (long n = 0;; n++) {
        a.fail_at = n;
        a.count = 0;
        recsys__eval_genres g;
        recsys__eval_beyond b;
        recsys__eval_beyond_metrics bm;
        recsys__eval_metrics mm;
        recsys_status st = recsys__eval_genres_build(&m, &it, d.items.name, d.items.n, &g);
        if (st == RECSYS_OK) {
            st = recsys__eval_beyond_init(&b, &m, d.items.n, &d.all, &g);
            if (st == RECSYS_OK) {
                st = recsys__eval_beyond_add(&b, 1, list, 3);
                recsys__eval_beyond_result(&b, &bm);
                recsys__eval_beyond_free(&b);
            }
            if (st == RECSYS_OK)
                st = recsys__eval_mostpop_beyond(&m, d.items.n, &d.all, &d.all, &g, &mm, &bm);
            recsys__eval_genres_free(&g);
        } else {
            assert_null(g.off);
        }
        assert_int_equal(a.live, 0);
        if (st == RECSYS_OK) {
            assert_true(n > 8);
            assert_int_equal(bm.users, 5);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_true(recsys_last_error()[0] != '\0');
        assert_true(n < 10000);
    }
    recsys__eval_items_free(&it);
    recsys__eval_data_free(&d);
}

/* ------------------------------------------------------------------ out of memory */

static void out_of_memory_fails_cleanly(void **state)
{
    (void)state;
    tk_alloc a;
    recsys_allocator rec;
    tk_alloc_init(&a, &rec);
    recsys__mem m;
    assert_int_equal(recsys__mem_init(&m, &rec), RECSYS_OK);
    const char *csv = "user,item,ts\n1,a,3\n1,b,2\n2,a,1\n1,c,5\n1,d,6\n1,e,7\n";
    const char *movies = "movieId,title,genres\n1,A,x|y\n2,B,z\n";
    for (long n = 0;; n++) {
        a.fail_at = n;
        a.count = 0;
        recsys__eval_data d;
        recsys__eval_part tr, te;
        recsys__eval_metrics mm;
        recsys__eval_items it;
        recsys_status st = recsys__eval_parse(&m, csv, strlen(csv), "oom.csv", RECSYS__EVAL_CSV,
                                              RECSYS__EVAL_ALL, &d);
        if (st == RECSYS_OK) {
            st = recsys__eval_split(&m, &d.all, &tr, &te);
            if (st == RECSYS_OK) {
                st = recsys__eval_mostpop(&m, d.items.n, &tr, &te, &mm);
                recsys__eval_part_free(&m, &tr);
                recsys__eval_part_free(&m, &te);
            }
            recsys__eval_data_free(&d);
        }
        if (st == RECSYS_OK) {
            st = recsys__eval_parse_items(&m, movies, strlen(movies), "m.csv",
                                          RECSYS__EVAL_MLLATEST, NULL, 0, NULL, &it);
            if (st == RECSYS_OK)
                recsys__eval_items_free(&it);
        }
        assert_int_equal(a.live, 0);
        if (st == RECSYS_OK) {
            assert_true(n > 5);
            assert_int_equal(mm.users, 1);
            break;
        }
        assert_int_equal(st, RECSYS_E_NOMEM);
        assert_true(recsys_last_error()[0] != '\0');
        assert_true(n < 10000);
    }
}

/* ------------------------------------------------------------------ SHA-256 */

static void sha256_standard_vectors(void **state)
{
    (void)state;
    sha256_ctx c;
    char hex[65];
    sha256_init(&c);
    sha256_final_hex(&c, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_init(&c);
    sha256_update(&c, "abc", 3);
    sha256_final_hex(&c, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* the two-block vector, fed in uneven pieces */
    const char *s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_init(&c);
    for (size_t i = 0; i < strlen(s); i += 7)
        sha256_update(&c, s + i, strlen(s) - i < 7 ? strlen(s) - i : 7);
    sha256_final_hex(&c, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* ------------------------------------------------------------------ the real data */

static const char *data_dir(void)
{
    const char *d = getenv("RECSYS_DATA_DIR");
    return d && d[0] ? d : NULL;
}

static int cmp_pair(const void *a, const void *b)
{
    const recsys__eval_event *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* SHA-256 of "user_id TAB item_id LF" lines sorted by user id, then item id (section 3). */
static void part_sha256(const recsys__eval_data *d, const recsys__eval_part *p, char hex[65])
{
    recsys__eval_event *v = malloc((p->n ? p->n : 1) * sizeof *v);
    assert_non_null(v);
    memcpy(v, p->ev, p->n * sizeof *v);
    qsort(v, p->n, sizeof *v, cmp_pair); /* dense indices are in numeric id order */
    sha256_ctx c;
    sha256_init(&c);
    for (size_t i = 0; i < p->n; i++) {
        char line[600];
        int n = snprintf(line, sizeof line, "%s\t%s\n", d->users.name[v[i].user],
                         d->items.name[v[i].item]);
        sha256_update(&c, line, (size_t)n);
    }
    sha256_final_hex(&c, hex);
    free(v);
}

typedef struct expect_split {
    int variant;
    size_t users, items, train, test, test_users, fit, val, val_users;
    const char *sha_train, *sha_test;
    double mean_test;
} expect_split;

static void check_ml100k(const expect_split *x)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ml-100k/u.data", data_dir());
    recsys__eval_data d;
    if (recsys__eval_read(mem, path, RECSYS__EVAL_ML100K, x->variant, &d) != RECSYS_OK)
        fail_msg("%s", recsys_last_error());
    assert_int_equal(d.records, 100000);
    assert_int_equal(d.duplicates, 0);
    assert_int_equal(d.users.n, x->users);
    assert_int_equal(d.items.n, x->items);
    recsys__eval_part train, test, fit, val;
    assert_int_equal(recsys__eval_split(mem, &d.all, &train, &test), RECSYS_OK);
    assert_int_equal(train.n, x->train);
    assert_int_equal(test.n, x->test);
    assert_int_equal(recsys__eval_part_users(&test), x->test_users);
    assert_float_equal((double)test.n / (double)x->test_users, x->mean_test, 0.005);
    char hex[65];
    part_sha256(&d, &train, hex);
    assert_string_equal(hex, x->sha_train);
    part_sha256(&d, &test, hex);
    assert_string_equal(hex, x->sha_test);
    assert_int_equal(recsys__eval_split(mem, &train, &fit, &val), RECSYS_OK);
    assert_int_equal(fit.n, x->fit);
    assert_int_equal(val.n, x->val);
    assert_int_equal(recsys__eval_part_users(&val), x->val_users);
    recsys__eval_part_free(mem, &train);
    recsys__eval_part_free(mem, &test);
    recsys__eval_part_free(mem, &fit);
    recsys__eval_part_free(mem, &val);
    recsys__eval_data_free(&d);
}

static void ml100k_split_sizes_and_checksums(void **state)
{
    (void)state;
    if (!data_dir())
        skip();
    const expect_split all = {
        RECSYS__EVAL_ALL, 943, 1682, 80367, 19633, 943, 64660, 15707, 943,
        "3c676210d6d2facbd3f9fd9764d3cba922ec5e183486d9dc090b9381050cd107",
        "7fcbe2dc00d694c327c0560b8b7b785427c9a1f63304f82a2af8dcbb3ebbc686", 20.82,
    };
    const expect_split ge4 = {
        RECSYS__EVAL_GE4, 942, 1447, 44679, 10696, 938, 36129, 8550, 934,
        "591d7c7da104f334d0e6af517ce9bbb874315735179ec0eee9bb62e86b5a55f7",
        "b10b244add84eadc71e28c0d583ea6189983c5e660b392bc02fff569bdc31acb", 11.40,
    };
    check_ml100k(&all);
    check_ml100k(&ge4);
}

static void ml_latest_small_sizes(void **state)
{
    (void)state;
    if (!data_dir())
        skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/ml-latest-small/ratings.csv", data_dir());
    const struct {
        int variant;
        size_t train, test, users, items;
    } want[2] = { { RECSYS__EVAL_ALL, 80896, 19940, 610, 9724 },
                  { RECSYS__EVAL_GE4, 39105, 9475, 603, 6298 } };
    for (int v = 0; v < 2; v++) {
        recsys__eval_data d;
        if (recsys__eval_read(mem, path, RECSYS__EVAL_MLLATEST, want[v].variant, &d) != RECSYS_OK)
            fail_msg("%s", recsys_last_error());
        assert_int_equal(d.records, 100836);
        assert_int_equal(d.items.n, want[v].items);
        recsys__eval_part train, test;
        assert_int_equal(recsys__eval_split(mem, &d.all, &train, &test), RECSYS_OK);
        assert_int_equal(train.n, want[v].train);
        assert_int_equal(test.n, want[v].test);
        assert_int_equal(recsys__eval_part_users(&test), want[v].users);
        recsys__eval_part_free(mem, &train);
        recsys__eval_part_free(mem, &test);
        recsys__eval_data_free(&d);
        /* the same file through the generic csv reader (columns found by name) */
        if (recsys__eval_read(mem, path, RECSYS__EVAL_CSV, want[v].variant, &d) != RECSYS_OK)
            fail_msg("%s", recsys_last_error());
        assert_true(d.items.numeric);
        assert_int_equal(d.items.n, want[v].items);
        assert_int_equal(recsys__eval_split(mem, &d.all, &train, &test), RECSYS_OK);
        assert_int_equal(test.n, want[v].test);
        recsys__eval_part_free(mem, &train);
        recsys__eval_part_free(mem, &test);
        recsys__eval_data_free(&d);
    }
}

static void mostpop_conformance(void **state)
{
    (void)state;
    if (!data_dir())
        skip();
    /* section 7: ndcg, recall, precision, hit, map, coverage at 10, then at 20 */
    static const double want[2][12] = {
        { 0.111115, 0.111342, 0.099470, 0.518558, 0.051701, 0.042806,
          0.113164, 0.121923, 0.084199, 0.643690, 0.043140, 0.068966 },
        { 0.073872, 0.078326, 0.057249, 0.357143, 0.034304, 0.035936,
          0.086583, 0.111972, 0.051919, 0.498934, 0.033418, 0.059433 },
    };
    static const double want_val[2] = { 0.083343, 0.073651 };
    char path[4096];
    snprintf(path, sizeof path, "%s/ml-100k/u.data", data_dir());
    for (int v = 0; v < 2; v++) {
        recsys__eval_data d;
        if (recsys__eval_read(mem, path, RECSYS__EVAL_ML100K, v, &d) != RECSYS_OK)
            fail_msg("%s", recsys_last_error());
        recsys__eval_part train, test, fit, val;
        assert_int_equal(recsys__eval_split(mem, &d.all, &train, &test), RECSYS_OK);
        assert_int_equal(recsys__eval_split(mem, &train, &fit, &val), RECSYS_OK);
        recsys__eval_metrics m;
        assert_int_equal(recsys__eval_mostpop(mem, d.items.n, &train, &test, &m), RECSYS_OK);
        assert_int_equal(m.users, v ? 938 : 943);
        for (int k = 0; k < 2; k++) {
            const double got[6] = { m.ndcg[k], m.recall[k], m.precision[k],
                                    m.hit[k],  m.map[k],    m.coverage[k] };
            for (int j = 0; j < 6; j++)
                if (fabs(got[j] - want[v][6 * k + j]) > 1e-6)
                    fail_msg("variant %d metric %d at K=%d: %.7f, expected %.6f", v, j,
                             k ? 20 : 10, got[j], want[v][6 * k + j]);
        }
        assert_int_equal(recsys__eval_mostpop(mem, d.items.n, &fit, &val, &m), RECSYS_OK);
        assert_float_equal(m.ndcg[0], want_val[v], 1e-6);
        recsys__eval_part_free(mem, &train);
        recsys__eval_part_free(mem, &test);
        recsys__eval_part_free(mem, &fit);
        recsys__eval_part_free(mem, &val);
        recsys__eval_data_free(&d);
    }
}

static void movielens_item_metadata(void **state)
{
    (void)state;
    if (!data_dir())
        skip();
    char path[4096], gpath[4096];
    snprintf(path, sizeof path, "%s/ml-100k/u.item", data_dir());
    snprintf(gpath, sizeof gpath, "%s/ml-100k/u.genre", data_dir());
    recsys__eval_items it;
    if (recsys__eval_read_items(mem, path, RECSYS__EVAL_ML100K, gpath, &it) != RECSYS_OK)
        fail_msg("%s", recsys_last_error());
    assert_int_equal(it.n, 1682);
    assert_string_equal(recsys__eval_items_find(&it, "543")->title,
                        "Mis\xc3\xa9rables, Les (1995)");
    assert_string_equal(recsys__eval_items_find(&it, "1")->tags[0], "Animation");
    recsys__eval_items_free(&it);
    snprintf(path, sizeof path, "%s/ml-latest-small/movies.csv", data_dir());
    if (recsys__eval_read_items(mem, path, RECSYS__EVAL_MLLATEST, NULL, &it) != RECSYS_OK)
        fail_msg("%s", recsys_last_error());
    assert_int_equal(it.n, 9742);
    assert_string_equal(recsys__eval_items_find(&it, "11")->title,
                        "American President, The (1995)");
    recsys__eval_items_free(&it);
}

/* The sparse metrics of MostPopular's lists on ML-100k (variant ALL, genres of u.item) equal
 * the dense reference's. */
static void movielens_beyond_matches_a_dense_reference(void **state)
{
    (void)state;
    if (!data_dir())
        skip();
    char path[4096], ipath[4096], gpath[4096];
    snprintf(path, sizeof path, "%s/ml-100k/u.data", data_dir());
    snprintf(ipath, sizeof ipath, "%s/ml-100k/u.item", data_dir());
    snprintf(gpath, sizeof gpath, "%s/ml-100k/u.genre", data_dir());
    recsys__eval_data d;
    recsys__eval_items it;
    if (recsys__eval_read(mem, path, RECSYS__EVAL_ML100K, RECSYS__EVAL_ALL, &d) != RECSYS_OK ||
        recsys__eval_read_items(mem, ipath, RECSYS__EVAL_ML100K, gpath, &it) != RECSYS_OK)
        fail_msg("%s", recsys_last_error());
    recsys__eval_genres g;
    assert_int_equal(recsys__eval_genres_build(mem, &it, d.items.name, d.items.n, &g), RECSYS_OK);
    assert_int_equal(g.ngenres, 19);
    recsys__eval_part train, test;
    assert_int_equal(recsys__eval_split(mem, &d.all, &train, &test), RECSYS_OK);
    recsys__eval_metrics m;
    recsys__eval_beyond_metrics bm;
    assert_int_equal(recsys__eval_mostpop_beyond(mem, d.items.n, &train, &test, &g, &m, &bm),
                     RECSYS_OK);
    assert_float_equal(m.ndcg[0], 0.111115, 1e-6); /* the same lists as section 7 */
    assert_int_equal(bm.users, 943);
    double *score;
    assert_int_equal(recsys__eval_mostpop_scores(mem, d.items.n, &train, &score), RECSYS_OK);
    naive r;
    naive_init(&r, &train, d.items.n, &g);
    uint8_t *known = calloc(d.items.n, 1);
    assert_non_null(known);
    for (uint32_t u = 0; u < test.nusers; u++) {
        if (test.off[u + 1] == test.off[u])
            continue;
        uint32_t list[RECSYS__EVAL_KMAX];
        size_t n;
        recsys__eval_part_mark(&train, u, known, 1);
        recsys__eval_topk(score, d.items.n, known, RECSYS__EVAL_KMAX, list, &n);
        recsys__eval_part_mark(&train, u, known, 0);
        naive_add(&r, u, list, n);
    }
    naive_check(&r, &bm);
    /* the most popular items are similar, familiar and over-represented */
    assert_true(bm.ild[0] > 0.3 && bm.ild[0] < 0.8);
    assert_true(bm.arp[0] > 200);
    assert_true(bm.calibration_kl[0] > 0);
    naive_free(&r);
    free(known);
    recsys__free(mem, score);
    recsys__eval_part_free(mem, &train);
    recsys__eval_part_free(mem, &test);
    recsys__eval_genres_free(&g);
    recsys__eval_items_free(&it);
    recsys__eval_data_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_hand_computed),
        cmocka_unit_test(accumulator_means_and_coverage),
        cmocka_unit_test(topk_breaks_ties_by_item),
        cmocka_unit_test(split_per_user_temporal),
        cmocka_unit_test(ge4_discards_low_ratings),
        cmocka_unit_test(duplicates_keep_the_first_occurrence),
        cmocka_unit_test(csv_string_ids_and_line_timestamps),
        cmocka_unit_test(bad_input_is_reported_with_file_and_line),
        cmocka_unit_test(mostpop_ranks_by_distinct_train_users),
        cmocka_unit_test(run_pads_short_lists_and_refuses_known_items),
        cmocka_unit_test(items_ml100k_latin1_and_genres),
        cmocka_unit_test(items_movies_csv),
        cmocka_unit_test(beyond_metrics_hand_computed),
        cmocka_unit_test(calibration_hand_computed),
        cmocka_unit_test(final_list_drops_and_completes),
        cmocka_unit_test(mostpop_beyond_on_hand_data),
        cmocka_unit_test(beyond_matches_a_dense_reference),
        cmocka_unit_test(beyond_out_of_memory),
        cmocka_unit_test(out_of_memory_fails_cleanly),
        cmocka_unit_test(sha256_standard_vectors),
        cmocka_unit_test(ml100k_split_sizes_and_checksums),
        cmocka_unit_test(ml_latest_small_sizes),
        cmocka_unit_test(mostpop_conformance),
        cmocka_unit_test(movielens_item_metadata),
        cmocka_unit_test(movielens_beyond_matches_a_dense_reference),
    };
    cmocka_set_test_filter(getenv("RECSYS_TEST_FILTER"));
    return cmocka_run_group_tests_name("eval", tests, NULL, NULL);
}
