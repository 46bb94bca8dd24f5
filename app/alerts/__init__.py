"""Alerts: spikes, silent meters, PV shortfall and register events, from the database.

``engine.AlertEngine`` ties together ``rules`` (effective rules per meter and area),
``conditions`` (detector state per condition), ``baselines`` (hour-of-week baselines
from the hourly rollups), ``events`` (register events from ``meter_events``),
``publish`` (the retained MQTT state) and ``webhooks`` (signed, retried delivery).
The tables are in ``models``; ``store`` reads and changes alerts, ``outbox``,
``overrides`` and ``cursors`` keep the other tables; ``schemas`` is the one JSON shape
of an alert; ``api`` is the REST router; ``metrics`` exports the engine's counters.
The pure rules (lifecycle, detection) are in ``app.domain.alerts`` and
``app.domain.detection``.
"""
