/* interleave.c - team-draft interleaving (experiment.h): two rankers compared on the same
 * traffic. Each session shows one list drawn from both; a click credits the ranker whose team
 * contributed the item, the session goes to the ranker with more credited clicks, and the
 * sign test over sessions (recsys__stat_sign_test) says whether one wins significantly.
 * Needs far fewer sessions than an A/B test because both rankers face the same user at the
 * same moment. */
#include "experiment.h"

void recsys__interleave_team_draft(const uint64_t *a, size_t na, const uint64_t *b, size_t nb,
                                   size_t k, uint64_t seed, uint64_t *out, uint8_t *team,
                                   size_t *nout)
{
    size_t n = 0, ia = 0, ib = 0, ca = 0, cb = 0;
    uint64_t rng = seed;
    while (n < k) {
        /* skip what is already in the interleaved list */
        for (bool again = true; again;) {
            again = false;
            for (size_t i = 0; i < n; i++) {
                if (ia < na && out[i] == a[ia]) {
                    ia++;
                    again = true;
                }
                if (ib < nb && out[i] == b[ib]) {
                    ib++;
                    again = true;
                }
            }
        }
        if (ia >= na && ib >= nb)
            break;
        bool pick_a = ca < cb || (ca == cb && (recsys__exp_rand(&rng) & 1));
        if (ia >= na)
            pick_a = false;
        else if (ib >= nb)
            pick_a = true;
        if (pick_a) {
            out[n] = a[ia++];
            team[n++] = 0;
            ca++;
        } else {
            out[n] = b[ib++];
            team[n++] = 1;
            cb++;
        }
    }
    *nout = n;
}

int recsys__interleave_outcome(const uint8_t *team, const uint8_t *clicked, size_t n)
{
    size_t ca = 0, cb = 0;
    for (size_t i = 0; i < n; i++)
        if (clicked[i])
            (*(team[i] ? &cb : &ca))++;
    return ca > cb ? 1 : ca < cb ? -1 : 0;
}
