"""Entry point of a stream worker process: ``python -m stream_apps.worker worker ...``.

Builds the Faust app from the settings (``stream_apps.app.create_app``) and hands the
command line to Faust's own CLI.
"""

from __future__ import annotations

from stream_apps import configuration
from stream_apps.app import create_app


def main() -> None:
    create_app(configuration.load()).main()


if __name__ == "__main__":
    main()
