"""Entry point of a stream worker process: ``python -m stream_apps.worker worker ...``.

Builds the Faust app from the settings (``stream_apps.app.create_app``) and hands the
command line to Faust's own CLI.
"""

from __future__ import annotations

import gc

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


def main() -> None:
    settings = configuration.load()
    app = create_app(settings)
    tune_gc(settings.gc_threshold)
    app.main()


if __name__ == "__main__":
    main()
