#!/usr/bin/env python3
# Writes the seed corpora under tests/fuzz/corpus/ (docs/fuzzing.md): a few small, meaningful
# inputs per target, in each target's input layout. Run it after changing a layout; the seeds
# it writes are committed. Reproducers saved by hand (corpus/ws_inflate/final_block,
# corpus/ws_inflate/compress_empty_after_message) stay.
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def cuts(*offsets):
    offsets = list(offsets) + [0] * (5 - len(offsets))
    return b"".join(struct.pack("<H", o) for o in offsets[:5])


def engine_input(flags, wire, cut_at=(), cap=0):
    """http_request_fuzz and chunked_fuzz: flags, write cap, five cuts, then the bytes."""
    if cap:
        flags |= 0x20
    return bytes([flags, max(cap - 1, 0)]) + cuts(*cut_at) + wire


def req(method, target, headers=(), body=b"", version=b"HTTP/1.1"):
    head = method + b" " + target + b" " + version + b"\r\n"
    for h in headers:
        head += h + b"\r\n"
    return head + b"\r\n" + body


H = b"Host: example.org"

# ---- http_request: flags bits 0-1 limits, 2 lint, 3-4 ending, 5 write cap, 6 small high water
EOF_END, TIMEOUTS, STOP, RESET = 0 << 3, 1 << 3, 2 << 3, 3 << 3
http = {
    "get": engine_input(0, req(b"GET", b"/", [H])),
    "get_query_lint": engine_input(4, req(b"GET", b"/a/b?x=1&y=%20#frag", [H, b"X-Fuzz: 1"])),
    "pipelined": engine_input(
        0,
        req(b"GET", b"/", [H]) + req(b"GET", b"/async", [H]) +
        req(b"POST", b"/stream", [H, b"Content-Length: 5"], b"hello") +
        req(b"GET", b"/late", [H, b"Connection: close"]),
        cut_at=(3, 40, 41, 90, 200)),
    "post_split": engine_input(0, req(b"POST", b"/echo", [H, b"Content-Type: text/plain",
                                                           b"Content-Length: 11"], b"hello world"),
                               cut_at=(1, 2, 30, 60, 70)),
    "http10": engine_input(0, req(b"GET", b"/", [b"Connection: keep-alive"], version=b"HTTP/1.0")),
    "defer_fail": engine_input(TIMEOUTS, req(b"GET", b"/defer", [H]) + req(b"GET", b"/fail", [H])),
    "upgrade": engine_input(0, req(b"GET", b"/upgrade", [H, b"Connection: Upgrade",
                                                         b"Upgrade: echo"]) + b"hello q"),
    "throw_hooks": engine_input(STOP, req(b"GET", b"/throw", [H]) + req(b"GET", b"/hooks", [H])),
    "big_capped": engine_input(0x40, req(b"GET", b"/big", [H]) + req(b"HEAD", b"/big", [H]),
                               cap=100),
    "length_none": engine_input(RESET, req(b"GET", b"/length", [H]) + req(b"GET", b"/none", [H])),
    "expect": engine_input(0, req(b"POST", b"/", [H, b"Expect: 100-continue", b"Content-Length: 3"],
                                  b"abc")),
    "uri_414": engine_input(1, req(b"GET", b"/" + b"a" * 40, [H])),
    "headers_431": engine_input(1, req(b"GET", b"/", [H, b"A: 1", b"B: 2", b"C: 3"])),
    "body_413": engine_input(1, req(b"POST", b"/", [H, b"Content-Length: 20"], b"x" * 20)),
    "absolute_form": engine_input(4, req(b"GET", b"http://example.org:8080/p?q", [H])),
    "options_star": engine_input(4, req(b"OPTIONS", b"*", [H])),
    "host_port": engine_input(4, req(b"GET", b"/", [b"Host: [::1]:8080"])),
    "bad_version": engine_input(0, req(b"GET", b"/", [H], version=b"HTTP/2.0")),
    "two_hosts": engine_input(0, req(b"GET", b"/", [H, H])),
    "te_gzip": engine_input(0, req(b"POST", b"/", [H, b"Transfer-Encoding: gzip"])),
    # Reproducers of Lint findings (SPEC §2 broken by the env the engine builds): they crash
    # only with LITHE_FUZZ_LINT_TRAP=1 (docs/fuzzing.md).
    "lint_host_port_not_a_number": engine_input(4, req(b"GET", b"/", [b"Host: example.org:x"])),
    "lint_asterisk_form_get": engine_input(4, req(b"GET", b"*", [H])),
    "lint_connect_authority_form": engine_input(4, req(b"CONNECT", b"example.org:443",
                                                       [b"Host: example.org:443"])),
}
for name, data in http.items():
    write("http_request", name, data)

# ---- chunked: the bytes after the head of a chunked POST /upload
chunked = {
    "one_chunk": b"5\r\nhello\r\n0\r\n\r\n",
    "two_chunks": b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    # An unquoted value before another extension (";a=b;c=d") is refused by llhttp 8.1.
    "extensions": b"5;q=\"quo\\\"ted\";name=value\r\nhello\r\n0;last\r\n\r\n",
    "trailers": b"3\r\nabc\r\n0\r\nX-Sum: 3\r\nX-Other: y\r\n\r\n",
    "hex_case": b"0A\r\n0123456789\r\nf\r\n" + b"z" * 15 + b"\r\n0000\r\n\r\n",
    "pipelined": b"4\r\nwxyz\r\n0\r\n\r\n" + req(b"GET", b"/after", [H]),
    "empty": b"0\r\n\r\n",
    "too_big": b"ff\r\n" + b"a" * 255 + b"\r\n0\r\n\r\n",
    "bad_size": b"zz\r\nhello\r\n0\r\n\r\n",
}
for i, (name, body) in enumerate(chunked.items()):
    flags = [0, 0x40, 0x84, 0x20, 0x08, 0x40, 0x10, 1, 0][i]
    write("chunked", name, engine_input(flags, body, cut_at=(70, 75, 80, 90, 100), cap=0))


# ---- ws_frame: flags, two UTF-8 cuts, a mask, four feed cuts, then client frames
def mask(data, key):
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def frame(opcode, payload, fin=True, rsv1=False, form=None, key=b"\x37\xfa\x21\x3d"):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    form = form or (7 if n < 126 else 16 if n <= 0xFFFF else 64)
    if form == 7:
        head = bytes([b0, 0x80 | n])
    elif form == 16:
        head = bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, 0x80 | 127]) + struct.pack(">Q", n)
    return head + key + mask(payload, key)


def ws_input(flags, frames, feed_cuts=(0, 0, 0, 0)):
    return (bytes([flags]) + struct.pack("<HH", 3, 7) + b"\x01\x02\x03\x04" +
            b"".join(struct.pack("<H", c) for c in feed_cuts) + frames)


LIMIT_64K = 2 << 1
ws = {
    "text_7bit": ws_input(0, frame(1, "héllo wörld".encode())),
    "binary_16bit": ws_input(LIMIT_64K, frame(2, bytes(range(256)) + b"x" * 44)),
    "text_64bit_form": ws_input(LIMIT_64K, frame(1, b"a" * 300, form=64)),
    "fragmented_text": ws_input(0, frame(1, "€".encode()[:2], fin=False) +
                                frame(9, b"ping") + frame(0, "€".encode()[2:] + b"!"),
                                feed_cuts=(1, 5, 9, 13)),
    "close": ws_input(0, frame(8, struct.pack(">H", 1000) + b"bye")),
    "invalid_utf8": ws_input(0, frame(1, b"\xed\xa0\x80 surrogate") + frame(1, b"\xc0\xaf")),
    "rsv1": ws_input(1, frame(1, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv1=True)),
    "unmasked": ws_input(0, b"\x81\x05hello"),
    "too_big": ws_input(0, frame(2, b"b" * 200)),
}
for name, data in ws.items():
    write("ws_frame", name, data)


# ---- ws_inflate: an offer (length, text), then messages (16-bit length, bytes)
def deflate_messages(*messages, takeover=True):
    out = []
    z = zlib.compressobj(wbits=-15)
    for m in messages:
        if not takeover:
            z = zlib.compressobj(wbits=-15)
        c = z.compress(m) + z.flush(zlib.Z_SYNC_FLUSH)
        assert c.endswith(b"\x00\x00\xff\xff")
        out.append(c[:-4])
    return out


def inflate_input(offer, messages):
    data = bytes([len(offer)]) + offer
    for m in messages:
        data += struct.pack("<H", len(m)) + m
    return data


inflate = {
    "hello": inflate_input(b"permessage-deflate; client_max_window_bits",
                           deflate_messages(b"Hello, World")),
    "takeover": inflate_input(b"permessage-deflate; server_max_window_bits=10",
                              deflate_messages(b"the same words again", b"the same words again")),
    "no_takeover": inflate_input(b"x-webkit-deflate-frame, permessage-deflate; "
                                 b"client_no_context_takeover; server_no_context_takeover",
                                 deflate_messages(b"one", b"two", takeover=False)),
    "bad_offer": inflate_input(b"permessage-deflate; server_max_window_bits=7; foo",
                               [b"\xff\xff\xff"]),
    "quoted": inflate_input(b"permessage-deflate; server_max_window_bits=\"8\"",
                            deflate_messages(b"x" * 2000)),
}
for name, data in inflate.items():
    write("ws_inflate", name, data)

# ---- router: flags, up to three patterns (flags & 3, a line each), target, method, body
router = {
    "hello": b"\x00/hello/bob%20x?page=2&q=a+b\nGET\n",
    "splat": b"\x00/say/hi/to/a/b\n\n",
    "download": b"\x00/download/path/to/file.xml\n\n",
    "format": b"\x00/posts/7.json\n\n",
    "optional": b"\x00/posts\nHEAD\n",
    "files_group": b"\x00/files(/json)\n\n",
    "range": b"\x00/range/1-5\n\n",
    "pass": b"\x00/pass/me\n\n",
    "halt": b"\x00/halt/403\n\n",
    "throw": b"\x00/throw/x\n\n",
    "private": b"\x00/private/x\n\n",
    "regex": b"\x00/archive/2026/abc\n\n",
    "form": b"\x10/things\nPOST\nname=a+b&x=%41%42",
    "dav": b"\x00/dav/a/b\nPROPFIND\n",
    "method_405": b"\x00/things\nPUT\n",
    "middleware_404": b"\x08/nowhere\n\n",
    "own_patterns": b"\x03/custom/:a/*\n/x/:y?\n/v:ver.:fmt\n/custom/1/2/3\n\n",
    "decode": b"\x20/hello/%zz%4\n\n%41%2b+%",
}
for name, data in router.items():
    write("router", name, data)

# ---- sse_last_event_id: flags (bits 0-2 history-1, 3-5 events before, 6 live, 7 retry), id
sse = {
    "replay_some": bytes([3 | 5 << 3]) + b"2",
    "replay_all": bytes([7 | 7 << 3 | 0x40]) + b"0",
    "none": bytes([2 | 4 << 3]) + b"",
    "not_a_number": bytes([2 | 4 << 3 | 0x80]) + b"abc",
    "beyond": bytes([1 | 3 << 3 | 0x40]) + b"99",
    "max_u64": bytes([7 | 7 << 3]) + b"18446744073709551615",
    "overflow": bytes([7 | 7 << 3]) + b"18446744073709551616",
    "spaces": bytes([7 | 7 << 3]) + b" 3",
    "evicted": bytes([0 | 6 << 3]) + b"1",
}
for name, data in sse.items():
    write("sse_last_event_id", name, data)

# ---- byte_ranges: a choice byte (bit 0: 8-byte size, else 1 byte; bit 1: limits from two
# bytes), the size, [max_ranges, max_specs], then the Range header value
overlapping = b"bytes=0-" + b"".join(b",%d-" % i for i in range(1, 16))
byte_ranges = {
    "single": b"\x00\x64bytes=0-9",
    "overlapping": b"\x00\x64" + overlapping,
    "mixed": b"\x01" + struct.pack(">Q", 100 << 20) + b"bytes=0-0,2-2,4-4,-500, 100-199",
    "suffix": b"\x00\x10bytes=-5",
    "limits": b"\x02\x32\x03\x05bytes=1-2,5-6,9-10,20-30",
    "huge": b"\x00\x10bytes=99999999999999999999999-",
    "unit": b"\x00\x10items=1-2",
}
for name, data in byte_ranges.items():
    write("byte_ranges", name, data)
