#!/bin/sh
# Installs everything tardis needs on a fresh Debian 12 machine (run as root).
# Idempotent: packages already present are skipped, bpffs is mounted once.
set -eu

PKGS="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libcjson-dev check
pkg-config make gcc musl-tools runc containerd umoci busybox-static iptables iproute2 jq strace btrfs-progs
libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
python3-protobuf python3-grpcio libnl-3-dev libnet1-dev libcap-dev libaio-dev libbsd-dev
libgnutls28-dev libnftables-dev uuid-dev xz-utils libclang-rt-14-dev libarchive-dev libssl-dev libxxhash-dev xxhash attr acl libcap2-bin
qemu-system-x86 kmod cpio debian-archive-keyring nfs-kernel-server nfs-common
openssh-server openssh-client sshfs debootstrap docker.io
libprotobuf-c1 libnl-3-200 libnet1 libbsd0 libgnutls30 libnftables1"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# No service is started by an install (nfs-kernel-server, rpcbind: the
	# NFS tests start their own server in a vmtest guest; this kernel may
	# have no nfsd, and a failed start must not fail the setup; docker.io:
	# test_docker starts a private dockerd, a system one must not run).
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	# policy-rc.d kept docker.io's dockerd from starting now; under
	# systemd its units would still start it at the next boot.
	case " $missing " in *" docker.io "*)
		[ ! -d /run/systemd/system ] ||
			systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true ;;
	esac
fi

if ! mount | grep -q ' type bpf '; then
	mount -t bpf bpf /sys/fs/bpf
fi

# A CRIU that works on this kernel and can dump a TCP server (Debian 12's
# 3.17 fails `criu check` on 6.x with [vvar_vclock], 4.1.1 cannot dump a TCP
# socket on 6.18); the version is chosen in build-criu.sh, built once, cached.
"$(dirname "$0")/build-criu.sh" >/dev/null
