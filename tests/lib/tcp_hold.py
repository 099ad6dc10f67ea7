#!/usr/bin/env python3
"""tcp_hold.py HOST PORT CTLDIR: a client that holds one TCP connection
across a checkpoint.  It sends "one" and writes CTLDIR/first when the echo
comes back, waits (up to 300 s) for CTLDIR/go, then sends "two" and writes
CTLDIR/result: echo (the same connection still echoes), reset, eof,
timeout or error."""
import os
import socket
import sys
import time


def main():
    host, port, ctl = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    result = "error"
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"one\n")
        if s.recv(100).strip() == b"one":
            open(os.path.join(ctl, "first"), "w").write("one\n")
        deadline = time.time() + 300
        while not os.path.exists(os.path.join(ctl, "go")) and time.time() < deadline:
            time.sleep(0.1)
        s.settimeout(10)
        s.sendall(b"two\n")
        r = s.recv(100)
        result = "echo" if r.strip() == b"two" else "eof" if r == b"" else "other"
    except (ConnectionResetError, BrokenPipeError):
        result = "reset"
    except socket.timeout:
        result = "timeout"
    except OSError as e:
        result = "error " + str(e)
    with open(os.path.join(ctl, "result"), "w") as f:
        f.write(result + "\n")


main()
