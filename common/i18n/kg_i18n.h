/*
 * kgi18n: message catalogues compiled into a program, and the choice of a language. Shared by
 * the appliance's dashboard and pages (resolver/http) and the publisher's Desk page
 * (tools/desk), so that both negotiate a language and fall back the same way.
 *
 * A catalogue is a flat JSON object {"key": "text"} per language, compiled in by
 * embed_i18n.cmake (next to this file) as an array of struct kg_i18n_src. Keys starting with
 * '@' describe the language ("@lang", "@name"). After kg_i18n_load() the catalogues are only
 * read: any number of threads may use them without a lock.
 */
#ifndef KG_I18N_H
#define KG_I18N_H

#include <stddef.h>

#define KG_I18N_MAX 8 /* languages */

/* One compiled-in catalogue (generated): language code and its JSON text. */
struct kg_i18n_src {
	const char *code;
	const char *json; /* NUL-terminated, `len` bytes */
	size_t len;
};

struct cJSON;
struct kg_i18n {
	int n, en; /* languages; the index of English, the fallback */
	struct {
		char code[8];
		struct cJSON *msgs; /* owned */
	} lang[KG_I18N_MAX];
};

/* Parse `n` catalogues `srcs` (borrowed; must outlive nothing: the text is copied) into `c`.
 * A catalogue that does not parse is logged and left out (the build checks them: it means a
 * broken build). 0, or -ENOENT when none parsed. Release with kg_i18n_free(). */
int kg_i18n_load(struct kg_i18n *c, const struct kg_i18n_src *srcs, int n);
void kg_i18n_free(struct kg_i18n *c);

/* Accept-Language (RFC 9110 12.5.4; `header` NUL-terminated, any bytes): the index in `codes`
 * (`n` lowercase primary language tags, borrowed) of the range with the highest q (q=0 never,
 * the first on a tie) whose primary subtag is one of them, or -1 when none is. */
int kg_i18n_accept_language(const char *header, const char *const *codes, int n);

/* The index of language `code`, or -1. */
int kg_i18n_find(const struct kg_i18n *c, const char *code);
/* The language of a page: `forced` when it names a catalogue (a config key or a flag; NULL,
 * "" or "auto": none), else the best match of `accept` (an Accept-Language header, may be
 * NULL), else English. */
int kg_i18n_pick(const struct kg_i18n *c, const char *forced, const char *accept);
/* The language a viewer chose on the page (`chosen`: its language switch, carried as a cookie
 * or ?lang=; NULL or unknown: none) when it names a catalogue, else kg_i18n_pick(). The
 * viewer's own choice beats the configured default: a parent whose phone speaks English can
 * still read Vietnamese, and the other way round. */
int kg_i18n_choose(const struct kg_i18n *c, const char *chosen, const char *forced,
                   const char *accept);
/* The code of language `lang` ("vi"); "en" for an index out of range. Static. */
const char *kg_i18n_code(const struct kg_i18n *c, int lang);
/* The text of `key` in `lang` exactly, or NULL when that catalogue lacks it. */
const char *kg_i18n_get(const struct kg_i18n *c, int lang, const char *key);
/* The text of `key` in `lang`, else in English, else the key itself (visible, and refused by
 * tests/i18n). Never NULL; valid until kg_i18n_free(). */
const char *kg_i18n_msg(const struct kg_i18n *c, int lang, const char *key);
/* The whole catalogue of `lang` (borrowed, valid until kg_i18n_free()), NULL out of range. */
const struct cJSON *kg_i18n_json(const struct kg_i18n *c, int lang);
/* A copy of catalogue `lang` for a page, with "@languages" ({code: the language's own
 * name}) for its language switch. Owned by the caller (cJSON_Delete); NULL when out of memory
 * or `lang` is out of range. */
struct cJSON *kg_i18n_page_json(const struct kg_i18n *c, int lang);
/* Which catalogue a URL path asks for: "/i18n.json" is `negotiated`, "/i18n/<code>.json" that
 * language; -1 for any other path or an unknown code. */
int kg_i18n_url(const struct kg_i18n *c, const char *url, int negotiated);

/*
 * The command line tools' human output (kidguard-ctl, kidguard-desk): GNU gettext, one text
 * domain "kidguard" (po/kidguard.pot, po/<lang>.po compiled by msgfmt at build time, installed
 * as <localedir>/<lang>/LC_MESSAGES/kidguard.mo). _() translates, N_() marks a string
 * translated later (tables). Machine output (--json, files, lines scripts read) is never
 * translated.
 */
#include <libintl.h>
#define _(s)  gettext(s)
#define N_(s) (s)

/* Call first in main(): messages in the user's language (LC_ALL, LC_MESSAGES, LANG, LANGUAGE,
 * also when that locale is not generated here); numbers stay in the C locale. The catalogue
 * of the build tree when KG_DEV_PATHS built one, else the installed one. */
void kg_i18n_gettext_init(void);

#endif
