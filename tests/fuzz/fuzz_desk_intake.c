/*
 * Fuzz target: the desk's intake parsers (tools/desk/dk_intake.c), what anyone on the internet
 * may POST to kidguard-desk serve. The first byte picks the parser: even, POST /signal; odd,
 * POST /report; the rest is the body (not NUL-terminated: the parsers take a length).
 *
 * What a parser accepts must be what the store can take as it is: names that normalise to
 * themselves and fit their buffers, sorted without duplicates, finite counts within the bound,
 * a day that formats back to a date the parser accepts. A refusal leaves nothing to free.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "dk.h"
#include "fuzz.h"

static void check_name(const char *name)
{
	char again[DK_DOMAIN_MAX];

	FUZZ_CHECK(strnlen(name, DK_DOMAIN_MAX) < DK_DOMAIN_MAX);
	FUZZ_CHECK(dk_name_check(name, again) == 0);
	FUZZ_CHECK(strcmp(name, again) == 0);
}

static void signal_body(const char *body, size_t len)
{
	struct dk_batch b = {0};
	char why[160], day[11];
	uint32_t d;

	if (dk_parse_signal(body, len, &b, why, sizeof(why)) != 0) {
		FUZZ_CHECK(b.obs == NULL && why[0] != '\0');
		return;
	}
	FUZZ_CHECK(b.n <= DK_BATCH_DOMAINS_MAX && (b.n == 0) == (b.obs == NULL) && b.k >= 1 &&
	           b.epsilon > 0);
	FUZZ_CHECK(strnlen(b.software, DK_SOFTWARE_MAX) < DK_SOFTWARE_MAX);
	dk_day_format(b.day, day);
	FUZZ_CHECK(dk_day_parse(day, &d) == 0 && d == b.day);
	for (size_t i = 0; i < b.n; i++) {
		check_name(b.obs[i].domain);
		FUZZ_CHECK(isfinite(b.obs[i].count) && fabs(b.obs[i].count) <= DK_COUNT_MAX);
		FUZZ_CHECK(i == 0 || strcmp(b.obs[i - 1].domain, b.obs[i].domain) < 0);
	}
	dk_batch_free(&b);
}

static void report_body(const char *body, size_t len)
{
	struct dk_report r;
	char why[160];

	memset(&r, 0xa5, sizeof(r));
	if (dk_parse_report(body, len, &r, why, sizeof(why)) != 0) {
		FUZZ_CHECK(why[0] != '\0');
		return;
	}
	FUZZ_CHECK(r.kind == DK_REPORT_WRONG_BLOCK || r.kind == DK_REPORT_NOT_BLOCKED);
	check_name(r.domain);
	FUZZ_CHECK(strnlen(r.category, DK_REPORT_CAT_MAX) < DK_REPORT_CAT_MAX);
	FUZZ_CHECK(strnlen(r.software, DK_SOFTWARE_MAX) < DK_SOFTWARE_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		signal_body((const char *)data + 1, size - 1);
	else
		report_body((const char *)data + 1, size - 1);
	return 0;
}
