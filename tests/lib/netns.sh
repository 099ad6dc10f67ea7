# Network namespaces given by path, as Docker and a Kubernetes pod sandbox
# give them: `ip netns add`, wired by veth pairs, removed on cleanup.
# Sourced after tests/lib/lib.sh (uses on_cleanup).
# shellcheck shell=bash

# free_port: a port nobody uses, TCP or UDP, in the host's namespace.
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 30000))
		! grep -qi ":$(printf %04X $p) " /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 && {
			echo $p
			return
		}
	done
	echo 0
}

# pick_subnet: 10.X.Y such that neither 10.X.Y.0/24 nor 10.X.Y+1.0/24 is
# routed here yet (the second is for a client namespace).
pick_subnet() {
	local x y
	for _ in $(seq 1 20); do
		x=$((200 + RANDOM % 50)) y=$((RANDOM % 250))
		ip -4 route show | grep -q "^10\.$x\.\($y\|$((y + 1))\)\." || break
	done
	echo "10.$x.$y"
}

# netns_to_host NAME HOSTIF SUB: namespace NAME, lo up, reachable from the
# host at SUB.2 through the veth pair HOSTIF (SUB.1, host side) and HOSTIF's
# peer (renamed inside); both removed on cleanup.
netns_to_host() {
	local ns=$1 vh=$2 sub=$3
	ip netns add "$ns" || return 1
	on_cleanup "ip netns del '$ns' 2>/dev/null; ip link del '$vh' 2>/dev/null"
	ip link add "$vh" type veth peer name "${vh}c" &&
		ip link set "${vh}c" netns "$ns" &&
		ip addr add "$sub.1/24" dev "$vh" && ip link set "$vh" up &&
		ip -n "$ns" addr add "$sub.2/24" dev "${vh}c" && ip -n "$ns" link set "${vh}c" up &&
		ip -n "$ns" link set lo up
}

# netns_client NAME SERVER_NS CSUB IF: a client namespace NAME wired to
# SERVER_NS by its own veth pair IF (no host routing): the client is CSUB.2,
# the server's side CSUB.1.
netns_client() {
	local ns=$1 sns=$2 csub=$3 vif=$4
	ip netns add "$ns" || return 1
	on_cleanup "ip netns del '$ns' 2>/dev/null"
	ip -n "$ns" link add "${vif}c" type veth peer name "${vif}s" netns "$sns" &&
		ip -n "$ns" addr add "$csub.2/24" dev "${vif}c" && ip -n "$ns" link set "${vif}c" up &&
		ip -n "$ns" link set lo up &&
		ip -n "$sns" addr add "$csub.1/24" dev "${vif}s" && ip -n "$sns" link set "${vif}s" up
}

# criu_lock_left NETNS: CRIU's network-lock chain is there.
criu_lock_left() {
	ip netns exec "$1" iptables -S 2>/dev/null | grep -q -- "-j CRIU"
}
