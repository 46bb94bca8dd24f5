"""Live-stream benchmark: MQTT publish to websocket frame, and wall-screen clients per API.

Run it with ``.venv/bin/python -m bench.live.run`` (docs/performance.md, "Live stream").
"""
