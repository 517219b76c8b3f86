/*
 * Domain names: text normalisation (IDN, case, syntax) and the reversed-label store keys.
 *
 * Key encoding: labels from the TLD down, each followed by one 0x00 byte:
 * "www.example.com" -> "com\0example\0www\0". 0x00 sorts below every label byte, so keys sort in
 * DNS canonical order (a name directly before its children, "example.com" before
 * "example-a.com"), and the key of a subtree rule is a byte prefix of every key below it.
 */
#include "bl_internal.h"

#include <errno.h>
#include <idn2.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NAME_IN_MAX 1024 /* longest text we even look at (UTF-8 can be 4 bytes per char) */

bool bl__is_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Check the syntax of an ASCII, lowercased name without trailing dot. */
static int check_labels(const char *s, size_t len)
{
	size_t lab = 0;

	if (len == 0 || len > BL_NAME_MAX - 1)
		return BL_ENAME;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (lab == 0)
				return BL_ENAME;
			lab = 0;
			continue;
		}
		if (!bl__is_label_char((unsigned char)s[i]) || ++lab > 63)
			return BL_ENAME;
	}
	return lab == 0 ? BL_ENAME : 0;
}

/* Lowercase `in` (ASCII) into `out`, strip one trailing dot and validate. */
static int normalize_ascii(const char *in, size_t len, char *out, size_t outlen)
{
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len >= outlen)
		return len > BL_NAME_MAX - 1 ? BL_ENAME : BL_ENOSPACE;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return check_labels(out, len);
}

static int normalize_idn(const char *in, char *out, size_t outlen)
{
	char *ace = NULL;
	int rc = idn2_to_ascii_8z(in, &ace, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);

	if (rc != IDN2_OK) {
		/* Some valid registrations fail strict IDNA2008 (e.g. emoji); TR46 is lenient. */
		rc = idn2_to_ascii_8z(in, &ace, IDN2_TRANSITIONAL | IDN2_NFC_INPUT);
		if (rc != IDN2_OK)
			return BL_ENAME;
	}
	rc = normalize_ascii(ace, strlen(ace), out, outlen);
	idn2_free(ace);
	return rc;
}

int bl_name_normalize(const char *in, char *out, size_t outlen)
{
	size_t len;

	if (!in || !out || outlen == 0)
		return -EINVAL;
	len = strnlen(in, NAME_IN_MAX + 1);
	if (len == 0 || len > NAME_IN_MAX)
		return BL_ENAME;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)in[i] >= 0x80)
			return normalize_idn(in, out, outlen);
	}
	return normalize_ascii(in, len, out, outlen);
}

int bl_key_from_name(const char *name, uint8_t *key, size_t keymax)
{
	size_t len = strnlen(name, BL_NAME_MAX);
	size_t end = len, pos = 0;

	if (len == 0 || len >= BL_NAME_MAX)
		return BL_ENAME;
	if (len + 1 > keymax)
		return BL_ENOSPACE;
	/* Copy labels from the last one to the first, each followed by the 0x00 separator. */
	while (end > 0) {
		size_t start = end;
		while (start > 0 && name[start - 1] != '.')
			start--;
		if (start == end)
			return BL_ENAME;
		memcpy(key + pos, name + start, end - start);
		pos += end - start;
		key[pos++] = 0;
		end = start > 0 ? start - 1 : 0;
		if (start > 0 && end == 0)
			return BL_ENAME; /* leading dot */
	}
	return (int)pos;
}

int bl_key_from_wire(const uint8_t *wire, size_t len, uint8_t *key, size_t keymax)
{
	size_t offs[128], n = 0, pos = 0, klen;

	/* First pass: find the label offsets and check the shape. */
	while (pos < len && wire[pos] != 0) {
		uint8_t l = wire[pos];
		if (l > 63 || n == 128 || pos + 1 + l >= len)
			return BL_ENAME;
		if (memchr(wire + pos + 1, 0, l))
			return BL_ENAME;
		offs[n++] = pos;
		pos += 1 + (size_t)l;
	}
	if (pos >= len || pos + 1 > BL_WIRE_MAX)
		return BL_ENAME;
	klen = pos; /* sum of (label + separator) == wire length minus the root byte */
	if (klen > keymax)
		return BL_ENOSPACE;
	pos = 0;
	while (n-- > 0) {
		uint8_t l = wire[offs[n]];
		memcpy(key + pos, wire + offs[n] + 1, l);
		pos += l;
		key[pos++] = 0;
	}
	return (int)klen;
}

int bl_key_to_name(const uint8_t *key, size_t keylen, char *out, size_t outlen)
{
	size_t end = keylen, pos = 0;

	if (keylen == 0 || key[keylen - 1] != 0)
		return BL_ENAME;
	if (keylen > outlen)
		return BL_ENOSPACE;
	/* Walk the key backwards: its last label is the name's first. */
	while (end > 0) {
		size_t start = end - 1; /* index of this label's separator */
		while (start > 0 && key[start - 1] != 0)
			start--;
		if (start == end - 1)
			return BL_ENAME;
		if (pos > 0)
			out[pos++] = '.';
		memcpy(out + pos, key + start, end - 1 - start);
		pos += end - 1 - start;
		end = start;
	}
	out[pos] = '\0';
	return (int)pos;
}

static const psl_ctx_t *psl_ctx;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

static void psl_init(void)
{
	/* The distribution's list (Debian "publicsuffix") when it is there, else the copy
	 * compiled into libpsl. Kept for the life of the process. */
	psl_ctx = psl_latest(NULL);
	if (!psl_ctx)
		psl_ctx = psl_builtin();
}

const char *bl_name_registrable(const char *name)
{
	pthread_once(&psl_once, psl_init);
	return name && psl_ctx ? psl_registrable_domain(psl_ctx, name) : NULL;
}
