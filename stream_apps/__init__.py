"""The stream stage: Faust workers that land CDC changes in the bronze lake, clean them into
the silver topics and land those in the silver change-log (see :mod:`stream_apps.app`)."""
