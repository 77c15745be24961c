/* JSON text of a value, written straight into a buffer (json_encode.c). */
#ifndef MH_JSON_ENCODE_H
#define MH_JSON_ENCODE_H
#include "core/buf.h"
#include "core/error.h"
#include "core/value.h"

/* Appends v as JSON.stringify would send it; 0, or -1 with *err set and out
 * as it was (invalid UTF-8, a BigInt, a key with a NUL byte, no memory). */
int mh_json_encode_value(const mh_value *v, mh_buf *out, mh_error **err);

#endif
