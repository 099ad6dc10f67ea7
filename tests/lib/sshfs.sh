# A real network filesystem on one machine: a private sshd on 127.0.0.1 and
# two sshfs (FUSE) mounts of one export directory, the shared directory as
# two "nodes" see it.  Each mount has its own attribute and listing caches,
# as two machines would; flock on one excludes nothing on the other.
# Sourced after tests/lib/lib.sh (uses TMP, on_cleanup); needs root and the
# Debian packages openssh-server, openssh-client and sshfs.
# shellcheck shell=bash

SSHFS_DIR=$TMP/sshfs
SSHFS_SSHD_PID=
SSHFS_MOUNTS=()
# The options a user would give: reconnect after a dropped connection, notice
# a dead server.  tardis needs nothing more (no workaround=rename, no
# cache=no): README "Network filesystems".
SSHFS_OPTS=${SSHFS_OPTS:-reconnect,ServerAliveInterval=5,ServerAliveCountMax=3}

# A free TCP port on 127.0.0.1 (the kernel's pick for a bind to port 0).
sshfs_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# sshfs_sshd: our own sshd (config, host key, authorized key, pid file under
# SSHFS_DIR) on a free port of 127.0.0.1 only; SSHFS_PORT.  A system sshd,
# if any, is neither used nor touched.
sshfs_sshd() {
	local d=$SSHFS_DIR
	mkdir -p "$d" /run/sshd # privilege separation dir sshd insists on
	chmod 700 "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$d/client_key" || return 1
	cp "$d/client_key.pub" "$d/authorized_keys"
	chmod 600 "$d/authorized_keys"
	SSHFS_PORT=$(sshfs_free_port) || return 1
	cat >"$d/sshd_config" <<-EOF
		ListenAddress 127.0.0.1
		Port $SSHFS_PORT
		HostKey $d/host_key
		PidFile $d/sshd.pid
		AuthorizedKeysFile $d/authorized_keys
		PermitRootLogin prohibit-password
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		Subsystem sftp internal-sftp
	EOF
	/usr/sbin/sshd -D -e -f "$d/sshd_config" -p "$SSHFS_PORT" -h "$d/host_key" \
		>"$d/sshd.log" 2>&1 &
	SSHFS_SSHD_PID=$!
	on_cleanup sshfs_down
	wait_up 100 0.05 "$SSHFS_SSHD_PID" sshfs_ssh true
}

# sshfs_ssh command...: runs it over our sshd (also: is it answering).
sshfs_ssh() {
	ssh -F none -p "$SSHFS_PORT" -i "$SSHFS_DIR/client_key" -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile="$SSHFS_DIR/known_hosts" \
		-o LogLevel=ERROR root@127.0.0.1 "$@"
}

# sshfs_mount EXPORT MOUNT: EXPORT (a directory of this machine, as the
# server sees it) mounted at MOUNT over our sshd.
sshfs_mount() {
	mkdir -p "$2" || return 1
	sshfs "root@127.0.0.1:$1" "$2" -p "$SSHFS_PORT" \
		-o "IdentityFile=$SSHFS_DIR/client_key,BatchMode=yes,StrictHostKeyChecking=no" \
		-o "UserKnownHostsFile=$SSHFS_DIR/known_hosts,$SSHFS_OPTS" || return 1
	SSHFS_MOUNTS+=("$2")
	findmnt -n -t fuse.sshfs "$2" >/dev/null
}

# sshfs_up EXPORT MOUNT_A MOUNT_B: the sshd and two mounts of EXPORT.
sshfs_up() {
	mkdir -p "$1" || return 1
	sshfs_sshd || { echo "# sshd did not start:" >&2; cat "$SSHFS_DIR/sshd.log" >&2; return 1; }
	sshfs_mount "$1" "$2" && sshfs_mount "$1" "$3"
}

# sshfs_down: the mounts (lazily if busy) and our sshd, by its pid.
sshfs_down() {
	local m
	for m in "${SSHFS_MOUNTS[@]}"; do
		fusermount -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	SSHFS_MOUNTS=()
	if [ -n "$SSHFS_SSHD_PID" ]; then
		kill "$SSHFS_SSHD_PID" 2>/dev/null
		wait "$SSHFS_SSHD_PID" 2>/dev/null
		SSHFS_SSHD_PID=
	fi
	return 0
}
