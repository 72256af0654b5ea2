#!/usr/bin/env python3
"""Raw HTTP/2 frames for tests/integration/42-h2-stream-ids.sh.

HTTP/2 client libraries refuse to send the frames RFC 9113 forbids, so this
one builds them by hand: frame headers, and HPACK header blocks made of
literal fields without Huffman coding (RFC 7541 6.2.2), over TLS with ALPN h2.

  h2raw.py PORT CAFILE SCENARIO

runs SCENARIO's frames and prints what the server sent back, one line per
frame of interest: "HEADERS <id> <status>", "DATA <id> END" (a response
ended), "RST <id> <error>", "GOAWAY <last-id> <error>", then "EOF" when the
server closed the connection or "OPEN" when it kept it open (1 s quiet).
"""
import socket
import ssl
import struct
import sys
import time

DATA, HEADERS, PRIORITY, RST, SETTINGS, PING, GOAWAY, WINUP = 0, 1, 2, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
          5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL",
          9: "COMPRESSION_ERROR", 11: "ENHANCE_YOUR_CALM"}


def frame(kind, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", sid) + payload


def literal(name, value):
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def request(sid, path="/health", method="GET", end=True, extra=()):
    block = literal(":method", method) + literal(":scheme", "https") + \
        literal(":authority", "localhost") + literal(":path", path)
    for name, value in extra:
        block += literal(name, value)
    return frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), sid, block)


def trailers(sid):
    return frame(HEADERS, END_HEADERS | END_STREAM, sid, literal("x-trailer", "1"))


def data(sid, payload=b"x", end=False):
    return frame(DATA, END_STREAM if end else 0, sid, payload)


def rst(sid, code=8):
    return frame(RST, 0, sid, struct.pack(">I", code))


class Conn:
    def __init__(self, port, cafile):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        assert self.s.selected_alpn_protocol() == "h2", "no h2"
        self.buf = b""
        self.closed = False
        self.s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0))

    def send(self, *frames):
        self.s.sendall(b"".join(frames))

    def frames(self, quiet):
        """Frames until the server closes or is quiet for `quiet` seconds."""
        self.s.settimeout(quiet)
        while True:
            while len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + length:
                    break
                kind, flags = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                payload = self.buf[9:9 + length]
                self.buf = self.buf[9 + length:]
                yield kind, flags, sid, payload
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return
            except (ConnectionError, ssl.SSLError):
                chunk = b""
            if not chunk:
                self.closed = True
                return
            self.buf += chunk

    def events(self, quiet=1.0, until=None):
        """Print the frames of interest; stop early once `until` is printed."""
        out = []
        for kind, flags, sid, payload in self.frames(quiet):
            line = None
            if kind == SETTINGS and not flags & ACK:
                self.send(frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                self.send(frame(PING, ACK, 0, payload))
            elif kind == HEADERS:
                # the server's first field is :status, HPACK static index 8..14
                status = {0x88: "200", 0x89: "204", 0x8a: "206", 0x8b: "304",
                          0x8c: "400", 0x8d: "404", 0x8e: "500"}.get(payload[0], "?")
                line = f"HEADERS {sid} {status}" + (" END" if flags & END_STREAM else "")
            elif kind == DATA and flags & END_STREAM:
                line = f"DATA {sid} END"
            elif kind == RST:
                line = f"RST {sid} {ERRORS.get(struct.unpack('>I', payload)[0], '?')}"
            elif kind == GOAWAY:
                last, code = struct.unpack(">II", payload[:8])
                line = f"GOAWAY {last & 0x7FFFFFFF} {ERRORS.get(code, str(code))}"
            if line:
                print(line, flush=True)
                out.append(line)
                if until and line.startswith(until):
                    return out
        print("EOF" if self.closed else "OPEN", flush=True)
        return out


def wait_done(c, sid):
    """Read until stream `sid`'s response has ended."""
    c.events(quiet=5, until=f"DATA {sid} END")


def scenario(c, name):
    if name == "lower-id":            # 5 opens; 3, never used, comes after it
        c.send(request(5))
        wait_done(c, 5)
        c.send(request(3))
    elif name == "reused-id":         # 1 is done; a new request on 1 again
        c.send(request(1))
        wait_done(c, 1)
        c.send(request(1))
    elif name == "data-after-close":  # DATA on 1 once both sides ended it
        c.send(request(1))
        wait_done(c, 1)
        c.send(data(1))
    elif name == "trailers-after-close":
        c.send(request(1))
        wait_done(c, 1)
        c.send(trailers(1))
    elif name == "data-after-client-rst":  # the client reset 1, then sends on it
        c.send(request(1, path="/v1/messages", method="POST", end=False), rst(1))
        time.sleep(0.3)
        c.send(data(1))
    elif name == "reused-id-old":     # 1 is long closed (40 streams since)
        for sid in range(1, 81, 2):
            c.send(request(sid))
            wait_done(c, sid)
        c.send(request(1))
    elif name == "data-old":
        for sid in range(1, 81, 2):
            c.send(request(sid))
            wait_done(c, sid)
        c.send(data(1))
    elif name == "trailers-open":     # trailers end an open stream: fine
        c.send(request(1, path="/v1/messages", method="POST", end=False),
               data(1, b'{"model":"m","messages":[]}'), trailers(1))
        wait_done(c, 1)
        c.send(request(3))
    elif name == "data-after-server-rst":  # we answered early and reset: ignore
        c.send(request(1, path="/v1/messages", method="POST", end=False,
                       extra=[("content-length", "99999999999")]))
        c.events(quiet=5, until="RST 1")
        c.send(data(1), data(1, end=True))
        c.send(request(3))
    elif name == "data-half-closed":  # the client ended 1; its answer is pending
        c.send(request(1, path="/v1/messages", method="POST", end=True,
                       extra=[("x-mock-delay-ms", "1500")]))
        time.sleep(0.3)
        c.send(data(1))
    elif name == "refused":           # past MAX_CONCURRENT_STREAMS (128): refused,
        for sid in range(1, 259, 2):  # and DATA on it afterwards is ignored
            c.send(request(sid, path="/v1/messages", method="POST", end=False))
        c.events(quiet=5, until="RST 257")
        c.send(data(257), data(1, b'{"model":"m","messages":[]}', end=True))
        c.events(quiet=5, until="DATA 1 END")
    elif name == "ok":                # a plain request, and another
        c.send(request(1))
        wait_done(c, 1)
        c.send(request(3))
    else:
        sys.exit(f"unknown scenario {name}")
    c.events(quiet=1.5)


if __name__ == "__main__":
    scenario(Conn(int(sys.argv[1]), sys.argv[2]), sys.argv[3])
