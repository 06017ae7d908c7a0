/*
 * shopping_chat.c - the design card's conversational recommendation, end to end:
 *
 *   User:      Recommend a laptop for AI work under $1500.
 *   Assistant: (asks about GPU, battery life or portability)
 *   User:      (answers)                      -> the list narrows
 *
 * The library reads each message as constraints (rules over the catalog's own facets; the
 * LLM only when they cannot), picks each clarifying question by expected information gain
 * over the candidates left, and recommends under the accumulated constraints through the
 * normal pipeline. The dialogue runs twice: with a SCRIPTED LLM (a recsys_llm_vtable in this
 * file that answers from a fixed script - a stand-in for a real model, clearly not one) that
 * phrases the questions and reads one answer the rules cannot, then with no LLM at all
 * (template questions, rules only).
 *
 * Usage: shopping_chat [catalog.json]      (default data/laptops.json)
 * Reproducible: a fixed clock, no randomness.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recsys.h"

static json_t *catalog; /* the file, parsed, for printing the items' facts */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            *len = fread(buf, 1, (size_t)n, f);
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static json_t *item_json(const char *id)
{
    size_t i;
    json_t *it;
    json_array_foreach(catalog, i, it) {
        const char *s = json_string_value(json_object_get(it, "item_id"));
        if (s && strcmp(s, id) == 0)
            return it;
    }
    return NULL;
}

/* ------------------------------------------------------------ the SCRIPTED LLM */

/* SCRIPTED LLM: not a model. It answers the library's prompts from a fixed script, the way a
 * host's transport would answer through recsys_llm_reply_set_text(). It only looks for the
 * facet the prompt is about (clarify) or for the one shopper answer the rules cannot read
 * (intent); anything else gets an empty constraint object. */
static int scripted_calls;

static recsys_status scripted_complete(void *ctx, const recsys_llm_call *call,
                                       recsys_llm_reply *reply)
{
    (void)ctx;
    scripted_calls++;
    const char *prompt = recsys_llm_call_prompt(call);
    const char *text = "{}";
    if (recsys_llm_call_task(call) == RECSYS_LLM_CLARIFY) {
        if (strstr(prompt, "\"name\":\"dedicated_gpu\""))
            text = "{\"question\":\"For AI work the GPU matters most: do you need a dedicated "
                   "GPU, or is integrated graphics enough?\"}";
        else if (strstr(prompt, "\"name\":\"battery_hours\""))
            text = "{\"question\":\"How long should it last on battery away from a charger?\"}";
        else if (strstr(prompt, "\"name\":\"weight_kg\""))
            text = "{\"question\":\"How portable does it need to be - will you carry it around "
                   "a lot?\"}";
        else
            text = "{\"question\":\"Could you tell me a bit more about what you need?\"}";
    } else if (recsys_llm_call_task(call) == RECSYS_LLM_INTENT) {
        if (strstr(prompt, "carry it"))
            text = "{\"ranges\":[{\"attribute\":\"weight_kg\",\"max\":2.0}]}";
    }
    return recsys_llm_reply_set_text(reply, text, strlen(text));
}

/* ------------------------------------------------------------ the scripted shopper */

/* The shopper's answer to a question about facet. */
static const char *shopper_answer(const char *facet)
{
    if (!strcmp(facet, "dedicated_gpu"))
        return "Yes, I need a dedicated GPU to train models.";
    if (!strcmp(facet, "battery_hours"))
        return "At least 6 hours, I sometimes work in cafes.";
    if (!strcmp(facet, "weight_kg"))
        return "I carry it to the lab every day, so it should be easy to carry.";
    return "It doesn't matter.";
}

/* ------------------------------------------------------------ printing */

static void print_list(const recsys_turn *t, size_t before)
{
    const recsys_result *res = recsys_turn_result(t);
    size_t n = recsys_result_count(res), c = recsys_turn_candidates(t);
    if (before == (size_t)-1)
        printf("   candidates: %zu\n", c);
    else
        printf("   candidates: %zu (was %zu)%s\n", c, before, c < before ? "  <- narrowed" : "");
    for (size_t i = 0; i < n; i++) {
        const char *id = recsys_result_item_id(res, i);
        json_t *it = item_json(id), *a = json_object_get(it, "attributes");
        printf("   %zu. %-8s %-26.26s $%-5.0f %-12s %4.1f h  %4.2f kg\n", i + 1, id,
               json_string_value(json_object_get(it, "title")),
               json_number_value(json_object_get(a, "price")),
               json_string_value(json_object_get(a, "gpu")) ? json_string_value(json_object_get(a, "gpu")) : "-",
               json_number_value(json_object_get(a, "battery_hours")),
               json_number_value(json_object_get(a, "weight_kg")));
    }
}

static int fail(const char *what)
{
    fprintf(stderr, "shopping_chat: %s: %s\n", what, recsys_last_error());
    return 1;
}

/* One whole dialogue on a fresh engine. */
static int dialogue(const char *json, size_t len, int with_llm)
{
    recsys_engine *e = NULL;
    recsys_conversation *cv = NULL;
    recsys_turn *t = NULL;
    int rc = 1;
    if (recsys_engine_new(NULL, &e) != RECSYS_OK)
        return fail("engine");
    if (recsys_engine_set_int(e, RECSYS_OPT_NOW, 1751328000) != RECSYS_OK ||
        recsys_engine_set_int(e, RECSYS_OPT_TOP_N, 5) != RECSYS_OK ||
        recsys_engine_set_int(e, RECSYS_OPT_LOG_IMPRESSIONS, 0) != RECSYS_OK ||
        recsys_engine_set_str(e, RECSYS_OPT_CLARIFY_FACETS,
                              "dedicated_gpu,battery_hours,weight_kg") != RECSYS_OK ||
        recsys_engine_set_double(e, RECSYS_OPT_CLARIFY_MIN_GAIN, 0.3) != RECSYS_OK ||
        recsys_catalog_upsert_json(e, json, len) != RECSYS_OK || recsys_refresh(e) != RECSYS_OK) {
        rc = fail("setup");
        goto out;
    }
    if (with_llm) {
        recsys_llm_vtable vt;
        recsys_llm_vtable_init(&vt);
        vt.complete = scripted_complete;
        if (recsys_engine_set_llm(e, "scripted", &vt) != RECSYS_OK) {
            rc = fail("set_llm");
            goto out;
        }
    }
    if (recsys_conversation_new(e, "shopper-1", &cv) != RECSYS_OK) {
        rc = fail("conversation");
        goto out;
    }
    const char *say = "Recommend a laptop for AI work under $1500.";
    size_t before = (size_t)-1;
    for (int turn = 0; turn < 6; turn++) {
        printf("\n  shopper:   %s\n", say);
        if (recsys_conversation_say(cv, say, &t) != RECSYS_OK) {
            rc = fail("say");
            goto out;
        }
        if (recsys_turn_kind(t) == RECSYS_TURN_QUESTION)
            printf("  assistant: %s   [facet: %s]\n", recsys_turn_question(t),
                   recsys_turn_facet(t));
        else
            printf("  assistant: here is what fits everything you said:\n");
        print_list(t, before);
        before = recsys_turn_candidates(t);
        if (recsys_turn_kind(t) != RECSYS_TURN_QUESTION)
            break;
        say = shopper_answer(recsys_turn_facet(t));
        recsys_turn_free(t);
        t = NULL;
    }
    char *cons = NULL;
    if (recsys_conversation_constraints_json(cv, &cons) != RECSYS_OK) {
        rc = fail("constraints");
        goto out;
    }
    printf("\n  constraints: %s\n", cons);
    recsys_string_free(cons);
    recsys_llm_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    if (recsys_engine_llm_stats(e, &st) == RECSYS_OK)
        printf("  LLM calls: %llu (rejected replies %llu)\n", (unsigned long long)st.calls,
               (unsigned long long)st.rejected);
    rc = 0;
out:
    recsys_turn_free(t);
    recsys_conversation_free(cv);
    recsys_engine_free(e);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "data/laptops.json";
    size_t len = 0;
    char *json = read_file(path, &len);
    json_error_t jerr;
    if (!json || !(catalog = json_loads(json, 0, &jerr))) {
        fprintf(stderr, "shopping_chat: cannot read %s\n", path);
        free(json);
        return 1;
    }
    printf("=== with a SCRIPTED LLM (a fixed script standing in for a model) ===\n");
    int rc = dialogue(json, len, 1);
    if (rc == 0) {
        printf("\n=== with no LLM (template questions, rules only) ===\n");
        rc = dialogue(json, len, 0);
    }
    json_decref(catalog);
    free(json);
    return rc;
}
