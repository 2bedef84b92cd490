"""Protect ahead of time: keep a recent image of chosen instances, and clean up after ourselves.

Parts: ahead (protect_fleet: image the tagged instances, then retention), leftovers (what the
cloud holds that the responder made and that bills past retention: plan_retention, cloud_leftovers,
remove, cloud_orphans), orphans (what the task records say the responder kept that still bills),
tick (the protect pass every ticker runs), cli (`responder protect`, `responder orphans`), and
MARKER_KIND (the task kind of the tick's per-period marker rows: not an interruption, so the
status page and the daily report leave them out).
"""

from responder.model import PROTECT_MARKER_KIND as MARKER_KIND  # noqa: F401  (the kind is the model's)
