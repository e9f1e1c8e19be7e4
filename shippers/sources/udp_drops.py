"""How many datagrams the kernel dropped for one UDP socket (Linux `/proc/net/udp*`).

A syslog receiver loses UDP datagrams in two places: its own bounded queue (counted where
it happens) and the socket's receive buffer, when the reader falls behind a burst. The
kernel counts the latter per socket in the `drops` column of `/proc/net/udp` and
`/proc/net/udp6`; matching the socket's inode finds our row. Elsewhere (not Linux) the
count is unknown and `None` is returned — the docs say so rather than pretend it is zero.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["kernel_udp_drops"]

_TABLES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))


def kernel_udp_drops(sock: socket.socket) -> int | None:
    """Cumulative kernel drops of `sock` since it was created, or None when unknown."""
    inode = str(os.fstat(sock.fileno()).st_ino)
    for table in _TABLES:
        try:
            text = table.read_text()
        except OSError:
            continue
        for line in text.splitlines()[1:]:
            cols = line.split()
            # sl local rem st tx:rx tr:when retr uid timeout inode ref pointer drops
            if len(cols) >= 13 and cols[9] == inode:
                return int(cols[12])
    return None
