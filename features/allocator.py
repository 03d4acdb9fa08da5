"""Keep freed memory in the process instead of handing it back to the OS (glibc ``mallopt``).

A participant-day allocates about 100 MB of arrays and frees them again. By default glibc
returns large freed blocks to the OS (``munmap``, heap trimming), so the next day's arrays are
fresh pages whose first touch costs a page fault each: measured on the bench day, 77 ms per day
right after another workload against 66 ms with this setting (docs/decisions.md). With it, large
blocks come from the heap and freed memory stays there for reuse: the top of the heap is only
trimmed once more than 256 MiB of it is free (freed blocks below live ones always stay). The
setting lasts for the rest of the process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_TRIM_BYTES = 256 << 20
# blocks below this come from the heap (a participant-day's largest array is ~40 MB); glibc
# versions that cap the threshold at 32 MiB (mallopt(3)) get the cap
_MMAP_BYTES = (256 << 20, 32 << 20)

_done = False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse; True if it took effect (False off glibc).

    Idempotent; called by :func:`features.pipeline.compute_features` before its first day.
    """
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.debug("no glibc mallopt here: freed memory goes back to the OS")
        return False
    mmap_set = any(mallopt(_M_MMAP_THRESHOLD, size) for size in _MMAP_BYTES)
    _done = mmap_set and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES))
    return _done
