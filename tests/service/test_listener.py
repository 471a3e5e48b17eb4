"""The service's listening socket: answers on a kept-alive connection are not held back by Nagle's algorithm.

Without TCP_NODELAY on accepted connections, every answer after the first on a kept-alive connection waits for
the client's delayed ACK (~40 ms on Linux): webhooks from Alertmanager reuse their connection, so that delay would
be paid on every alert. asyncio sets the option only on sockets that say they are TCP.
"""

from __future__ import annotations

import asyncio
import socket

from ai_service.api.server import _bind
from ai_service.config import Settings
from tests.support.waiting import free_port


def test_accepted_connections_have_tcp_nodelay() -> None:
    port = free_port()
    listener = _bind(Settings(host="127.0.0.1", port=port))
    seen: list[int] = []

    async def scenario() -> None:
        def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted = writer.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connection, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(scenario())
    assert seen and seen[0] != 0, "accepted connections must have TCP_NODELAY set"
