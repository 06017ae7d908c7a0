/* spec.h - what the engine reads from the public item and user builders (spec.c). */
#ifndef RECSYS_MODEL_SPEC_H
#define RECSYS_MODEL_SPEC_H
#include "model.h"

/* The item a builder holds (allocated with recsys__mem_default; clone it into the engine's
 * allocator with recsys__item_clone). Never NULL for a valid builder; NULL for NULL. */
const recsys_item *recsys__item_spec_item(const recsys_item_spec *spec);
/* The profile a user builder holds (allocated with recsys__mem_default); NULL for NULL. */
const recsys__profile *recsys__user_spec_profile(const recsys_user_spec *spec);

#endif
