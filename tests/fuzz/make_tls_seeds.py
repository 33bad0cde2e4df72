#!/usr/bin/env python3
# Writes the seeds of the two TLS targets (docs/fuzzing.md): corpus/tls (tls_fuzz: ciphertext,
# with real ClientHellos captured from `openssl s_client`) and corpus/tls_record
# (tls_record_fuzz: steps after a real handshake). Each target's input layout is below.
import os
import socket
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def client_hello(args):
    """The first flight of `openssl s_client` (a ClientHello), read by a listener of ours."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                          "-servername", "localhost", "-alpn", "http/1.1"] + args,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    c, _ = s.accept()
    c.settimeout(2)
    data = b""
    try:
        while len(data) < 5 or len(data) < 5 + struct.unpack(">H", data[3:5])[0]:
            d = c.recv(65536)
            if not d:
                break
            data += d
    except OSError:
        pass
    c.close()
    s.close()
    p.wait(timeout=5)
    return data


def tls_input(data, flags=0, cap=0, ops=0, cuts=(0, 0, 0, 0, 0)):
    """tls_fuzz: flags (0x20 write cap, 0x40 small high-water, 0x80 stop after piece flags&7,
    bits 3-4 the ending), write cap, 16 bits of per-piece ops (2 each: -, pause, resume, wait),
    five 16-bit cuts, then the client's ciphertext."""
    return bytes([flags, cap]) + struct.pack("<H", ops) + b"".join(
        struct.pack("<H", c) for c in cuts) + data


def step(op, data=b""):
    """tls_record_fuzz step: op (0-1 plaintext, 2 raw bytes, 3 pause/resume by bit 3, 4 wait,
    5 close_notify, 6 key update or renegotiation, 7 stop/start reading), 16-bit length, data."""
    return bytes([op]) + struct.pack("<H", len(data)) + data


def main():
    h13 = client_hello([])
    h12 = client_hello(["-tls1_2"])
    write("tls", "client_hello_tls13", tls_input(h13))
    write("tls", "client_hello_tls12", tls_input(h12))
    write("tls", "client_hello_tls13_split", tls_input(h13, ops=0b0001, cuts=(5, 40, 100)))
    write("tls", "client_hello_tls12_paused_cap",
          tls_input(h12, flags=0x20 | 0x40, ops=0b1001, cuts=(3, 9)))
    write("tls", "client_hello_then_silence", tls_input(h13[:60], flags=1 << 3))
    write("tls", "client_hello_then_eof", tls_input(h13[:120]))
    write("tls", "plain_http", tls_input(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
    write("tls", "plain_http_split", tls_input(
        b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", cuts=(1, 2, 3)))
    write("tls", "garbage", tls_input(bytes(range(256)), flags=3 << 3))
    write("tls", "record_huge_length", tls_input(b"\x16\x03\x01\xff\xff" + b"\x01" * 32))
    write("tls", "record_16k_then_silence",
          tls_input(b"\x17\x03\x03\x40\x00" + b"\x00" * 100, flags=1 << 3))
    write("tls", "alert", tls_input(b"\x15\x03\x03\x00\x02\x02\x28"))
    write("tls", "sslv2_hello", tls_input(bytes.fromhex(
        "802b0103010012000000100100800700c0030080060040020080040080") + b"\x00" * 16))
    write("tls", "empty", tls_input(b"", flags=1 << 3))

    get = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    big = b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n"
    post = b"POST /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
    for tls12, name in ((0, "tls13"), (1, "tls12")):
        hdr = bytes([tls12, 0])
        write("tls_record", f"{name}_get", hdr + step(0, get))
        write("tls_record", f"{name}_pipelined", hdr + step(0, get + post + get))
        write("tls_record", f"{name}_split_post", hdr + step(0, post[:20]) + step(1, post[20:]))
        write("tls_record", f"{name}_big_unread", bytes([tls12 | 2 | 0x20 | 0x40, 3]) +
              step(0, big + big) + step(4 | 8 * 5) + step(7) + step(4 | 8 * 30))
        write("tls_record", f"{name}_paused", hdr + step(3 | 8) + step(0, get) + step(4 | 8) +
              step(3) + step(0, get))
        write("tls_record", f"{name}_garbage_record", hdr + step(0, get) +
              step(2, b"\x17\x03\x03\x00\x20" + b"\x55" * 32))
        write("tls_record", f"{name}_huge_record", hdr + step(2, b"\x17\x03\x03\xff\xff"))
        write("tls_record", f"{name}_16k_then_silence", bytes([tls12 | 1 << 3, 0]) +
              step(2, b"\x17\x03\x03\x40\x00" + b"\x00" * 64))
        write("tls_record", f"{name}_close_notify", hdr + step(0, get) + step(5))
        write("tls_record", f"{name}_key_update_or_reneg", hdr + step(0, get) + step(6 | 8) +
              step(0, get))
        write("tls_record", f"{name}_plain_after_handshake", hdr + step(2, get))


if __name__ == "__main__":
    main()
