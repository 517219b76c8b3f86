/* Shared by the wire-format files (rs_wire.c, rs_scan.c): big-endian field access and the
 * one name reader. Internal. */
#ifndef KG_RS_BYTES_H
#define KG_RS_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_int.h"

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One bit per message offset: "a label of a name we walked starts here" (rs_scan.c). */
struct rs_label_marks {
	uint8_t bits[RS_MAX_MSG / 8 + 1];
};

/*
 * Read a possibly compressed name at `off` that must end by `len`. Pointers must aim strictly
 * backwards (which bounds the walk and refuses loops), past the header; the expanded name
 * must fit RS_MAX_NAME. With `out`, the name is copied there lowercased; *outlen gets its
 * expanded length. With `marks`, the labels written here are marked and a pointer must land
 * on a marked label. Returns the offset after the name, or 0 when malformed.
 */
size_t rs__name_read(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, size_t *outlen,
                     struct rs_label_marks *marks);

#endif
