/*
 * Features of a domain name for the classifier (dk_model.h): all of them come from the
 * registrable domain, because that is what the appliances' signal counts and what a feed
 * entry usually names.
 *
 *   t:SUFFIX       the public suffix ("com", "com.vn", "bet")
 *   k:WORD         a keyword of the list below found anywhere in the label: Vietnamese words
 *                  run together without their diacritics ("cado" = cá độ, betting) and English
 *                  ones, because site names glue words ("xosomienbac", "freeporntube")
 *   w:PIECE        the label's pieces split at '-' and at letter/digit boundaries
 *   g:NGRAM        character 3..5-grams of "^label$" (the anchors mark the label's ends)
 *
 * Each string is hashed (FNV-1a 64) into 1..DK_DIMS; collisions add up. The vector is
 * L2-normalised so that long names do not weigh more.
 */
#include "dk_model.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bl.h"

#define NAME_MAX_LEN 253

/* Words that mark adult, gambling or drug sites, English and Vietnamese (without tones). */
static const char *const keywords[] = {
    /* adult */
    "sex", "porn", "xxx", "adult", "nude", "naked", "milf", "teen", "cam", "fuck", "pussy", "dick",
    "cock", "boob", "tits", "anal", "erotic", "escort", "fetish", "hentai", "jav", "gay", "lesbian",
    "strip", "hot", "girl", "babe", "slut", "bdsm", "nsfw", "18", "69", "phim", "nguoilon",
    "phimsex", "clipsex", "gaixinh", "gaigoi", "chich", "dam", "heo", "sexy", "tube", "video",
    "cum", "horny", "webcam",
    /* gambling */
    "casino", "bet", "poker", "slot", "lotto", "lottery", "gamble", "gambl", "jackpot", "roulette",
    "baccarat", "blackjack", "bingo", "spin", "win", "odds", "sportsbook", "wager", "bong",
    "bongda", "cado", "lode", "xoso", "nhacai", "keo", "taixiu", "danhbai", "gamebai", "nohu",
    "xocdia", "soicau", "w88", "fb88", "188", "789", "888", "vip", "club",
    /* drugs */
    "weed", "cannabis", "kush", "vape", "smoke", "seed", "cbd", "thc", "pharma", "pill", "drug",
    "mushroom", "shroom", "grow", "hemp", "tobacco", "ketamine", NULL};

static int normalise(const char *name, char *out, size_t len)
{
	size_t n = strlen(name), o = 0;

	while (n && name[n - 1] == '.')
		n--;
	if (n == 0 || n > NAME_MAX_LEN || n >= len)
		return n >= len && n <= NAME_MAX_LEN ? -ENOSPC : -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_'))
			return -EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

int dk_registrable(const char *name, char *out, size_t len)
{
	char buf[NAME_MAX_LEN + 1];
	const char *reg;
	int rc;

	if (!name || !out)
		return -EINVAL;
	rc = normalise(name, buf, sizeof(buf));
	if (rc)
		return rc;
	reg = bl_name_registrable(buf);
	if (!reg)
		reg = buf;
	if (strlen(reg) >= len)
		return -ENOSPC;
	memcpy(out, reg, strlen(reg) + 1);
	return 0;
}

static int hash_index(const char *prefix, const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = prefix; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
	return (int)(h % DK_DIMS) + 1;
}

struct fv {
	struct dk_feature *f;
	size_t n, max;
};

static void add(struct fv *v, const char *prefix, const char *s, size_t n)
{
	if (v->n < v->max)
		v->f[v->n++] = (struct dk_feature){hash_index(prefix, s, n), 1.0};
}

static int by_index(const void *a, const void *b)
{
	int x = ((const struct dk_feature *)a)->index, y = ((const struct dk_feature *)b)->index;
	return (x > y) - (x < y);
}

static void add_pieces(struct fv *v, const char *label, size_t n)
{
	size_t start = 0;

	for (size_t i = 1; i <= n; i++) {
		bool end = i == n || label[i] == '-' || label[i] == '_' ||
		           ((label[i] >= '0' && label[i] <= '9') !=
		            (label[i - 1] >= '0' && label[i - 1] <= '9'));
		if (!end)
			continue;
		while (start < i && (label[start] == '-' || label[start] == '_'))
			start++;
		if (i > start)
			add(v, "w:", label + start, i - start);
		start = i;
	}
}

static void add_ngrams(struct fv *v, const char *label, size_t n)
{
	char a[NAME_MAX_LEN + 3];

	a[0] = '^';
	memcpy(a + 1, label, n);
	a[n + 1] = '$';
	for (size_t g = 3; g <= 5; g++)
		for (size_t i = 0; i + g <= n + 2; i++)
			add(v, "g:", a + i, g);
}

int dk_features(const char *domain, struct dk_feature *out, size_t max, size_t *n)
{
	char reg[NAME_MAX_LEN + 1];
	const char *dot;
	struct fv v = {out, 0, max};
	size_t label_len, k = 0;
	double norm = 0;

	if (!out || !n || dk_registrable(domain, reg, sizeof(reg)) != 0)
		return -EINVAL;
	dot = strchr(reg, '.');
	label_len = dot ? (size_t)(dot - reg) : strlen(reg);
	if (dot)
		add(&v, "t:", dot + 1, strlen(dot + 1));
	for (const char *const *kw = keywords; *kw; kw++) {
		size_t kl = strlen(*kw);
		for (size_t i = 0; i + kl <= label_len; i++)
			if (memcmp(reg + i, *kw, kl) == 0) {
				add(&v, "k:", *kw, kl);
				break;
			}
	}
	add_pieces(&v, reg, label_len);
	add_ngrams(&v, reg, label_len);
	if (v.n > 1)
		qsort(out, v.n, sizeof(*out), by_index);
	for (size_t i = 0; i < v.n; i++) {
		if (k && out[k - 1].index == out[i].index)
			out[k - 1].value += out[i].value;
		else
			out[k++] = out[i];
	}
	for (size_t i = 0; i < k; i++)
		norm += out[i].value * out[i].value;
	norm = sqrt(norm);
	for (size_t i = 0; i < k && norm > 0; i++)
		out[i].value /= norm;
	*n = k;
	return 0;
}
