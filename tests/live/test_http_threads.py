"""Issue 11 item 23: idle sockets cannot make the health server start a thread each."""

from __future__ import annotations

import socket
import threading
import urllib.request

from conftest_services import wait_until

from inspector.live.http import MAX_HTTP_THREADS, HealthServer


def test_two_hundred_idle_sockets_use_a_capped_number_of_threads() -> None:
    server = HealthServer(lambda: {}, host="127.0.0.1", port=0)
    server.start()
    before = threading.active_count()
    sockets = []
    try:
        for _ in range(200):
            sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        wait_until(lambda: False, 0.5)  # give the server the chance to misbehave
        assert threading.active_count() - before <= 1, threading.active_count() - before  # workers started up front
        assert len([t for t in threading.enumerate() if t.name.startswith("health-http-")]) == MAX_HTTP_THREADS
        for sock in sockets:
            sock.close()
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=15) as reply:  # still serves
            assert reply.status == 200
    finally:
        for sock in sockets:
            sock.close()
        server.stop()
