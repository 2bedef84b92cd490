"""Protect ahead of time: keep a recent image of chosen instances, and clean up after ourselves.

Parts: ahead (plan_retention, protect_fleet: image the tagged instances, keep the newest few of
our images per instance, delete the rest), orphans (what the responder kept that still bills),
cli (`responder protect`, `responder orphans`).
"""
