/*
 * The checkpoint engine: `runc checkpoint` of a running container into
 * tardis's image (CRIU's files, the files the container wrote, the
 * manifest), published atomically, and recorded in its state.json.  The
 * container is stopped afterwards: one consistent copy.
 */
#ifndef TARDIS_CHECKPOINT_H
#define TARDIS_CHECKPOINT_H

#include "runc_call.h"

struct checkpoint_request {
	const char *trigger;    /* why: "checkpoint", "stop signal", "delete --force" */
	const char *image_path; /* state.json's image_path */
	const char *rootfs;     /* state.json's rootfs; NULL: no files saved */
	const char *identity;   /* state.json's identity; NULL or "": none */
	/* 1: the original call was `runc checkpoint`: its options are kept
	 * (but for the image and work paths, which are tardis's, and
	 * --leave-running); 0: tardis's own default, --file-locks.  Either
	 * way with --tcp-established. */
	int forward_opts;
	int skip_resume;        /* set state.json's skip_resume (containerd resumes next) */
	/* The network namespace given by path (state.json's netns_path), NULL
	 * for none, and whether the container keeps its TCP connections: when
	 * it does not, CRIU's network lock is lifted right after the dump. */
	const char *netns_path;
	int keep_tcp;
	/* state.json's init pid and its start time (0: unknown): once it is
	 * gone during the dump, CRIU has written its images and the files
	 * are saved while runc finishes. */
	int init_pid;
	unsigned long long init_start_time;
};

struct cJSON;
/* req's image path, rootfs, identity, netns path, keep_tcp and init from
 * state.json (st outlives req). */
void checkpoint_request_from_state(struct checkpoint_request *req, const struct cJSON *st);

/* 0 checkpointed; -1 when not (logged; no image left half-written: the
 * previous one, if any, stays). */
int checkpoint_container(const struct runc_call *c, const struct checkpoint_request *req);

#endif
