#!/bin/bash
# Containers that serve (issue #17): tardis-runc driven directly, as
# containerd-shim-runc-v2 and direct runc users do, checkpoints a server
# container by each trigger available without containerd (`delete --force`,
# `checkpoint` + `resume`) and restores it on the next `create`:
#
#   - in a network namespace runc itself makes (`{"type":"network"}`),
#   - in one given by path (`ip netns add`, as Docker/Kubernetes give it),
#   - in the host's (no network namespace entry).
#
# The container runs busybox httpd (TCP, v4 and v6), a UDP echo server, a
# UNIX stream echo server with a client holding its connection, a socketpair
# between two processes, a pipe and a FIFO between processes, syslogd (UNIX
# datagram) and an in-memory counter.  After the restore: the counts go on
# and every server answers from inside, and from the host where it did before.
#
# Established TCP connections (a client in another network namespace holds
# one across the checkpoint): closed on restore by default (the client sees
# a reset), kept with TARDIS_TCP_ESTABLISHED=1.
#
# A fresh start in a path-given namespace after an image that was not
# restored finds CRIU's network lock removed (path-fallback).
#
# What this needs of tardis is docs/servers.md's "What tardis does": every
# checkpoint with --tcp-established; every restore with CRIU_CONFIG_FILE
# (tcp-close unless opted in; for a runc-made netns, tardis-runc as CRIU's
# action script, bringing lo up at setup-namespaces).  The rootfs FIFO case
# (fifo-rootfs) is a known gap of file fidelity, another issue: it runs only
# when SERVER_CASES names it.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/netns.sh
. "$ROOT/tests/lib/netns.sh"

# TARDIS_CRIU already set (e.g. vmtest: a distribution criu) wins.
CRIU=${TARDIS_CRIU:-$("$ROOT/scripts/build-criu.sh")} || { fail "no working CRIU"; summary; exit 1; }
export TARDIS_CRIU=$CRIU
export TARDIS_RUNC=$(command -v runc)
export TARDIS_LOG_FILE=$TMP/tardis-runc.log
export TARDIS_LOG_LEVEL=debug
SHIM=$BIN/tardis-runc

RROOT=$TMP/runc/ns1
NS=ns1
IMAGES=$TARDIS_STATE_DIR/checkpoints/$NS

on_cleanup 'for c in $(runc --root "$RROOT" list -q 2>/dev/null); do runc --root "$RROOT" delete -f "$c"; done'
on_cleanup 'for m in $(findmnt -rn -o TARGET | grep "^$TMP/" | sort -r); do umount -l "$m"; done'

# ---- a static helper: UDP, UNIX stream, socketpair, TCP client ----------
cat >"$TMP/sockhelper.c" <<'EOF'
/* sockhelper MODE ARGS: small servers and clients the busybox userland
 * lacks.  Every server keeps its state in memory only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void put(const char *path, long n) /* atomic: tmp + rename */
{
	char tmp[512];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		return;
	fprintf(f, "%ld\n", n);
	fclose(f);
	rename(tmp, path);
}

static int addr_of(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (void *)ss;
	struct sockaddr_in6 *a6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return AF_INET6;
	}
	return -1;
}

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);
	return sizeof(*sun);
}

static int readline_fd(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -1 : (int)n;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return (int)n;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(m, "udp-echo") && argc == 3) { /* v6 socket, v4 too */
		int s = socket(AF_INET6, SOCK_DGRAM, 0), off = 0;
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[2])) };
		long served = 0;

		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
		if (bind(s, (void *)&a, sizeof(a)) < 0)
			return perror("bind"), 1;
		for (;;) {
			char buf[256], out[320];
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t r = recvfrom(s, buf, sizeof(buf) - 1, 0, (void *)&from, &fl);

			if (r < 0)
				continue;
			buf[r] = 0;
			int n = snprintf(out, sizeof(out), "udp %ld %s", ++served, buf);
			sendto(s, out, n, 0, (void *)&from, fl);
		}
	}
	if (!strcmp(m, "udp-send") && argc == 5) { /* HOST PORT MSG: prints the reply */
		struct sockaddr_storage ss;
		socklen_t len;
		int fam = addr_of(argv[2], atoi(argv[3]), &ss, &len), s;
		struct timeval tv = { .tv_sec = 3 };
		char buf[320];
		ssize_t r;

		if (fam < 0 || (s = socket(fam, SOCK_DGRAM, 0)) < 0)
			return 2;
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (sendto(s, argv[4], strlen(argv[4]), 0, (void *)&ss, len) < 0)
			return perror("sendto"), 1;
		if ((r = recv(s, buf, sizeof(buf) - 1, 0)) < 0)
			return perror("recv"), 1;
		buf[r] = 0;
		printf("%s\n", buf);
		return 0;
	}
	if (!strcmp(m, "unix-echo") && argc == 3) { /* PATH: echoes lines, many clients */
		struct sockaddr_un sun;
		struct pollfd p[64];
		int n = 1, s = socket(AF_UNIX, SOCK_STREAM, 0);

		unlink(argv[2]);
		if (bind(s, (void *)&sun, unix_addr(argv[2], &sun)) < 0 || listen(s, 16) < 0)
			return perror("bind"), 1;
		p[0] = (struct pollfd){ .fd = s, .events = POLLIN };
		for (;;) {
			if (poll(p, n, -1) < 0)
				continue;
			if ((p[0].revents & POLLIN) && n < 64) {
				int c = accept(s, NULL, NULL);

				if (c >= 0)
					p[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
			}
			for (int i = 1; i < n; i++) {
				char buf[256];
				ssize_t r;

				if (!p[i].revents)
					continue;
				r = read(p[i].fd, buf, sizeof(buf));
				if (r <= 0 || write(p[i].fd, buf, r) != r) {
					close(p[i].fd);
					p[i--] = p[--n];
				}
			}
		}
	}
	if (!strcmp(m, "unix-send") && argc == 4) { /* PATH MSG: prints the echo */
		struct sockaddr_un sun;
		char buf[256];
		int s = socket(AF_UNIX, SOCK_STREAM, 0), r;

		if (connect(s, (void *)&sun, unix_addr(argv[2], &sun)) < 0)
			return perror("connect"), 1;
		dprintf(s, "%s\n", argv[3]);
		if ((r = readline_fd(s, buf, sizeof(buf))) <= 0)
			return 1;
		printf("%s", buf);
		return 0;
	}
	if (!strcmp(m, "unix-hold") && argc == 4) { /* PATH OUT: one connection, pings */
		struct sockaddr_un sun;
		char buf[256];
		long i = 0;
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		while (connect(s, (void *)&sun, unix_addr(argv[2], &sun)) < 0)
			usleep(50000);
		for (;;) {
			dprintf(s, "ping %ld\n", ++i);
			if (readline_fd(s, buf, sizeof(buf)) <= 0)
				return 1; /* the held connection broke */
			put(argv[3], i);
			usleep(100000);
		}
	}
	if (!strcmp(m, "pair") && argc == 3) { /* OUT: child counts, parent writes */
		int sv[2];
		char buf[64];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			return 1;
		if (fork() == 0) {
			long i = 0;

			close(sv[0]);
			for (;;) {
				dprintf(sv[1], "%ld\n", ++i);
				usleep(100000);
			}
		}
		close(sv[1]);
		while (readline_fd(sv[0], buf, sizeof(buf)) > 0)
			put(argv[2], atol(buf));
		return 1;
	}
	if (!strcmp(m, "tcp-send") && argc == 5) { /* HOST PORT MSG: prints the echo */
		struct sockaddr_storage ss;
		socklen_t len;
		struct timeval tv = { .tv_sec = 3 };
		char buf[256];
		int fam = addr_of(argv[2], atoi(argv[3]), &ss, &len), s;

		if (fam < 0 || (s = socket(fam, SOCK_STREAM, 0)) < 0)
			return 2;
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(s, (void *)&ss, len) < 0)
			return perror("connect"), 1;
		dprintf(s, "%s\n", argv[4]);
		if (readline_fd(s, buf, sizeof(buf)) <= 0)
			return 1;
		printf("%s", buf);
		return 0;
	}
	if (!strcmp(m, "tcp-hold") && argc == 5) {
		/* HOST PORT DIR: connects, checks an echo, writes DIR/first; waits
		 * for DIR/go, sends again and writes DIR/result: "echo", "reset",
		 * "eof" or "error: ..." (a 10 s timeout counts as an error). */
		struct sockaddr_storage ss;
		socklen_t len;
		struct timeval tv = { .tv_sec = 10 };
		char buf[256], path[512];
		int fam = addr_of(argv[2], atoi(argv[3]), &ss, &len), s, r;
		struct stat st;
		FILE *f;

		if (fam < 0 || (s = socket(fam, SOCK_STREAM, 0)) < 0)
			return 2;
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(s, (void *)&ss, len) < 0)
			return perror("connect"), 1;
		dprintf(s, "one\n");
		r = readline_fd(s, buf, sizeof(buf));
		snprintf(path, sizeof(path), "%s/first", argv[4]);
		if ((f = fopen(path, "w"))) {
			fprintf(f, "%s", r > 0 ? buf : "none\n");
			fclose(f);
		}
		snprintf(path, sizeof(path), "%s/go", argv[4]);
		while (stat(path, &st) < 0)
			usleep(50000);
		errno = 0;
		if (dprintf(s, "two\n") < 0)
			r = -1;
		else
			r = readline_fd(s, buf, sizeof(buf));
		snprintf(path, sizeof(path), "%s/result", argv[4]);
		if ((f = fopen(path, "w"))) {
			if (r > 0 && !strcmp(buf, "two\n"))
				fprintf(f, "echo\n");
			else if (r == 0)
				fprintf(f, "eof\n");
			else if (errno == ECONNRESET || errno == EPIPE)
				fprintf(f, "reset\n");
			else
				fprintf(f, "error: %s\n", r > 0 ? "unexpected data" : strerror(errno));
			fclose(f);
		}
		return 0;
	}
	fprintf(stderr, "usage: sockhelper udp-echo PORT | udp-send HOST PORT MSG | "
			"unix-echo PATH | unix-send PATH MSG | unix-hold PATH OUT | pair OUT | "
			"tcp-send HOST PORT MSG | tcp-hold HOST PORT DIR\n");
	return 2;
}
EOF
HELPER=$TMP/sockhelper
cc -static -O2 -Wall -o "$HELPER" "$TMP/sockhelper.c" || { fail "cannot build the static socket helper"; summary; exit 1; }

# ---- the server container ---------------------------------------------
# Ports: fixed in the container's own namespaces, random in the host's.
HTTP=8080
UDP=8081
ECHO=8082
SERVER='mkdir -p /www; echo "hello from $(hostname)" > /www/index.html
httpd -p $HTTP -h /www
sockhelper udp-echo $UDP &
sockhelper unix-echo /data/echo.sock &
sockhelper unix-hold /data/echo.sock /data/hold &
sockhelper pair /data/pair &
nc -ll -p $ECHO -e cat &
syslogd -n -O /data/syslog &
rm -f /dev/shm/fifo; mkfifo /dev/shm/fifo
while read n; do echo $n > /data/.f; mv /data/.f /data/fifoed; done < /dev/shm/fifo &
j=0; while :; do j=$((j + 1)); echo $j; sleep 0.1; done > /dev/shm/fifo &
k=0; while :; do k=$((k + 1)); echo $k; sleep 0.1; done | while read n; do echo $n > /data/.p; mv /data/.p /data/piped; done &
i=0; while :; do i=$((i + 1)); echo $i > /data/.count; mv /data/.count /data/count; sleep 0.1; done'

LOWER=$TMP/lower
"$ROOT/scripts/rootfs.sh" "$LOWER" sh -c "$SERVER" >/dev/null
for a in httpd wget nc syslogd logger mkfifo mkdir hostname ip rm grep timeout; do
	ln -sf busybox "$LOWER/rootfs/bin/$a"
done
cp "$HELPER" "$LOWER/rootfs/bin/sockhelper"
mkdir -p "$LOWER/rootfs/data" "$LOWER/rootfs/www"

# Before 5.13 (no PTRACE_GET_RSEQ_CONFIGURATION; seen: 5.10) CRIU refuses
# a task that registered rseq, as glibc >= 2.35 does in every thread.
RSEQ_ENV=
if ! "$CRIU" check --feature get_rseq_conf >/dev/null 2>&1; then
	RSEQ_ENV='"GLIBC_TUNABLES=glibc.pthread.rseq=0", '
	echo "# kernel $(uname -r): CRIU cannot dump rseq (no PTRACE_GET_RSEQ_CONFIGURATION): the container runs with GLIBC_TUNABLES=glibc.pthread.rseq=0"
fi

make_bundle() { # make_bundle DIR HTTP UDP ECHO [jq filter]: fresh overlay rootfs
	local b=$1 f=${5:-.}
	mkdir -p "$b/rootfs" "$b.up" "$b.work"
	jq --arg http "$2" --arg udp "$3" --arg echo "$4" \
		".root.readonly = false | .process.env += [$RSEQ_ENV\"TARDIS_ENABLE=1\", \"HTTP=\" + \$http, \"UDP=\" + \$udp, \"ECHO=\" + \$echo] | $f" \
		"$LOWER/config.json" >"$b/config.json"
	mount -t overlay overlay -o "lowerdir=$LOWER/rootfs,upperdir=$b.up,workdir=$b.work" "$b/rootfs"
}
drop_bundle() {
	umount "$1/rootfs" 2>/dev/null
	rm -rf "$1" "$1.up" "$1.work"
}

shim() { "$SHIM" --root "$RROOT" "$@"; }
in_ct() { timeout 20 runc --root "$RROOT" exec "$@" </dev/null 2>/dev/null; }
val() { cat "$1" 2>/dev/null || echo 0; }
status_of() { runc --root "$RROOT" state "$1" 2>/dev/null | jq -r .status; }
# acheck DESCRIPTION COMMAND...: a check about the restored container; a
# fresh start (the restore failed) fails it whatever the command says.
RESTORED=0
acheck() {
	local what=$1
	shift
	if [ "$RESTORED" = 1 ] && "$@"; then ok "$what"; else fail "$what"; fi
}
# No busybox timeout inside (test_docker.sh says why): in_ct's guards it.
http_in() { in_ct "$1" wget -qO- "http://$2/" | grep -q "hello from"; }
# After a restore, once more a second later: under qemu's emulation (vmtest
# 5.10) the first wget through `runc exec` was once left unanswered, the
# next answered.
http_in_again() { http_in "$@" || { sleep 1 && http_in "$@"; }; }
http_host() { timeout 5 busybox wget -qO- "http://$1/" 2>/dev/null | grep -q "hello from"; }
udp_in() { in_ct "$1" sockhelper udp-send "$2" "$3" "$4"; }
# cat, not sh's read: a sysctl file answers a read at an offset other than 0
# with EOF, and busybox's read takes one byte at a time.
keepalive_of() { in_ct "$1" cat /proc/sys/net/ipv4/tcp_keepalive_time; }
ready() { # all the servers up and the counters running
	local b=$1
	[ "$(val "$b/rootfs/data/count")" -ge 5 ] && [ "$(val "$b/rootfs/data/hold")" -ge 3 ] &&
		[ "$(val "$b/rootfs/data/pair")" -ge 3 ] && [ "$(val "$b/rootfs/data/piped")" -ge 3 ] &&
		[ "$(val "$b/rootfs/data/fifoed")" -ge 3 ] && [ -e "$b/rootfs/data/syslog" ]
}

# A namespace given by path, reachable from the host through a veth pair.
NETNS=tardis-srv-$$
SUB=$(pick_subnet)
netns_to_host "$NETNS" "tsv$$h" "$SUB"
check "path-given netns $NETNS with $SUB.2 answers ping from the host" busybox ping -c1 -W2 "$SUB.2" >/dev/null

# server_case NAME NETMODE TRIGGER
#   NETMODE: own (runc-made netns) | path | host
#   TRIGGER: delete (delete --force) | checkpoint (checkpoint + resume, delete)
server_case() {
	local name=$1 mode=$2 trigger=$3 id=srv-$1 b=$TMP/$1 filter http=$HTTP udp=$UDP echo=$ECHO
	local host_addr="" v6=0 c1 h1 p1 pp1 f1 u1 u2 c2
	case $mode in
	own)
		# A net.* sysctl runc's init writes at create: the restore must
		# write it back into the new namespace too.
		filter='.linux.sysctl = {"net.ipv4.tcp_keepalive_time": "321"}'
		;;
	path)
		filter=".linux.namespaces |= map(if .type == \"network\" then .path = \"/var/run/netns/$NETNS\" else . end)"
		host_addr=$SUB.2
		;;
	host)
		filter='.linux.namespaces |= map(select(.type != "network"))'
		http=$(free_port) udp=$(free_port) echo=$(free_port)
		host_addr=127.0.0.1
		;;
	esac
	echo "# ---- $name: network $mode, trigger $trigger (http $http, udp $udp)"
	make_bundle "$b" "$http" "$udp" "$echo" "$filter"
	shim create --bundle "$b" --pid-file "$b/init.pid" "$id" </dev/null >/dev/null 2>&1 && shim start "$id"
	check "$name: created and started" [ "$(status_of "$id")" = running ]
	check "$name: every server up, every counter running" wait_for 20 ready "$b"
	check "$name: before: HTTP from inside (127.0.0.1)" http_in "$id" "127.0.0.1:$http"
	if in_ct "$id" ip -6 addr show lo | grep -q "::1"; then
		v6=1
		check "$name: before: HTTP from inside ([::1])" http_in "$id" "[::1]:$http"
	fi
	[ -z "$host_addr" ] || check "$name: before: HTTP from the host ($host_addr)" http_host "$host_addr:$http"
	[ "$mode" != own ] || check "$name: before: net.ipv4.tcp_keepalive_time from config.json (321)" \
		[ "$(keepalive_of "$id")" = 321 ]
	u1=$(udp_in "$id" 127.0.0.1 "$udp" x | awk '{print $2}')
	check "$name: before: UDP echo from inside (datagram ${u1:-none})" [ -n "$u1" ]
	check "$name: before: UNIX stream echo from inside" \
		bash -c '[ "$(in_ct "$1" sockhelper unix-send /data/echo.sock hi)" = hi ]' _ "$id"

	# The trigger.
	case $trigger in
	delete)
		check "$name: delete --force" shim delete --force "$id"
		;;
	checkpoint)
		check "$name: checkpoint (as containerd sends it)" \
			shim checkpoint --image-path "$TMP/ctr-img-$name" --work-path "$TMP/ctr-work-$name" --leave-running "$id"
		check "$name: resume answered 0" shim resume "$id"
		wait_for 10 bash -c '[ "$(runc --root "$1" state "$2" 2>/dev/null | jq -r .status)" != running ]' _ "$RROOT" "$id"
		shim delete "$id" 2>/dev/null # runc already destroyed it: "does not exist"
		;;
	esac
	check "$name: an image was published" [ -s "$IMAGES/$id/manifest.json" ]
	check "$name: the container is gone" [ -z "$(status_of "$id")" ]
	# Its connections close at the restore anyway: CRIU's lock, which would
	# cut off the whole shared namespace until then, goes with the dump.
	[ "$mode" != path ] || check "$name: CRIU's network lock lifted right after the dump" \
		bash -c '! criu_lock_left "$1"' _ "$NETNS"
	c1=$(val "$b/rootfs/data/count") h1=$(val "$b/rootfs/data/hold") p1=$(val "$b/rootfs/data/pair")
	pp1=$(val "$b/rootfs/data/piped") f1=$(val "$b/rootfs/data/fifoed")
	[ -z "$host_addr" ] || [ "$mode" = path ] ||
		check "$name: nothing answers on the host's port while it is away" bash -c '! http_host "$1"' _ "$host_addr:$http"
	drop_bundle "$b"

	# The same id created again on a fresh rootfs: restored.
	make_bundle "$b" "$http" "$udp" "$echo" "$filter"
	check "$name: create again" shim create --bundle "$b" --pid-file "$b/init.pid" "$id" </dev/null
	RESTORED=0
	grep -q "create $NS/$id: restored" "$TARDIS_LOG_FILE" && RESTORED=1
	check "$name: restored (not a fresh start)" [ $RESTORED = 1 ]
	[ $RESTORED = 1 ] || grep "create $NS/$id: restore failed" "$TARDIS_LOG_FILE" | sed 's/^/# /'
	check "$name: start answered 0" shim start "$id"
	check "$name: running" [ "$(status_of "$id")" = running ]
	sleep 0.5
	c2=$(val "$b/rootfs/data/count")
	acheck "$name: in-memory count continues ($c1 -> $c2)" wait_for 10 bash -c '[ "$(cat "$1" 2>/dev/null || echo 0)" -gt "$2" ]' _ "$b/rootfs/data/count" "$c1"
	acheck "$name: UNIX stream connection held across it: pings go on ($h1 -> ...)" \
		wait_for 10 bash -c '[ "$(cat "$1" 2>/dev/null || echo 0)" -gt "$2" ]' _ "$b/rootfs/data/hold" "$h1"
	acheck "$name: socketpair between two processes: count goes on ($p1 -> ...)" \
		wait_for 10 bash -c '[ "$(cat "$1" 2>/dev/null || echo 0)" -gt "$2" ]' _ "$b/rootfs/data/pair" "$p1"
	acheck "$name: pipe between two processes: count goes on ($pp1 -> ...)" \
		wait_for 10 bash -c '[ "$(cat "$1" 2>/dev/null || echo 0)" -gt "$2" ]' _ "$b/rootfs/data/piped" "$pp1"
	acheck "$name: FIFO between two processes: count goes on ($f1 -> ...)" \
		wait_for 10 bash -c '[ "$(cat "$1" 2>/dev/null || echo 0)" -gt "$2" ]' _ "$b/rootfs/data/fifoed" "$f1"
	acheck "$name: UNIX stream echo server answers a new client" \
		bash -c '[ "$(in_ct "$1" sockhelper unix-send /data/echo.sock again)" = again ]' _ "$id"
	in_ct "$id" logger "restored-$name"
	acheck "$name: syslogd (UNIX datagram /dev/log) receives" wait_for 5 grep -q "restored-$name" "$b/rootfs/data/syslog"
	acheck "$name: after: HTTP from inside (127.0.0.1)" http_in_again "$id" "127.0.0.1:$http"
	[ $v6 = 0 ] || acheck "$name: after: HTTP from inside ([::1])" http_in_again "$id" "[::1]:$http"
	[ -z "$host_addr" ] || acheck "$name: after: HTTP from the host ($host_addr)" http_host "$host_addr:$http"
	[ "$mode" != own ] || acheck "$name: after: lo is UP in the restored netns" \
		bash -c 'in_ct "$1" ip link show lo | grep -q "<LOOPBACK,UP"' _ "$id"
	[ "$mode" != own ] || acheck "$name: after: net.ipv4.tcp_keepalive_time written back (321)" \
		[ "$(keepalive_of "$id")" = 321 ]
	u2=$(udp_in "$id" 127.0.0.1 "$udp" y | awk '{print $2}')
	acheck "$name: after: UDP echo from inside, its count goes on (${u1:-none} -> ${u2:-none})" \
		[ "${u2:-0}" -gt "${u1:-0}" ]
	if [ "$mode" = host ]; then
		u2=$(timeout 5 "$HELPER" udp-send 127.0.0.1 "$udp" z 2>/dev/null | awk '{print $2}')
		acheck "$name: after: UDP echo from the host ($u2)" [ -n "$u2" ]
	fi
	if [ "$mode" = path ]; then
		u2=$(timeout 5 "$HELPER" udp-send "$SUB.2" "$udp" z 2>/dev/null | awk '{print $2}')
		acheck "$name: after: UDP echo from the host ($u2)" [ -n "$u2" ]
		acheck "$name: CRIU's network lock is gone from the path-given netns" bash -c '! criu_lock_left "$1"' _ "$NETNS"
	fi
	runc --root "$RROOT" delete -f "$id" >/dev/null 2>&1
	drop_bundle "$b"
}
export -f in_ct http_host criu_lock_left
export RROOT

# SERVER_CASES="own-delete est-close ..." runs only those (all by default).
want() { [ -z "${SERVER_CASES:-}" ] || [[ " $SERVER_CASES " == *" $1 "* ]]; }
for c in "own-delete own delete" "own-ckpt own checkpoint" "path-delete path delete" \
	"path-ckpt path checkpoint" "host-delete host delete" "host-ckpt host checkpoint"; do
	# shellcheck disable=SC2086
	want ${c%% *} && server_case $c
done

# ---- a path-given netns whose image is not restored: a fresh start ------
# CRIU's network lock (chain CRIU) stays in the namespace from the dump
# until a restore succeeds, for a container that keeps its connections
# (others have it lifted right after the dump: path-* cases).  When the
# image is skipped (here: invalid) or its restore fails, tardis removes the
# lock before the fresh start, or the new container would be cut off, even
# from 127.0.0.1 inside.
fallback_case() {
	local id=srv-path-fallback b=$TMP/path-fallback filter
	filter=".linux.namespaces |= map(if .type == \"network\" then .path = \"/var/run/netns/$NETNS\" else . end)"
	filter="$filter | .process.env += [\"TARDIS_TCP_ESTABLISHED=1\"]"
	echo "# ---- path-fallback: network path, image not restored"
	make_bundle "$b" "$HTTP" "$UDP" "$ECHO" "$filter"
	shim create --bundle "$b" --pid-file "$b/init.pid" "$id" </dev/null >/dev/null 2>&1 && shim start "$id"
	check "path-fallback: every server up" wait_for 20 ready "$b"
	check "path-fallback: delete --force" shim delete --force "$id"
	check "path-fallback: an image was published" [ -s "$IMAGES/$id/manifest.json" ]
	check "path-fallback: CRIU's network lock is in the netns after the dump" criu_lock_left "$NETNS"
	echo corrupt >>"$IMAGES/$id/inventory.img"
	drop_bundle "$b"
	make_bundle "$b" "$HTTP" "$UDP" "$ECHO" "$filter"
	shim create --bundle "$b" --pid-file "$b/init.pid" "$id" </dev/null >/dev/null 2>&1 && shim start "$id"
	check "path-fallback: the invalid image was skipped: a fresh start" \
		grep -q "create $NS/$id: image .* is invalid" "$TARDIS_LOG_FILE"
	check "path-fallback: tardis removed CRIU's network lock (logged)" \
		grep -q "create $NS/$id: removed CRIU's network lock from netns /var/run/netns/$NETNS" "$TARDIS_LOG_FILE"
	check "path-fallback: no CRIU chain left in the netns" bash -c '! criu_lock_left "$1"' _ "$NETNS"
	check "path-fallback: the fresh container's servers are up" wait_for 20 ready "$b"
	check "path-fallback: HTTP from inside (127.0.0.1)" http_in "$id" "127.0.0.1:$HTTP"
	check "path-fallback: HTTP from the host ($SUB.2)" http_host "$SUB.2:$HTTP"
	runc --root "$RROOT" delete -f "$id" >/dev/null 2>&1
	drop_bundle "$b"
}
want path-fallback && fallback_case

# ---- a FIFO on the container's rootfs (overlay upperdir) ---------------
# The FIFO above lives on /dev/shm (a tmpfs CRIU saves itself).  One made on
# the rootfs must come back from tardis's saved container files, or CRIU
# cannot reopen it ("Can't open fake fifo ... No such file or directory")
# and the whole restore fails.  A known gap of file fidelity (filediff does
# not save FIFOs; another issue): not in the default run, SERVER_CASES
# naming fifo-rootfs runs it (docs/servers.md).
FIFO_FIX="[known gap, not #17: filediff saves and applies no FIFOs (tar type 6)]"
fifo_case() {
	local id=fifo-rootfs b=$TMP/fifo-rootfs c1 restored=0
	echo "# ---- $id"
	make_bundle "$b" 0 0 0 '.process.args = ["sh", "-c", "rm -f /data/fifo; mkfifo /data/fifo; while read n; do echo $n > /data/.f; mv /data/.f /data/fifoed; done < /data/fifo & j=0; while :; do j=$((j + 1)); echo $j; sleep 0.1; done > /data/fifo"]'
	shim create --bundle "$b" --pid-file "$b/init.pid" "$id" </dev/null >/dev/null 2>&1 && shim start "$id"
	check "$id: counting through a FIFO on the rootfs" \
		wait_for 20 bash -c '[ "$(cat "$1" 2>/dev/null || echo 0)" -ge 5 ]' _ "$b/rootfs/data/fifoed"
	check "$id: delete --force" shim delete --force "$id"
	check "$id: an image was published" [ -s "$IMAGES/$id/manifest.json" ]
	c1=$(val "$b/rootfs/data/fifoed")
	drop_bundle "$b"
	make_bundle "$b" 0 0 0 '.process.args = ["sh", "-c", "rm -f /data/fifo; mkfifo /data/fifo; while read n; do echo $n > /data/.f; mv /data/.f /data/fifoed; done < /data/fifo & j=0; while :; do j=$((j + 1)); echo $j; sleep 0.1; done > /data/fifo"]'
	shim create --bundle "$b" --pid-file "$b/init.pid" "$id" </dev/null >/dev/null 2>&1 && shim start "$id"
	grep -q "create $NS/$id: restored" "$TARDIS_LOG_FILE" && restored=1
	check "$FIFO_FIX $id: restored (not a fresh start)" [ $restored = 1 ]
	check "$FIFO_FIX $id: the count through the FIFO goes on ($c1 -> ...)" bash -c '[ "$1" = 1 ] &&
		sleep 0.5 && [ "$(cat "$2" 2>/dev/null || echo 0)" -gt "$3" ]' _ $restored "$b/rootfs/data/fifoed" "$c1"
	runc --root "$RROOT" delete -f "$id" >/dev/null 2>&1
	drop_bundle "$b"
}
if [[ " ${SERVER_CASES:-} " == *" fifo-rootfs "* ]]; then
	fifo_case
else
	echo "# fifo-rootfs: known gap (filediff FIFOs, not #17), not run; SERVER_CASES=fifo-rootfs runs it"
fi

# ---- established TCP: a client in another netns holds a connection -----
# The server is in the path-given namespace; the client in a namespace of
# its own, wired to the server's by a second veth pair (no host routing).
CNETNS=tardis-cli-$$
CSUB=${SUB%.*}.$((${SUB##*.} + 1))
netns_client "$CNETNS" "$NETNS" "$CSUB" "tsc$$"
check "client netns $CNETNS reaches the server's netns ($CSUB.1)" \
	ip netns exec "$CNETNS" busybox ping -c1 -W2 "$CSUB.1" >/dev/null

# est_case NAME KEEP(0|1) [NODE]: NODE, the restore runs as another node
# (its own UTS namespace, hostname NODE): opted in or not, connections
# whose addresses stayed behind are closed, and the restore still succeeds.
est_case() {
	local name=$1 keep=$2 node=${3:-} id=est-$1 b=$TMP/est-$1 ctl=$TMP/ctl-$1 filter cpid res
	local as=()
	filter=".linux.namespaces |= map(if .type == \"network\" then .path = \"/var/run/netns/$NETNS\" else . end)"
	[ "$keep" = 0 ] || filter="$filter | .process.env += [\"TARDIS_TCP_ESTABLISHED=1\"]"
	[ -z "$node" ] || as=(unshare --uts sh -c 'hostname "$0" && exec "$@"' "$node")
	echo "# ---- established TCP: $name"
	make_bundle "$b" "$HTTP" "$UDP" "$ECHO" "$filter"
	shim create --bundle "$b" --pid-file "$b/init.pid" "$id" </dev/null >/dev/null 2>&1 && shim start "$id"
	check "$name: created and started" wait_for 20 ready "$b"
	mkdir -p "$ctl"
	ip netns exec "$CNETNS" "$HELPER" tcp-hold "$CSUB.1" "$ECHO" "$ctl" &
	cpid=$!
	on_cleanup "kill $cpid 2>/dev/null"
	check "$name: the client's connection echoes" wait_for 10 grep -sqx one "$ctl/first"
	check "$name: delete --force with an established connection" shim delete --force "$id"
	check "$name: an image was published" [ -s "$IMAGES/$id/manifest.json" ]
	drop_bundle "$b"
	make_bundle "$b" "$HTTP" "$UDP" "$ECHO" "$filter"
	"${as[@]}" "$SHIM" --root "$RROOT" create --bundle "$b" --pid-file "$b/init.pid" "$id" </dev/null >/dev/null 2>&1 &&
		shim start "$id"
	check "$name: restored" grep -q "create $NS/$id: restored" "$TARDIS_LOG_FILE"
	[ -z "$node" ] || check "$name: restored on $node: the log says its connections are closed" \
		grep -q "create $NS/$id: image made on node $(uname -n), not here" "$TARDIS_LOG_FILE"
	touch "$ctl/go"
	wait_for 15 test -s "$ctl/result"
	res=$(cat "$ctl/result" 2>/dev/null)
	wait "$cpid" 2>/dev/null
	if [ "$keep" = 1 ] && [ -z "$node" ]; then
		check "$name: the connection is kept: it still echoes (got: ${res:-nothing})" [ "$res" = echo ]
	else
		# Only meaningful if the container was restored (a killed one
		# resets the connection too).
		check "$name: restored, and the old connection was closed (got: ${res:-nothing})" \
			bash -c 'grep -q "create $1: restored" "$2" && { [ "$3" = reset ] || [ "$3" = eof ]; }' _ "$NS/$id" "$TARDIS_LOG_FILE" "$res"
	fi
	check "$name: a new connection from the client is served" \
		bash -c '[ "$(ip netns exec "$1" timeout 5 "$2" tcp-send "$3" "$4" new 2>/dev/null)" = new ]' _ "$CNETNS" "$HELPER" "$CSUB.1" "$ECHO"
	check "$name: CRIU's network lock is gone from the path-given netns" bash -c '! criu_lock_left "$1"' _ "$NETNS"
	runc --root "$RROOT" delete -f "$id" >/dev/null 2>&1
	drop_bundle "$b"
}
want est-close && est_case close-by-default 0
want est-keep && est_case kept-opt-in 1
want est-elsewhere && est_case opt-in-elsewhere 1 "tardis-other-$$"

summary
