"""Entry point of a stream worker process: ``python -m stream_apps.worker worker ...``.

Builds the Faust app from the settings (``stream_apps.app.create_app``) and hands the
command line to Faust's own CLI.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

from stream_apps import configuration
from stream_apps.app import create_app


def tune_gc(threshold: int) -> None:
    """Collect cyclic garbage less often than Python's default (every 700 allocations).

    A worker creates about ten objects per change event and holds hundreds of thousands of
    events and rows until their flush; at the default threshold the collector ran every
    few dozen events and its older generations walked all of them again. The objects of
    the imports and the app, alive for the whole process, are moved out of its way.
    """
    gc.freeze()
    gc.set_threshold(threshold, 20, 100)


#: glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
log = logging.getLogger(__name__)


def tune_malloc(mmap_threshold: int = 128 * 1024, trim_threshold: int = 1024 * 1024) -> bool:
    """Give large freed blocks back to the system at once (glibc only; False elsewhere).

    glibc raises its mmap threshold each time a large block is freed, up to 32 MiB, after
    which fetch responses, Arrow buffers and Parquet pages come from the heap and stay
    there when freed: a worker draining a backlog kept 1.2-1.5 GB resident with about half
    of it in use. Fixed thresholds keep the resident size near what is in use, for a few
    microseconds per event of CPU.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.debug("no mallopt in this C library: malloc keeps its defaults")
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(M_TRIM_THRESHOLD, trim_threshold)
    )


def main() -> None:
    tune_malloc()
    settings = configuration.load()
    app = create_app(settings)
    tune_gc(settings.gc_threshold)
    app.main()


if __name__ == "__main__":
    main()
