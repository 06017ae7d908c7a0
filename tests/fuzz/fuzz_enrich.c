/* fuzz_enrich.c - libFuzzer target: the input is an LLM's reply to an enrichment call
 * (lib/llm/enrich.h). The first byte picks how many items were asked (1..16) and the limits;
 * the rest goes to recsys__enrich_parse. Every entry it accepts is then checked against a
 * small catalog's vocabulary (recsys__enrich_build), written as a cache record and read back,
 * which must give the same generated part, and the item must serialise and parse again.
 * Never crashes, never leaks (ASan), aborts on a broken round trip or an out-of-range state. */
#include "recsys.h"
#include "core/error.h"
#include "llm/enrich.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const recsys__mem *M = &recsys__mem_default;

static void check(bool ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = 1 + (data[0] & 15);
    recsys__catalog c;
    recsys__catalog_init(&c, M);
    static const char *const base =
        "[{\"item_id\":\"i1\",\"title\":\"Aurora\",\"category\":\"laptop\",\"tags\":[\"gpu\","
        "\"Gaming\"],\"attributes\":{\"price\":10,\"touch\":true,\"color\":\"red\"}},"
        "{\"item_id\":\"i2\",\"tags\":[\"anime\"]}]";
    recsys__items_vec v = { 0 };
    check(recsys__json_parse_items(M, base, strlen(base), 1 << 20, &v) == RECSYS_OK);
    for (size_t i = 0; i < v.n; i++) {
        recsys_item *old = NULL;
        check(recsys__catalog_put(&c, v.v[i], &old) == RECSYS_OK && !old);
        v.v[i] = NULL;
    }
    recsys__items_vec_free(M, &v);
    recsys__enrich_cfg cfg;
    const char *attrs = (data[0] & 16) ? "color:str,size:num,flag" : "";
    check(recsys__enrich_cfg_build(M, &c, attrs, (data[0] & 32) ? 3 : 8,
                                   (data[0] & 64) ? 0 : 200, (data[0] & 128) != 0, &cfg) ==
          RECSYS_OK);

    recsys__enrich_reply rp;
    recsys_status st = recsys__enrich_parse(M, (const char *)data + 1, size - 1, n, &cfg, &rp);
    check(st == RECSYS_OK || st == RECSYS_E_INVALID_ARG);
    check(rp.n == n);
    const recsys_item *cur = recsys__catalog_get(&c, recsys__catalog_find(&c, "i1"));
    for (size_t i = 0; i < n; i++) {
        check(rp.state[i] <= RECSYS__ENRICH_INVALID);
        check((rp.state[i] == RECSYS__ENRICH_OK) == (rp.entry[i] != NULL));
        if (!rp.entry[i])
            continue;
        check(st == RECSYS_OK);
        const recsys__generated *g = &rp.entry[i]->gen;
        check(g->ntags <= cfg.max_tags && strlen(g->summary) <= cfg.summary_max);
        recsys_item *built = NULL;
        uint64_t dropped = 0;
        check(recsys__enrich_build(M, &c, &cfg, cur, g, "fuzz", &built, &dropped) == RECSYS_OK);
        check(built->gen.ntags + built->gen.nattrs + dropped <=
              g->ntags + g->nattrs + 1 /* a summary */);
        /* without new tags, every tag kept is a catalog tag, and none is the item's own */
        for (uint32_t t = 0; t < built->gen.ntags; t++) {
            const char *tag = built->gen.tags[t];
            char buf[2 + RECSYS__ENRICH_TAG_MAX + 1];
            check(strlen(tag) <= RECSYS__ENRICH_TAG_MAX);
            snprintf(buf, sizeof buf, "t:%s", tag);
            check(cfg.new_tags ||
                  recsys__ids_find(&c.facets.ids, buf, strlen(buf)) != RECSYS_IDS_NONE);
            check(!recsys__item_has_tag(cur, tag));
        }
        /* every attribute kept is allowed with its type */
        for (uint32_t a = 0; a < built->gen.nattrs; a++) {
            bool ok = false;
            for (size_t r = 0; r < cfg.nattrs; r++)
                ok |= !strcmp(cfg.attrs[r].name, built->gen.attrs[a].name) &&
                      (cfg.attrs[r].types & (1u << built->gen.attrs[a].type));
            check(ok);
        }
        char *rec = NULL;
        size_t rlen = 0;
        check(recsys__enrich_record_encode(M, 0x1234abcdULL, built, &rec, &rlen) == RECSYS_OK);
        uint64_t h = 0;
        recsys_item *back = NULL;
        check(recsys__enrich_record_decode(M, rec, rlen, "i1", &h, &back) == RECSYS_OK);
        check(h == 0x1234abcdULL && recsys__enrich_gen_equal(&back->gen, &built->gen));
        recsys__item_free(M, back);
        recsys__free(M, rec);
        /* the built item's JSON reads back as the same item */
        char *json = NULL;
        size_t jlen = 0;
        check(recsys__json_item(M, built, false, &json, &jlen) == RECSYS_OK);
        recsys__items_vec w = { 0 };
        check(recsys__json_parse_items(M, json, jlen, 1 << 20, &w) == RECSYS_OK && w.n == 1);
        check(recsys__enrich_gen_equal(&w.v[0]->gen, &built->gen));
        recsys__items_vec_free(M, &w);
        recsys__free(M, json);
        recsys__item_free(M, built);
    }
    recsys__enrich_reply_free(M, &rp);
    recsys__enrich_cfg_free(M, &cfg);
    recsys__catalog_free(&c);
    return 0;
}
