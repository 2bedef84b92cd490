"""Standing capacity: capacity targets kept true on every tick, and hunting for scarce shapes.

Parts: model (Target, LaunchSpec, TargetInvalid), checks (validation), table (the responder_targets table
and TargetStore: rows, leases, statistics), inventory (what the cloud really holds per target, in
a few listings per region), acquirers (reservation / instance buying under the money caps),
reconcile (one tick over every due target), release (capacity above target), events (the
notification hook), importer (the old tool's table),
cli (`responder targets ...`), routes (`GET /targets`, `GET /targets/<name>`), tick (the hook every
ticker calls).
"""
