"""Alerting: spikes, silent meters, PV shortfall and register events, from the database.

``engine.AlertEngine`` ties together ``rules`` (effective rules per meter and area),
``conditions`` (detector state per condition), ``baselines`` (hour-of-week baselines
from the hourly rollups), ``publish`` (the retained MQTT state) and ``webhooks``
(signed, retried delivery from the outbox).
"""
