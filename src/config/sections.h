/* sections.h — the sections of the configuration (private to src/config/).
 *
 * Which sections exist, in the order the file is documented and dumped, and what each
 * section file exports to the shared loader. */
#ifndef INTERVENE_CONFIG_SECTIONS_H
#define INTERVENE_CONFIG_SECTIONS_H

#include "config/keys.h"

/* config.c: the top level of the file, one row per section. */
extern const struct key cfg_root_keys[];

#endif
