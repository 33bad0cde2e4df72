#!/usr/bin/python3
"""A real WebSocket client (python3-websockets) for the conformance suite.

usage: ws_client.py URL SCENARIO [CA_FILE]
With a wss:// URL the server is verified against CA_FILE (else the system's CAs).
Prints one line per observation; exits 0 when the scenario ran to its end."""
import asyncio
import functools
import ssl
import sys

import websockets


async def main(url, scenario, ca_file):
    if url.startswith("wss://"):
        context = ssl.create_default_context(cafile=ca_file)
        connect = functools.partial(websockets.connect, ssl=context)
    else:
        connect = websockets.connect
    if scenario == "echo":
        async with connect(url) as ws:
            await ws.send("hello")
            print("text", await ws.recv())
            await ws.send(b"\x00\x01\xff")
            print("binary", (await ws.recv()).hex())
            big = "x" * 200000
            await ws.send(big)
            print("big", len(await ws.recv()))
            pong = await ws.ping(b"p1")
            await asyncio.wait_for(pong, 5)
            print("pong ok")
            # A fragmented message (an async iterator of frames).
            await ws.send(iter(["frag", "mented", " ü"]))
            print("fragmented", await ws.recv())
        print("closed", ws.close_code, ws.close_reason or "")
    elif scenario == "adder":
        async with connect(url, subprotocols=["adder"]) as ws:
            print("protocol", ws.subprotocol)
            await ws.send("1 2 3.5")
            print("sum", await ws.recv())
            await ws.send("one two")
            print("error", await ws.recv())
    elif scenario == "server-close":
        async with connect(url) as ws:
            await ws.send("please close")
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as e:
                print("closed", e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else "")
    elif scenario == "compressed":
        async with connect(url, compression="deflate") as ws:
            print("extensions", ",".join(e.name for e in ws.extensions))
            print("answer", ws.response_headers.get("Sec-WebSocket-Extensions", ""))
            # Alike messages, so that a peer keeping context refers back to earlier ones.
            same = True
            for i in range(5):
                msg = ("compress me %d " % i) * 1000
                await ws.send(msg)
                same = same and (await ws.recv()) == msg
            print("roundtrip", same)
    else:
        raise SystemExit("unknown scenario " + scenario)


asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2], (sys.argv[3:] or [None])[0]), 20))
