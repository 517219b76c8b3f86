/* kidguard-feed publish: options, the category table, keys and the previous version. */
#include "feed.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#define DEFAULT_EXPIRES (7 * 86400)
#define DEFAULT_KEEP    5

static int category_index(struct sy_manifest *m, const char *name, size_t len, bool add)
{
	for (int i = 0; i < m->n_categories; i++) {
		if (strlen(m->categories[i].name) == len &&
		    memcmp(m->categories[i].name, name, len) == 0)
			return i;
	}
	if (!add || m->n_categories == SY_CATEGORIES_MAX || len == 0 ||
	    len >= sizeof(m->categories[0].name))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -1;
	}
	memcpy(m->categories[m->n_categories].name, name, len);
	m->categories[m->n_categories].name[len] = '\0';
	return m->n_categories++;
}

/* NAME=FILE[:FORMAT] */
static int add_list(struct pub *p, const char *spec)
{
	const char *eq = strchr(spec, '='), *colon = strrchr(spec, ':');
	enum bl_format fmt = BL_FMT_DOMAINS;
	int cat;

	if (!eq || p->nlists == FEED_LISTS_MAX)
		return -1;
	cat = category_index(&p->m, spec, (size_t)(eq - spec), true);
	if (cat < 0)
		return -1;
	p->lists[p->nlists].file = eq + 1;
	if (colon && colon > eq && bl_format_parse(colon + 1, &fmt) == 0) {
		size_t n = (size_t)(colon - eq - 1);
		char *f = strndup(eq + 1, n); /* lives as long as the process */
		if (!f)
			return -1;
		p->lists[p->nlists].file = f;
	}
	p->lists[p->nlists].fmt = fmt;
	p->lists[p->nlists++].cat = cat;
	return 0;
}

static int add_ptr(const char **arr, int *n, int max, const char *v)
{
	if (*n == max)
		return -1;
	arr[(*n)++] = v;
	return 0;
}

int feed_parse_args(struct pub *p, int argc, char **argv)
{
	static const struct option lo[] = {{"key", 1, NULL, 'k'},
	                                   {"dir", 1, NULL, 'd'},
	                                   {"category", 1, NULL, 'c'},
	                                   {"confidential", 1, NULL, 'C'},
	                                   {"description", 1, NULL, 'D'},
	                                   {"mandatory", 1, NULL, 'M'},
	                                   {"child-default", 1, NULL, 'H'},
	                                   {"feed", 1, NULL, 'f'},
	                                   {"report", 1, NULL, 'r'},
	                                   {"expires-in", 1, NULL, 'e'},
	                                   {"keep", 1, NULL, 'K'},
	                                   {"version", 1, NULL, 'V'},
	                                   {"timestamp-ttl", 1, NULL, 'T'},
	                                   {"child-safe", 1, NULL, 'S'},
	                                   {NULL, 0, NULL, 0}};
	int c, bad = 0;

	p->feed = "national";
	p->report = "";
	p->expires_in = DEFAULT_EXPIRES;
	p->keep = DEFAULT_KEEP;
	p->timestamp_ttl = -1;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			bad = add_ptr(p->key_files, &p->nkey_files, FEED_KEYS_MAX, optarg);
			break;
		case 'd':
			p->dir = optarg;
			break;
		case 'c':
			bad = add_list(p, optarg);
			break;
		case 'C':
			bad = add_ptr(p->conf, &p->nconf, SY_CATEGORIES_MAX, optarg);
			break;
		case 'D':
			bad = add_ptr(p->desc, &p->ndesc, SY_CATEGORIES_MAX, optarg);
			break;
		case 'M':
			bad = add_ptr(p->mand, &p->nmand, SY_CATEGORIES_MAX, optarg);
			break;
		case 'H':
			bad = add_ptr(p->child, &p->nchild, SY_CATEGORIES_MAX, optarg);
			break;
		case 'S':
			bad = add_ptr(p->safe, &p->nsafe, SY_CATEGORIES_MAX, optarg);
			break;
		case 'f':
			p->feed = optarg;
			break;
		case 'r':
			p->report = optarg;
			break;
		case 'e':
			p->expires_in = strtoull(optarg, NULL, 10);
			break;
		case 'K':
			p->keep = (int)strtol(optarg, NULL, 10);
			break;
		case 'V':
			p->force_version = strtoull(optarg, NULL, 10);
			break;
		case 'T':
			p->timestamp_ttl = strtoll(optarg, NULL, 10);
			bad = p->timestamp_ttl < 0 || p->timestamp_ttl > SY_TIMESTAMP_TTL_MAX;
			break;
		default:
			bad = 1;
		}
		if (bad && c != '?')
			fprintf(stderr, "kidguard-feed: bad option value: %s\n", optarg);
	}
	if (bad || !p->dir || p->nkey_files == 0 || p->nlists == 0 || p->expires_in == 0 ||
	    p->keep < 0 || p->keep > SY_DELTAS_MAX || strlen(p->feed) >= sizeof(p->m.feed) ||
	    strlen(p->report) >= sizeof(p->m.report)) {
		fprintf(stderr, "kidguard-feed publish: --key KEYFILE --dir FEEDDIR --category "
		                "NAME=FILE[:FORMAT] ... are required (see kidguard-feed --help)\n");
		return -1;
	}
	return 0;
}

/* --mandatory NAME and --child-default NAME=block|allow. */
static int apply_policy(struct pub *p)
{
	for (int i = 0; i < p->nmand; i++) {
		int c = category_index(&p->m, p->mand[i], strlen(p->mand[i]), false);
		if (c < 0) {
			fprintf(stderr, "kidguard-feed: --mandatory %s: no such --category\n",
			        p->mand[i]);
			return -1;
		}
		p->m.categories[c].mandatory = true;
	}
	for (int i = 0; i < p->nchild; i++) {
		const char *eq = strchr(p->child[i], '=');
		int c =
		    eq ? category_index(&p->m, p->child[i], (size_t)(eq - p->child[i]), false) : -1;
		if (c < 0 || (strcmp(eq + 1, "block") != 0 && strcmp(eq + 1, "allow") != 0)) {
			fprintf(
			    stderr,
			    "kidguard-feed: --child-default %s: want NAME=block or NAME=allow for "
			    "a --category NAME\n",
			    p->child[i]);
			return -1;
		}
		p->m.categories[c].child_allow = strcmp(eq + 1, "allow") == 0;
	}
	for (int i = 0; i < p->nsafe; i++) {
		int c = category_index(&p->m, p->safe[i], strlen(p->safe[i]), false);
		if (c < 0) {
			fprintf(stderr, "kidguard-feed: --child-safe %s: no such --category\n",
			        p->safe[i]);
			return -1;
		}
		p->m.categories[c].child_safe = true;
	}
	return 0;
}

static int apply_marks(struct pub *p)
{
	if (apply_policy(p) != 0)
		return -1;
	for (int i = 0; i < p->nconf; i++) {
		int c = category_index(&p->m, p->conf[i], strlen(p->conf[i]), false);
		if (c < 0) {
			fprintf(stderr, "kidguard-feed: --confidential %s: no such --category\n",
			        p->conf[i]);
			return -1;
		}
		p->m.categories[c].confidential = true;
	}
	for (int i = 0; i < p->ndesc; i++) {
		const char *eq = strchr(p->desc[i], '=');
		int c =
		    eq ? category_index(&p->m, p->desc[i], (size_t)(eq - p->desc[i]), false) : -1;
		if (c < 0 || strlen(eq + 1) >= sizeof(p->m.categories[0].desc) ||
		    strchr(eq + 1, '"')) {
			fprintf(stderr,
			        "kidguard-feed: --description %s: want NAME=TEXT for a "
			        "--category NAME, under 128 bytes\n",
			        p->desc[i]);
			return -1;
		}
		memcpy(p->m.categories[c].desc, eq + 1, strlen(eq + 1) + 1);
	}
	return 0;
}

int feed_prepare(struct pub *p)
{
	if (apply_marks(p) != 0)
		return -1;
	for (int i = 0; i < p->nkey_files; i++) {
		if (!(p->keys[i] = feed_key_load(p->key_files[i], p->pubs[i])))
			return -1;
		p->nkeys++;
	}
	memcpy(p->m.feed, p->feed, strlen(p->feed) + 1);
	memcpy(p->m.report, p->report, strlen(p->report) + 1);
	p->m.created = (uint64_t)time(NULL);
	p->m.expires = p->m.created + p->expires_in;
	/* A new feed signs its freshness from the start (a mirror that replays the manifest must
	 * not keep appliances "fresh"); an existing feed keeps its setting (feed_load_prev). */
	p->m.timestamp_ttl = p->timestamp_ttl < 0   ? FEED_TIMESTAMP_TTL_DEFAULT
	                     : p->timestamp_ttl > 0 ? (uint64_t)p->timestamp_ttl
	                                            : 0;
	return 0;
}

int feed_load_prev(struct pub *p)
{
	char file[FEED_PATH_MAX];
	int rc;

	feed_path(file, p, FF_MANIFEST, 0, 0);
	rc = feed_load_manifest(p, file, &p->prev);
	if (rc == -ENOENT) {
		p->m.version = p->force_version ? p->force_version : 1;
		return RAND_bytes(p->m.hash_key, SY_HASH_KEY_LEN) == 1 ? 0 : -1;
	}
	if (rc != 0) {
		fprintf(stderr, "kidguard-feed: %s: %s (signed by none of the --key keys?)\n", file,
		        kg_strerror(rc));
		return -1;
	}
	p->have_prev = true;
	p->m.version = p->force_version ? p->force_version : p->prev.version + 1;
	if (p->m.version <= p->prev.version || p->m.version > UINT32_MAX) {
		fprintf(stderr, "kidguard-feed: version %llu is not above the published %llu\n",
		        (unsigned long long)p->m.version, (unsigned long long)p->prev.version);
		return -1;
	}
	memcpy(p->m.hash_key, p->prev.hash_key, SY_HASH_KEY_LEN);
	/* A feed keeps its signed timestamps unless told otherwise (--timestamp-ttl 0): dropping
	 * them silently would hand freshness back to what a mirror can replay. */
	if (p->timestamp_ttl < 0)
		p->m.timestamp_ttl = p->prev.timestamp_ttl;
	return 0;
}
