#!/usr/bin/env python3
"""Plays systemd's notify socket for tests/integration/40-systemd-notify.sh.

Binds a datagram socket at argv[1] and appends one line per message to
argv[2]: the sender's pid (from SCM_CREDENTIALS, as systemd checks it for
NotifyAccess=main), our CLOCK_MONOTONIC in microseconds at receipt, and
the message with its newlines shown as '|'.
"""
import os
import socket
import struct
import sys
import time

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
ucred = struct.calcsize("3i")
with open(out + ".ready", "w"):
    pass
while True:
    msg, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(ucred))
    pid = -1
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", data[:ucred])[0]
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    text = msg.decode("utf-8", "replace").rstrip("\n").replace("\n", "|")
    with open(out, "a") as f:
        f.write(f"{pid} {usec} {text}\n")
