/*
 * Fuzz target: rs_config_load_string over the defaults. When a text loads, its printed form
 * must load again and print the same (the round trip `kidguard -n -v` relies on).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rs.h"

static struct rs_config base;

static void init_base(void)
{
	static bool done;

	if (done)
		return;
	rs_config_defaults(&base); /* reads /etc/resolv.conf once, not per input */
	kg_sockaddr_parse("192.0.2.53", 53, &base.upstream[0]);
	base.n_upstream = 1;
	done = true;
}

static char *print(const struct rs_config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	FUZZ_CHECK(f != NULL);
	rs_config_print(c, f);
	FUZZ_CHECK(fclose(f) == 0);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rs_config a, b;
	char err[512], err2[512];
	char *text, *printed, *again = NULL;
	int rc;

	init_base();
	if (size > 64 * 1024)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	a = base;
	err[0] = '\0';
	rc = rs_config_load_string(text, "fuzz.conf", &a, err, sizeof(err));
	free(text);
	if (rc != 0) {
		FUZZ_CHECK(rc == RS_EINVAL || rc == RS_ENOMEM);
		FUZZ_CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	/* Compared as printed text: bytes after a string's NUL differ harmlessly (a shorter
	 * second value leaves the tail of the first), and new fields need no harness change. */
	printed = print(&a);
	b = base;
	b.n_upstream = 0; /* the print must carry them */
	rc = rs_config_load_string(printed, "fuzz.conf", &b, err2, sizeof(err2));
	/* Secrets are printed as "(not shown)" by design: carry them over. */
	memcpy(b.http_token, a.http_token, sizeof(b.http_token));
	memcpy(b.http_tokens, a.http_tokens, sizeof(b.http_tokens));
	b.n_http_tokens = a.n_http_tokens;
	if (rc == 0)
		again = print(&b);
	if (rc != 0 || strcmp(printed, again) != 0) {
		fprintf(stderr, "round trip failed (%d: %s); printed:\n%s\nre-printed:\n%s\n", rc,
		        err2, printed, again ? again : "");
		abort();
	}
	free(again);
	free(printed);
	return 0;
}
