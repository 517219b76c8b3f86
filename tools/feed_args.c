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

/* DATE of --from: unix seconds, YYYY-MM-DD (00:00 UTC) or YYYY-MM-DDTHH:MM:SSZ. */
static int parse_date(const char *v, uint64_t *out)
{
	struct tm tm;
	const char *end;
	char *e;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (strchr(v, '-')) {
		end = strptime(v, "%Y-%m-%d", &tm);
		if (end && *end == 'T')
			end = strptime(end, "T%H:%M:%SZ", &tm);
		if (!end || *end || (t = timegm(&tm)) < 0)
			return -1;
		*out = (uint64_t)t;
		return 0;
	}
	errno = 0;
	*out = strtoull(v, &e, 10);
	return errno || e == v || *e || *out > (1ULL << 53) ? -1 : 0;
}

/* --announce-key PUBKEY: a successor key; its --from follows. */
static int add_announce(struct pub *p, const char *key)
{
	if (p->nannounce == SY_NEXT_KEYS_MAX || (p->nannounce > 0 && !p->announce_dated) ||
	    sy_key_decode(key, p->announce[p->nannounce].key) != 0)
		return -1;
	p->nannounce++;
	p->announce_dated = false;
	return 0;
}

/* The manifest's next_keys: the previous version's, then --announce-key (a key given again
 * gets the new date). */
static int merge_announce(struct pub *p)
{
	if (p->have_prev) {
		p->m.n_next_keys = p->prev.n_next_keys;
		memcpy(p->m.next_keys, p->prev.next_keys, sizeof(p->m.next_keys));
	}
	for (int i = 0; i < p->nannounce; i++) {
		int j = 0;
		while (j < p->m.n_next_keys &&
		       memcmp(p->m.next_keys[j].key, p->announce[i].key, SY_KEY_LEN) != 0)
			j++;
		if (j == SY_NEXT_KEYS_MAX) {
			fprintf(stderr, "kidguard-feed: more than %d announced keys\n",
			        SY_NEXT_KEYS_MAX);
			return -1;
		}
		p->m.next_keys[j] = p->announce[i];
		if (j == p->m.n_next_keys)
			p->m.n_next_keys++;
	}
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
	                                   {"announce-key", 1, NULL, 'A'},
	                                   {"from", 1, NULL, 'F'},
	                                   {"signal", 1, NULL, 'S'},
	                                   {"category-name", 1, NULL, 'N'},
	                                   {"child-safe", 1, NULL, 'X'},
	                                   {NULL, 0, NULL, 0}};
	int c, bad = 0;

	p->feed = "national";
	p->report = "";
	p->signal = "";
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
		case 'N':
			bad = add_ptr(p->names, &p->nnames, SY_CAT_NAMES_MAX, optarg);
			break;
		case 'X':
			bad = add_ptr(p->safe, &p->nsafe, SY_CATEGORIES_MAX, optarg);
			break;
		case 'f':
			p->feed = optarg;
			break;
		case 'r':
			p->report = optarg;
			break;
		case 'S':
			p->signal = optarg;
			bad = optarg[0] && strncmp(optarg, "https://", 8) != 0;
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
		case 'A':
			bad = add_announce(p, optarg);
			break;
		case 'F':
			bad = p->nannounce == 0 || p->announce_dated ||
			      parse_date(optarg, &p->announce[p->nannounce - 1].from) != 0;
			p->announce_dated = true;
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
	if (!bad && p->nannounce > 0 && !p->announce_dated) {
		fprintf(stderr, "kidguard-feed: --announce-key needs --from DATE after it\n");
		bad = 1;
	}
	if (bad || !p->dir || p->nkey_files == 0 || p->nlists == 0 || p->expires_in == 0 ||
	    p->keep < 0 || p->keep > SY_DELTAS_MAX || strlen(p->feed) >= sizeof(p->m.feed) ||
	    strlen(p->report) >= sizeof(p->m.report) ||
	    strlen(p->signal) >= sizeof(p->m.signal_url)) {
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

/* --category-name NAME:LANG=TEXT: the category's name in that language (a built-in or a
 * --category NAME; TEXT UTF-8, under 128 bytes, no control characters). */
static int apply_names(struct pub *p)
{
	for (int i = 0; i < p->nnames; i++) {
		const char *s = p->names[i], *colon = strchr(s, ':'), *eq = strchr(s, '=');
		struct sy_cat_name *cn = &p->m.cat_names[i];
		size_t nl = colon ? (size_t)(colon - s) : 0,
		       ll = colon && eq > colon ? (size_t)(eq - colon - 1) : 0;
		bool ok = nl > 0 && nl < sizeof(cn->name) &&
		          strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == nl && ll >= 2 &&
		          ll <= 3 && strspn(colon + 1, "abcdefghijklmnopqrstuvwxyz") == ll &&
		          eq[1] && strlen(eq + 1) < sizeof(cn->text);
		for (const char *t = ok ? eq + 1 : ""; *t && ok; t++)
			ok = (unsigned char)*t >= 0x20 && *t != 0x7f;
		for (int j = 0; j < i && ok; j++)
			ok = !(strncmp(p->m.cat_names[j].name, s, nl) == 0 &&
			       !p->m.cat_names[j].name[nl] &&
			       strncmp(p->m.cat_names[j].lang, colon + 1, ll) == 0 &&
			       !p->m.cat_names[j].lang[ll]);
		if (!ok) {
			fprintf(
			    stderr,
			    "kidguard-feed: --category-name %s: want NAME:LANG=TEXT (LANG two or "
			    "three letters, TEXT under 128 bytes), once per NAME and LANG\n",
			    s);
			return -1;
		}
		memcpy(cn->name, s, nl);
		memcpy(cn->lang, colon + 1, ll);
		memcpy(cn->text, eq + 1, strlen(eq + 1) + 1);
	}
	p->m.n_cat_names = p->nnames;
	return 0;
}

static int apply_marks(struct pub *p)
{
	if (apply_names(p) != 0)
		return -1;
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
	memcpy(p->m.signal_url, p->signal, strlen(p->signal) + 1);
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
	rc = feed_load_manifest(p, SY_PAYLOAD_TYPE, file, &p->prev);
	if (rc == -ENOENT) {
		p->m.version = p->force_version ? p->force_version : 1;
		if (merge_announce(p) != 0)
			return -1;
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
	return merge_announce(p);
}
