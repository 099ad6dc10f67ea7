/* Leveled logging to a file, syslog or stderr.  Never to stdout. */
#ifndef TARDIS_LOG_H
#define TARDIS_LOG_H

#include <stddef.h>

enum tardis_log_level {
	TARDIS_LOG_ERROR = 0,
	TARDIS_LOG_WARN,
	TARDIS_LOG_INFO,
	TARDIS_LOG_DEBUG,
};

/* target: NULL or "" = stderr, "syslog", or a file path (appended). */
int tardis_log_open(const char *ident, const char *target, int level);
void tardis_log_close(void);
int tardis_log_level_parse(const char *s);
const char *tardis_log_level_name(int level);
int tardis_log_enabled(int level);
/* 1 when the last `tail` bytes of the log file hold needle, 0 when not,
 * -1 when the log is not a file (stderr, syslog) or cannot be read. */
int tardis_log_tail_contains(const char *needle, size_t tail);
/* The last `tail` bytes of the log file, NUL-terminated (*out owned by
 * the caller): 0, or -1 as above. */
int tardis_log_tail_read(size_t tail, char **out, size_t *len);
void tardis_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Lines this thread logs from begin to end are written together, in one
 * write at the end (and whenever 32 KiB are waiting): a burst's records'
 * lines, one system call a batch instead of one a line. */
void tardis_log_batch_begin(void);
void tardis_log_batch_end(void);

#define log_error(...) tardis_log(TARDIS_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) tardis_log(TARDIS_LOG_WARN, __VA_ARGS__)
#define log_info(...) tardis_log(TARDIS_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                      \
	do {                                                \
		if (tardis_log_enabled(TARDIS_LOG_DEBUG))   \
			tardis_log(TARDIS_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
