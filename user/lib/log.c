#include "log.h"
#include "util.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static struct {
	int level;
	int fd;          /* -1: syslog */
	int own_fd;
	char ident[32];
	char path[4096]; /* the log file, "" when stderr or syslog */
} logger = { .level = TARDIS_LOG_INFO, .fd = 2 };

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int tardis_log_level_parse(const char *s)
{
	if (!s)
		return -1;
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "warning") == 0)
		return TARDIS_LOG_WARN;
	return -1;
}

const char *tardis_log_level_name(int level)
{
	return (level >= 0 && level < 4) ? level_names[level] : "?";
}

int tardis_log_open(const char *ident, const char *target, int level)
{
	tardis_log_close();
	snprintf(logger.ident, sizeof(logger.ident), "%s", ident ? ident : "tardis");
	if (level >= 0)
		logger.level = level;
	if (!target || !*target || strcmp(target, "stderr") == 0) {
		logger.fd = 2;
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		openlog(logger.ident, LOG_PID, LOG_DAEMON);
		logger.fd = -1;
		return 0;
	}
	logger.fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (logger.fd < 0) {
		logger.fd = 2;
		return -1;
	}
	logger.own_fd = 1;
	snprintf(logger.path, sizeof(logger.path), "%s", target);
	return 0;
}

void tardis_log_close(void)
{
	if (logger.own_fd && logger.fd >= 0)
		close(logger.fd);
	if (logger.fd == -1)
		closelog();
	logger.fd = 2;
	logger.own_fd = 0;
	logger.path[0] = '\0';
}

int tardis_log_enabled(int level)
{
	return level <= logger.level;
}

/* A batch of lines (tardis_log_batch_begin/end), this thread's: written
 * at its end, or when it fills, in one write.  Its buffer lives for the
 * batch only (a thread's own, kept, would outlive the thread). */
#define LOG_BATCH_MAX (32u << 10)
static __thread struct {
	size_t len;
	char *buf; /* NULL: no batch */
} batch;

static void batch_flush(void)
{
	size_t len = batch.len;

	batch.len = 0;
	if (len && logger.fd >= 0 && write(logger.fd, batch.buf, len) < 0)
		return; /* as a line's own write: nowhere to say so */
}

void tardis_log_batch_begin(void)
{
	if (!batch.buf)
		batch.buf = malloc(LOG_BATCH_MAX);
}

void tardis_log_batch_end(void)
{
	batch_flush();
	free(batch.buf);
	batch.buf = NULL;
}

void tardis_log(int level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[2048], line[2300];
	int64_t now;
	time_t sec;
	struct tm tm;
	va_list ap;
	int n;

	if (!tardis_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One event, one line: a newline or an escape sequence in what is
	 * logged (a container id as given, a runc message) cannot forge lines
	 * or reach the terminal of whoever reads the log. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (logger.fd == -1) {
		syslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], "%s", msg);
		return;
	}
	now = time_realtime_ns();
	sec = (time_t)(now / 1000000000);
	gmtime_r(&sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s[%d] %s: %s\n",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (long)(now % 1000000000) / 1000, logger.ident, (int)getpid(),
		     tardis_log_level_name(level), msg);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (batch.buf) {
		if (batch.len + (size_t)n > LOG_BATCH_MAX)
			batch_flush();
		memcpy(batch.buf + batch.len, line, (size_t)n);
		batch.len += (size_t)n;
		return;
	}
	/* One write per line (or batch): O_APPEND keeps concurrent writers'
	 * lines whole. */
	if (write(logger.fd, line, n) < 0)
		return;
}

int tardis_log_tail_read(size_t tail, char **out, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	off_t off;
	int fd;

	*out = NULL;
	*len = 0;
	if (!logger.path[0])
		return -1;
	fd = open(logger.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(buf = malloc(tail + 1))) {
		close(fd);
		return -1;
	}
	off = st.st_size > (off_t)tail ? st.st_size - (off_t)tail : 0;
	n = pread(fd, buf, tail, off);
	close(fd);
	if (n < 0) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return 0;
}

int tardis_log_tail_contains(const char *needle, size_t tail)
{
	char *buf;
	size_t n;
	int found;

	if (tardis_log_tail_read(tail, &buf, &n) < 0)
		return -1;
	found = n > 0 && memmem(buf, n, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}
