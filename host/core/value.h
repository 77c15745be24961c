/* mh_value: the one value tree every part of the host speaks.
 *
 * Codecs decode wire frames into it, the engine converts it to and from Lua,
 * the cache keeps it, and the dispatcher shares it between waiting callers.
 * It can hold everything the wire protocols can carry, including the types
 * beyond JSON that structured-clone clients send (undefined, Date, BigInt,
 * Map, Set, RegExp, Error, byte arrays) and oRPC's URL.
 *
 * Ownership: a container owns its children. Functions that take an
 * `mh_value *` argument named `take` take ownership (also on failure). */
#ifndef MH_VALUE_H
#define MH_VALUE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef enum mh_vtype {
  MH_V_UNDEFINED,
  MH_V_NULL,
  MH_V_BOOL,
  MH_V_INT,    /* u.i: an exact integer */
  MH_V_FLOAT,  /* u.f: any double, NaN/Inf/-0 included */
  MH_V_STRING, /* u.str: UTF-8 text (validated by decoders) */
  MH_V_ARRAY,  /* u.arr */
  MH_V_OBJECT, /* u.obj: keys are MH_V_STRING values, insertion order kept */
  MH_V_DATE,   /* u.f: milliseconds since the epoch (NaN: invalid date) */
  MH_V_BIGINT, /* u.str: decimal text, optional leading '-' */
  MH_V_MAP,    /* u.obj: keys of any type, insertion order kept */
  MH_V_SET,    /* u.arr */
  MH_V_REGEXP, /* u.re */
  MH_V_ERROR,  /* u.err */
  MH_V_BYTES,  /* u.bytes: a typed array; kind names it ("Uint8Array", ...) */
  MH_V_URL,    /* u.str: a URL's href (oRPC carries it; other codecs write the string) */
} mh_vtype;

/* The types whose content is u.str. */
static inline bool mh_value_has_str(mh_vtype t) { return t == MH_V_STRING || t == MH_V_BIGINT || t == MH_V_URL; }

typedef struct mh_value mh_value;

typedef struct mh_pair {
  mh_value *key;
  mh_value *val;
} mh_pair;

struct mh_value {
  mh_vtype type;
  union {
    bool b;
    int64_t i;
    double f;
    struct {
      char *ptr; /* always NUL-terminated; len excludes the NUL */
      size_t len;
    } str;
    struct {
      mh_value **items;
      size_t len, cap;
    } arr;
    struct {
      mh_pair *items;
      size_t len, cap;
    } obj;
    struct {
      char *source, *flags;
    } re;
    struct {
      char *name, *message;
    } err;
    struct {
      char *kind;   /* e.g. "Uint8Array" */
      double *items; /* element values as numbers */
      size_t len;
    } bytes;
  } u;
};

/* Constructors; NULL when memory runs out. Strings are copied. */
mh_value *mh_value_new(mh_vtype type); /* empty container or zero scalar */
mh_value *mh_value_undefined(void);
mh_value *mh_value_null(void);
mh_value *mh_value_bool(bool b);
mh_value *mh_value_int(int64_t i);
mh_value *mh_value_float(double f);
mh_value *mh_value_string(const char *s, size_t len);
mh_value *mh_value_cstring(const char *s);
mh_value *mh_value_date(double ms);
mh_value *mh_value_bigint(const char *decimal, size_t len);
mh_value *mh_value_url(const char *href, size_t len);
mh_value *mh_value_regexp(const char *source, const char *flags);
mh_value *mh_value_error(const char *name, const char *message);

/* Containers. Return 0, or -1 when memory runs out (then `take` is freed). */
/* Makes room for n items (ARRAY, SET) or pairs (OBJECT, MAP) in all, so
 * a container whose size is known fills without regrowing. 0 or -1. */
int mh_value_reserve(mh_value *container, size_t n);
/* An empty ARRAY, SET, OBJECT or MAP with room for n items or pairs, made
 * in one allocation with the value (it may still grow past n); NULL for
 * another type or when memory runs out. */
mh_value *mh_value_container(mh_vtype type, size_t n);
int mh_value_push(mh_value *arr_or_set, mh_value *take);
/* Appends a pair to an OBJECT (key string copied) without looking for an
 * existing key: decoders use it, and later duplicates win when read. */
int mh_value_obj_append(mh_value *obj, const char *key, size_t keylen, mh_value *take);
/* Sets key in an OBJECT, replacing an existing value. */
int mh_value_obj_set(mh_value *obj, const char *key, mh_value *take);
/* Appends a pair to a MAP (both owned). */
int mh_value_map_append(mh_value *map, mh_value *key_take, mh_value *val_take);
/* The last value stored under key in an OBJECT, or NULL. */
const mh_value *mh_value_obj_get(const mh_value *obj, const char *key);

/* One pair of an OBJECT seen by its key's bytes (a key that is not a string
 * reads as ""), and the pair's index. */
typedef struct mh_value_keyref {
  const char *key;
  size_t len;
  size_t idx;
} mh_value_keyref;
/* Every pair of obj sorted bytewise by key, equal keys adjacent and in pair
 * order (so the last of a run is the value JS keeps). malloc'd, obj->u.obj.len
 * entries; NULL when memory runs out. */
mh_value_keyref *mh_value_obj_sort_keys(const mh_value *obj);
bool mh_value_keyref_same(const mh_value_keyref *a, const mh_value_keyref *b);

void mh_value_free(mh_value *v);
mh_value *mh_value_copy(const mh_value *v); /* deep copy; NULL when memory runs out */
/* About the bytes one value takes in memory: the node, its slot in the
 * parent (a pointer, or a key/value pair), the allocator's overhead, and
 * the bytes of a string. For bounding values built from outside data
 * (Lua tables, conf.d) before they are built. */
size_t mh_value_cost(size_t string_bytes);
/* Makes *dst a deep copy of src in place (dst stays where it is in its tree;
 * its old contents are freed). -1 when memory runs out (dst unchanged). Use
 * this, never a struct assignment: a string's bytes may share its value's
 * allocation. */
int mh_value_replace(mh_value *dst, const mh_value *src);
bool mh_value_equal(const mh_value *a, const mh_value *b);
const char *mh_value_type_name(mh_vtype type);

/* Canonical encoding: equal values (in the sense of the cache: same types,
 * same contents, object keys in any order) give equal bytes. Used as the
 * cache and sharing key for query calls. Returns 0 or -1 (memory). */
int mh_value_canonical(const mh_value *v, mh_buf *out);

/* UTF-8 validation (rejects overlong forms, surrogates, > U+10FFFF). */
bool mh_utf8_valid(const char *s, size_t len);

#endif
