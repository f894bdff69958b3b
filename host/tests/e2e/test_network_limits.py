"""Connection bounds (issue 12, item 3): while 600 idle connections and 100 slow readers
(pipelined requests, never read) are held from twelve and four other loopback
addresses, a scrape from a new peer succeeds every second. Before the bounds, holding
512 idle connections made 0 of 60 scrapes succeed.

The test asserts that every scrape succeeded, never how fast (timings are in
bench/network.py)."""

from __future__ import annotations

import time

from e2e_helpers import Scrape, new_session, rss_bytes
from hostile_clients import Siege

SCRAPES = 20
RSS_LIMIT = 400 << 20


def test_scrapes_succeed_under_idle_and_slow_reader_siege(gomon):
    siege = Siege(gomon.port, gomon.cert, idle=600, slow=100).start()
    outcomes: list[str] = []
    max_rss = 0
    held = []
    try:
        held.append(siege.held())
        for _ in range(SCRAPES):
            started = time.monotonic()
            # A new peer (127.0.0.1 is not among the attackers) on a new connection each time.
            with new_session(gomon.cert) as session:
                try:
                    r = session.get(gomon.url("/metrics"), timeout=15)
                    outcomes.append("ok" if r.status_code == 200 and "gomon_cpu_seconds_total" in r.text
                                    else f"HTTP {r.status_code}")
                except Exception as e:  # noqa: BLE001 - every failure is reported
                    outcomes.append(repr(e)[:200])
            max_rss = max(max_rss, rss_bytes(gomon.pid))
            held.append(siege.held())
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        scrape = Scrape.parse(gomon.get("/metrics", timeout=15).text)
    finally:
        siege.stop()
    failed = [o for o in outcomes if o != "ok"]
    assert not failed, (f"{len(failed)} of {SCRAPES} scrapes failed: {failed[:5]}; held (idle, slow): {held}; "
                        f"siege errors: {siege.errors[:5]}\n{gomon.describe()}")
    assert max(i for i, _ in held) >= 500, f"the siege never held its idle connections: {held} {siege.errors[:5]}"
    assert scrape.value("gomon_http_connections") <= 512
    assert scrape.value("gomon_http_connections_evicted_total") > 0, "nothing was evicted: was the server ever full?"
    assert max_rss < RSS_LIMIT, f"gomon's RSS reached {max_rss >> 20} MiB"
    assert gomon.alive()


def test_one_peer_cannot_hold_more_than_its_share(gomon):
    """100 idle connections from one address: at most 64 (max_connections_per_peer) are held."""
    siege = Siege(gomon.port, gomon.cert, idle=0, slow=0)
    socks = []
    try:
        for _ in range(100):
            socks.append(siege._connect("127.0.0.77"))
        def held():
            return Scrape.parse(gomon.get("/metrics", timeout=15).text).value("gomon_http_connections")
        # Our own scrape connection is one of them.
        assert held() <= 64 + 1
        assert Scrape.parse(gomon.get("/metrics").text).value("gomon_http_connections_evicted_total") >= 36
    finally:
        for s in socks:
            s.close()
