/*
 * The safe-search host table: which search and video hosts are answered with a CNAME to their
 * vendor's safe endpoint. It is data (packaging/data/safesearch.txt), not code, so a vendor's
 * new country domain needs no release. Names are kept in one pool; an open-addressing hash on
 * the host's wire form finds an entry in one or two probes.
 */
#include "rs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SS_MAX_ENTRIES 4096

struct ss_entry {
	uint32_t host, strict, moderate; /* offsets into pool */
	uint8_t host_len, strict_len, moderate_len;
	bool used;
};

struct rs_safesearch {
	struct ss_entry *slots;
	uint32_t n_slots, count;
	uint8_t *pool;
	size_t pool_len, pool_cap;
};

static uint32_t hash_wire(const uint8_t *w, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ w[i]) * 16777619u;
	return h;
}

static int pool_add(struct rs_safesearch *t, const char *name, uint32_t *off, uint8_t *len)
{
	uint8_t wire[256];
	int n = rs_name_to_wire(name, wire, sizeof(wire));

	if (n < 0)
		return -1;
	if (t->pool_len + (size_t)n > t->pool_cap) {
		size_t cap = t->pool_cap ? t->pool_cap * 2 : 8192;
		uint8_t *p = realloc(t->pool, cap);
		if (!p)
			return -1;
		t->pool = p;
		t->pool_cap = cap;
	}
	memcpy(t->pool + t->pool_len, wire, (size_t)n);
	*off = (uint32_t)t->pool_len;
	*len = (uint8_t)n;
	t->pool_len += (size_t)n;
	return 0;
}

static struct ss_entry *slot_for(const struct rs_safesearch *t, const uint8_t *w, size_t len)
{
	uint32_t i = hash_wire(w, len) & (t->n_slots - 1);

	for (;; i = (i + 1) & (t->n_slots - 1)) {
		struct ss_entry *e = &t->slots[i];
		if (!e->used || (e->host_len == len && memcmp(t->pool + e->host, w, len) == 0))
			return e;
	}
}

static int add_line(struct rs_safesearch *t, char *line)
{
	char host[256], strict[256], moderate[256];
	struct ss_entry e = {.used = true};
	struct ss_entry *slot;
	int k = sscanf(line, "%255s %255s %255s", host, strict, moderate);

	if (k < 2 || t->count >= SS_MAX_ENTRIES)
		return -1;
	if (pool_add(t, host, &e.host, &e.host_len) < 0 ||
	    pool_add(t, strict, &e.strict, &e.strict_len) < 0 ||
	    pool_add(t, k == 3 ? moderate : strict, &e.moderate, &e.moderate_len) < 0)
		return -1;
	slot = slot_for(t, t->pool + e.host, e.host_len);
	if (!slot->used)
		t->count++;
	*slot = e;
	return 0;
}

int rs_safesearch_load(const char *path, struct rs_safesearch **out, char *err, size_t errlen)
{
	struct rs_safesearch *t = calloc(1, sizeof(*t));
	char line[1024];
	int lineno = 0, rc = 0;
	FILE *f;

	if (!t)
		return -1;
	t->n_slots = 2 * SS_MAX_ENTRIES;
	t->slots = calloc(t->n_slots, sizeof(*t->slots));
	f = fopen(path, "r");
	if (!f || !t->slots) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		rc = -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *p = line;
		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
			continue;
		if (add_line(t, p) < 0) {
			snprintf(err, errlen,
			         "%s:%d: expected HOST STRICT-TARGET [MODERATE-TARGET] (valid "
			         "names, at most %d hosts)",
			         path, lineno, SS_MAX_ENTRIES);
			rc = -1;
		}
	}
	if (f)
		fclose(f);
	if (rc < 0) {
		rs_safesearch_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

void rs_safesearch_free(struct rs_safesearch *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t->pool);
	free(t);
}

size_t rs_safesearch_count(const struct rs_safesearch *t)
{
	return t ? t->count : 0;
}

bool rs_safesearch_find(const struct rs_safesearch *t, const uint8_t *qname, size_t len, int level,
                        const uint8_t **target, size_t *target_len)
{
	const struct ss_entry *e;

	if (!t || level == RS_SAFE_OFF)
		return false;
	e = slot_for(t, qname, len);
	if (!e->used)
		return false;
	if (level == RS_SAFE_MODERATE) {
		*target = t->pool + e->moderate;
		*target_len = e->moderate_len;
	} else {
		*target = t->pool + e->strict;
		*target_len = e->strict_len;
	}
	return true;
}

const char *rs_safesearch_default_path(void)
{
	/* Installed, else the source tree's copy (running from a build directory). */
	if (access(KG_SHARE_DIR "/safesearch.txt", R_OK) == 0)
		return KG_SHARE_DIR "/safesearch.txt";
	return KG_SOURCE_DIR "/packaging/data/safesearch.txt";
}
