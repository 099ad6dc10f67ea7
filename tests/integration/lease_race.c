/*
 * Two "nodes" race for one identity's lease through two mounts of one
 * shared directory (tests/test_cross_node_nfs.sh: two NFSv4 superblocks).
 *
 *   lease_race DIR_A DIR_B ROUNDS
 *
 * Each round: a fresh image path, the same file seen as DIR_A/... by racer
 * "node-a" and DIR_B/... by racer "node-b", two processes released at once
 * into lease_claim() (the create's policy: no record -> claim).  Exactly
 * one must be GRANTED, the other BUSY; afterwards the record read through
 * either mount names the winner, and the loser claiming again through its
 * own mount is still BUSY.  Prints one line per round and a summary;
 * exit 0 only when every round had one winner.  Each racer is bounded by
 * its own alarm (a hang is a failure).
 */
#include "lease.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WON = 10, BUSY = 11, ERR = 12 };

static int claim(const char *image, const char *node, char *why, size_t len)
{
	struct lease_claim c = { .node = node, .ns = "race", .id = "x", .timeout_s = 600 };
	struct lease out;

	switch (lease_claim(image, &c, NULL, &out, why, len)) {
	case LEASE_GRANTED:
		return WON;
	case LEASE_BUSY:
		return BUSY;
	default:
		return ERR;
	}
}

/* A racer: waits for the start (EOF on gate[0]), claims, exits WON/BUSY/ERR. */
static pid_t racer(const int gate[2], const char *image, const char *node)
{
	pid_t pid = fork();
	char why[512], c;
	int rc;

	if (pid != 0)
		return pid;
	alarm(60);
	close(gate[1]);
	while (read(gate[0], &c, 1) > 0)
		;
	rc = claim(image, node, why, sizeof(why));
	if (rc == ERR)
		fprintf(stderr, "%s: lease error: %s\n", node, why);
	_exit(rc);
}

static int verdict(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return ERR;
	return WEXITSTATUS(st);
}

/* One round; 0 when exactly one racer won and both mounts agree on it. */
static int round_once(const char *a, const char *b, int r)
{
	char ia[4096], ib[4096], dir[4096], why[512];
	const char *winner = NULL, *loser_image = NULL, *loser = NULL;
	struct lease la, lb;
	int gate[2], va, vb;
	pid_t pa, pb;

	snprintf(dir, sizeof(dir), "%s/race-%d-%d", a, (int)getpid(), r);
	if (mkdir(dir, 0755) < 0) {
		printf("round %d: mkdir %s: %s\n", r, dir, strerror(errno));
		return -1;
	}
	snprintf(ia, sizeof(ia), "%s/image", dir);
	snprintf(ib, sizeof(ib), "%s/race-%d-%d/image", b, (int)getpid(), r);
	if (pipe(gate) < 0)
		return -1;
	/* who is forked first (a head start) alternates */
	if (r % 2) {
		pa = racer(gate, ia, "node-a");
		pb = racer(gate, ib, "node-b");
	} else {
		pb = racer(gate, ib, "node-b");
		pa = racer(gate, ia, "node-a");
	}
	close(gate[0]);
	close(gate[1]); /* both start */
	va = verdict(pa);
	vb = verdict(pb);
	if (va == WON && vb == BUSY)
		winner = "node-a", loser = "node-b", loser_image = ib;
	else if (vb == WON && va == BUSY)
		winner = "node-b", loser = "node-a", loser_image = ia;
	if (!winner) {
		printf("round %d: FAIL node-a %s, node-b %s\n", r, va == WON ? "won" : va == BUSY ? "busy" : "error",
		       vb == WON ? "won" : vb == BUSY ? "busy" : "error");
		return -1;
	}
	tardis_error_t err = NULL;
	if (lease_read(ia, &la, &err) != 1 || lease_read(ib, &lb, &err) != 1) {
		printf("round %d: FAIL the record is not read back: %s\n", r, err ? tardis_error_msg(err) : "none");
		tardis_error_free(&err);
		return -1;
	}
	if (la.seq != 1 || lb.seq != 1 || strcmp(la.node, winner) || strcmp(lb.node, winner)) {
		printf("round %d: FAIL %s won but A reads seq %llu %s, B reads seq %llu %s\n", r, winner,
		       (unsigned long long)la.seq, la.node, (unsigned long long)lb.seq, lb.node);
		return -1;
	}
	if (claim(loser_image, loser, why, sizeof(why)) != BUSY) {
		printf("round %d: FAIL %s claimed again after %s won: %s\n", r, loser, winner, why);
		return -1;
	}
	printf("round %d: %s won, %s busy, both mounts read seq 1 of %s\n", r, winner, loser, winner);
	return 0;
}

int main(int argc, char **argv)
{
	int rounds, good = 0;

	if (argc != 4 || (rounds = atoi(argv[3])) <= 0) {
		fprintf(stderr, "usage: %s DIR_A DIR_B ROUNDS\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int r = 1; r <= rounds; r++)
		if (round_once(argv[1], argv[2], r) == 0)
			good++;
	printf("lease_race: %d rounds, %d with exactly one winner\n", rounds, good);
	return good == rounds ? 0 : 1;
}
