/*
 * kg_log: one-line log records on stderr, where journald (or the terminal) picks them up.
 *
 * The level is process-wide on purpose: every thread of every module writes to the same
 * stderr, and an operator sets one level in the config. Each record is written with a single
 * write(2), so lines from worker threads never interleave.
 */
#ifndef KG_LOG_H
#define KG_LOG_H

enum kg_log_level {
	KG_LOG_ERR = 0,
	KG_LOG_WARN = 1,
	KG_LOG_INFO = 2,
	KG_LOG_DEBUG = 3,
};

/* Set the highest level that is written. */
void kg_log_set_level(int level);
int kg_log_get_level(void);

/* Parse "error", "warning", "info" or "debug". Returns 0, or -1 when the name is unknown. */
int kg_log_level_parse(const char *name, int *level);

/* Prefix every record with this tag, e.g. "kidguard" or "kidguard-sync". `tag` is borrowed and
 * must outlive all logging (a string literal). */
void kg_log_set_tag(const char *tag);

void kg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* kg_log() whatever the level set: for lines that must not be lost to a quieter log level
 * (the HTTP API's audit log). */
void kg_log_always(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   kg_log(KG_LOG_ERR, __VA_ARGS__)
#define log_warn(...)  kg_log(KG_LOG_WARN, __VA_ARGS__)
#define log_info(...)  kg_log(KG_LOG_INFO, __VA_ARGS__)
#define log_debug(...) kg_log(KG_LOG_DEBUG, __VA_ARGS__)

/*
 * Rate-limited records, for what can repeat once per query (a failing store under load would
 * otherwise write a line per query): at most one record per `every_s` seconds per call site;
 * the next record written says how many were suppressed. Safe from any thread.
 */
struct kg_log_limit {
	_Atomic long long next_ms;       /* monotonic ms before which records are suppressed */
	_Atomic unsigned long long held; /* records suppressed since the last one written */
};

void kg_log_limited(struct kg_log_limit *l, int every_s, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One static limit per call site. */
#define log_every(every_s, level, ...)                                                             \
	do {                                                                                       \
		static struct kg_log_limit kg__limit_;                                             \
		kg_log_limited(&kg__limit_, (every_s), (level), __VA_ARGS__);                      \
	} while (0)

#endif
