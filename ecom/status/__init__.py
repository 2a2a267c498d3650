"""`ecom status`: the pipeline's health.

* :mod:`ecom.status.model`: the plain data (thresholds, snapshot, findings, exit codes);
* :mod:`ecom.status.probe`: reads the real components into a snapshot;
* :mod:`ecom.status.rules`: turns a snapshot into findings, each with its fix;
* :mod:`ecom.status.report`: the readable report and the JSON document;
* :mod:`ecom.status.check`: one run of the command (wait, probe, judge).
"""
