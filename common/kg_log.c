#include "kg_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = KG_LOG_INFO;
static const char *log_tag = "kidguard";
static atomic_int log_prefix = -1; /* -1 until we know whether stderr is a terminal */

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void kg_log_set_level(int level)
{
	if (level < KG_LOG_ERR)
		level = KG_LOG_ERR;
	if (level > KG_LOG_DEBUG)
		level = KG_LOG_DEBUG;
	atomic_store(&log_level, level);
}

int kg_log_get_level(void)
{
	return atomic_load(&log_level);
}

void kg_log_set_tag(const char *tag)
{
	log_tag = tag;
}

int kg_log_level_parse(const char *name, int *level)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = i;
			return 0;
		}
	}
	if (strcmp(name, "warn") == 0 || strcmp(name, "err") == 0) {
		*level = name[0] == 'w' ? KG_LOG_WARN : KG_LOG_ERR;
		return 0;
	}
	return -1;
}

static void emit(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

void kg_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > atomic_load(&log_level))
		return;
	va_start(ap, fmt);
	emit(level, fmt, ap);
	va_end(ap);
}

void kg_log_always(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, fmt, ap);
	va_end(ap);
}

static void emit(int level, const char *fmt, va_list ap)
{
	char buf[1024];
	int n, m;

	if (level < 0 || level > KG_LOG_DEBUG)
		level = KG_LOG_ERR;
	/* "<N>" is the syslog priority prefix journald understands on stderr; a person at a
	 * terminal does not need it. */
	if (atomic_load(&log_prefix) < 0)
		atomic_store(&log_prefix, isatty(STDERR_FILENO) ? 0 : 1);
	if (atomic_load(&log_prefix))
		n = snprintf(buf, sizeof(buf), "<%d>%s: %s: ", 3 + level + (level > 1), log_tag,
		             level_names[level]);
	else
		n = snprintf(buf, sizeof(buf), "%s: %s: ", log_tag, level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, (size_t)n);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kg_log_limited(struct kg_log_limit *l, int every_s, int level, const char *fmt, ...)
{
	char msg[900];
	long long now, next;
	unsigned long long held;
	va_list ap;

	if (level > atomic_load(&log_level))
		return;
	now = mono_ms();
	next = atomic_load(&l->next_ms);
	/* One thread wins the slot; the others count themselves as suppressed. */
	if ((next != 0 && now < next) ||
	    !atomic_compare_exchange_strong(&l->next_ms, &next, now + (long long)every_s * 1000)) {
		atomic_fetch_add(&l->held, 1);
		return;
	}
	held = atomic_exchange(&l->held, 0);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (held)
		kg_log(level, "%s (%llu more like this not logged since the last one)", msg, held);
	else
		kg_log(level, "%s", msg);
}
