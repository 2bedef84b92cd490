"""The status page at GET /: the last day's tasks as timelines, targets, failures, channel health.

Parts: page (the view model and the rendered HTML), templates/status.html (server-rendered, no
script, no build step).
"""
