/* filters.h - the built-in filters of stage 3, each behind the public recsys_filter_vtable.
 *
 * Each constructor fills *out (struct_size = sizeof, no ctx, no destroy) and fails only for a
 * NULL argument. apply() drops candidates with recsys_candidates_drop() and a short static
 * reason; a candidate an earlier filter dropped keeps its first reason.
 *
 * - availability ("removed", "unavailable"): items removed from the catalog or not available.
 * - age ("age"): items with min_age > 0 unless the user's age is known and >= min_age. A user
 *   of unknown age, an unknown user and an anonymous request never get restricted items.
 * - region ("region"): an item with a region list is shown only to users whose region is on
 *   it (ASCII case-insensitive); a user of unknown region, and an anonymous request, only get
 *   items without a region list.
 * - seen ("purchased", "seen"): purchases are always dropped, whatever the option: history
 *   purchase events and the profile's purchased list (the design card's "already-purchased"
 *   rule; re-buying is rare enough that a host wanting it can disable this filter). With
 *   RECSYS_OPT_FILTER_SEEN = 1 (the default) also every item the user consumed: history events
 *   for which recsys__event_consumes() holds and the profile's recent views.
 * - negative ("negative"): items the user disliked (a history dislike not followed by a later
 *   like of the same item) and the profile's negative-feedback list. Skips are too weak a
 *   signal to hide an item; the ranker uses them.
 * - shown ("shown recently"): with RECSYS_OPT_FILTER_SHOWN_WINDOW_S > 0, the items shown to
 *   the user at or after q->now minus the window (lib/model/shown.h: the last
 *   RECSYS__SHOWN_MAX remembered per user, in memory); nothing for an unknown user.
 * - rules ("rule filter", "rule block"): the FILTER and BLOCK business rules in force
 *   (q->rules: the engine's and the request's, lib/filter/rules.h).
 * - exclude ("excluded", "not included"): the request's lists: its excluded items
 *   (q->exclude) and, when it has an allow list (q->include, recsys_request_include), every
 *   item not on it.
 */
#ifndef RECSYS_FILTER_FILTERS_H
#define RECSYS_FILTER_FILTERS_H
#include "../model/context.h"

recsys_status recsys__filter_availability(const recsys__mem *m, recsys_filter_vtable *out);
recsys_status recsys__filter_age(const recsys__mem *m, recsys_filter_vtable *out);
recsys_status recsys__filter_region(const recsys__mem *m, recsys_filter_vtable *out);
recsys_status recsys__filter_seen(const recsys__mem *m, recsys_filter_vtable *out);
recsys_status recsys__filter_negative(const recsys__mem *m, recsys_filter_vtable *out);
recsys_status recsys__filter_exclude(const recsys__mem *m, recsys_filter_vtable *out);
recsys_status recsys__filter_shown(const recsys__mem *m, recsys_filter_vtable *out);
recsys_status recsys__filter_rules(const recsys__mem *m, recsys_filter_vtable *out);

#endif
