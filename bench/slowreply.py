#!/usr/bin/python3
"""slowreply.py - a slow provider for bench/relay.sh scenario c: a TCP relay from LISTEN to
UPSTREAM (smtp-sink) that holds back the upstream's reply to the end of a message (the
"250 2.0.0 Ok" smtp-sink sends after the final dot) by DELAY_MS milliseconds, and passes
everything else through at once, in order. The provider Postfix's smtpd_proxy_filter talks to it,
so the provider answers each final dot ~DELAY_MS later, as a busy Office 365 does.

Usage: slowreply.py LISTEN_PORT UPSTREAM_PORT DELAY_MS   (127.0.0.1 only; SIGTERM ends it)
"""
import asyncio
import signal
import sys

HOST = "127.0.0.1"


async def pump(reader, writer, delay):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if delay and b"250 2.0.0 Ok" in data:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    listen, upstream, delay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1000.0

    async def on_client(cr, cw):
        try:
            ur, uw = await asyncio.open_connection(HOST, upstream)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pump(cr, uw, 0), pump(ur, cw, delay))

    server = await asyncio.start_server(on_client, HOST, listen, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
