/* The type table of spec §6: names, widths and the layout each type code
 * uses. One table for every part of the C core (format/types.go is its Go
 * twin). */
#include "sa_internal.h"

static const struct {
  const char *name;
  uint8_t width;   /* bytes per element; 0: bool, variable length, fixed_size_binary */
  uint8_t offsets; /* bytes per offsets entry, 0 if none */
  uint8_t numeric; /* may be N-D (spec §8) */
  uint8_t list;    /* lists (1.3): bytes per offsets entry, which index child slots */
} types[] = {
    {"type(0)", 0, 0, 0, 0} /* no type: code 0 is not defined (spec §6) */,
    {"bool", 0, 0, 0, 0},         {"int8", 1, 0, 1, 0},
    {"uint8", 1, 0, 1, 0},        {"int16", 2, 0, 1, 0},        {"uint16", 2, 0, 1, 0},
    {"int32", 4, 0, 1, 0},        {"uint32", 4, 0, 1, 0},       {"int64", 8, 0, 1, 0},
    {"uint64", 8, 0, 1, 0},       {"float16", 2, 0, 1, 0},      {"float32", 4, 0, 1, 0},
    {"float64", 8, 0, 1, 0},      {"utf8", 0, 4, 0, 0},         {"large_utf8", 0, 8, 0, 0},
    {"binary", 0, 4, 0, 0},       {"large_binary", 0, 8, 0, 0}, {"fixed_size_binary", 0, 0, 0, 0},
    {"date32", 4, 0, 0, 0},       {"date64", 8, 0, 0, 0},       {"timestamp", 8, 0, 0, 0},
    {"duration", 8, 0, 0, 0},
    {"list", 0, 0, 0, 4},      {"large_list", 0, 0, 0, 8}, {"dictionary", 0, 0, 0, 0},
};
#define NTYPES (sizeof types / sizeof types[0])

int sa_type_known(unsigned t) { return t >= 1 && t < NTYPES; }
int sa_type_nested(unsigned t) { return t >= SHMARRAY_TYPE_LIST && t <= SHMARRAY_TYPE_DICTIONARY; }
unsigned sa_list_offset_width(unsigned t) { return sa_type_known(t) ? types[t].list : 0; }
int sa_type_timed(unsigned t) { return t == SHMARRAY_TYPE_TIMESTAMP || t == SHMARRAY_TYPE_DURATION; }
int sa_type_numeric(unsigned t) { return sa_type_known(t) && types[t].numeric; }
unsigned sa_type_width(unsigned t) { return sa_type_known(t) ? types[t].width : 0; }
unsigned sa_offset_width(unsigned t) { return sa_type_known(t) ? types[t].offsets : 0; }
const char *sa_type_name(unsigned t) { return sa_type_known(t) ? types[t].name : "unknown"; }

int sa_type_indexable(unsigned t) {
  return (t >= SHMARRAY_TYPE_INT8 && t <= SHMARRAY_TYPE_UINT64) ||
         (t >= SHMARRAY_TYPE_UTF8 && t <= SHMARRAY_TYPE_FIXED_SIZE_BINARY);
}
