/*
 * The command line tools' messages (kg_i18n.h): GNU gettext, text domain "kidguard", one
 * catalogue for kidguard-ctl and kidguard-desk (po/). Moved here from kidguard-ctl so that both
 * tools pick a language the same way.
 */
#include "kg_i18n.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef KG_LOCALEDIR
#define KG_LOCALEDIR "/usr/share/locale"
#endif
#ifndef KG_BUILD_LOCALEDIR
#define KG_BUILD_LOCALEDIR ""
#endif

/*
 * Only LC_MESSAGES and LC_CTYPE follow the environment: numbers keep the C locale's '.', so
 * --json and the counts scripts read do not change with the user's language. When the user's
 * locale is not generated on this machine (no locales package, common on appliances),
 * setlocale fails; glibc then still translates under C.UTF-8 when LANGUAGE names the
 * language, so we set it from LC_ALL, LC_MESSAGES or LANG ("vi_VN.UTF-8" -> "vi_VN").
 */
void kg_i18n_gettext_init(void)
{
	static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};
	char probe[sizeof(KG_BUILD_LOCALEDIR) + 48], lang[64];
	const char *dir = KG_LOCALEDIR, *v = NULL;

	setlocale(LC_CTYPE, "");
	if (!setlocale(LC_MESSAGES, "")) {
		for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]) && !(v && v[0]); i++)
			v = getenv(vars[i]);
		setlocale(LC_CTYPE, "C.UTF-8");
		if (v && v[0] && setlocale(LC_MESSAGES, "C.UTF-8") && !getenv("LANGUAGE")) {
			snprintf(lang, sizeof(lang), "%.*s", (int)strcspn(v, ".@"), v);
			setenv("LANGUAGE", lang, 0);
		}
	}
	/* A build from a checkout uses its own freshly compiled catalogues. */
	snprintf(probe, sizeof(probe), "%s/vi/LC_MESSAGES/kidguard.mo", KG_BUILD_LOCALEDIR);
	if (KG_BUILD_LOCALEDIR[0] && access(probe, R_OK) == 0)
		dir = KG_BUILD_LOCALEDIR;
	bindtextdomain("kidguard", dir);
	bind_textdomain_codeset("kidguard", "UTF-8");
	textdomain("kidguard");
}
