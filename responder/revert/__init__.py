"""Back to spot: a replacement that runs on-demand, or on another type than the original's, is
moved back to spot on the original type (or the best-ranked equivalent) once stock returns; and
planned moves: a spot instance of ours in a published-stressed pool moves to a calmer zone of its
type (calm; the rule in replace/calm_rule.py).

Parts: eligible (pure: which finished replacements would move, why / why not), calm (pure: which
spot instances a planned move is for, and when), adoption (pure: which instance of the named fleet,
RESPONDER_FLEET_SELECTORS, is adopted as if placed, and its record), fleet (the fleet read by its
tags and the adoption, every 15 minutes on the revert pass), start (a move as a
task of kind `revert`: its claim key, its record), scan (eligible replacements read from the store),
tick (the ticker's pass: RESPONDER_REVERT, _AFTER, _WINDOW), plan (the dry-run: what would move, to
what, from a stock read), cli (`responder revert [--dry-run]`).

The move itself is the replacement flow's machinery without the deadline (replace/revert_steps.py):
the runner works a `revert` task like an interruption, through the executor, the API budget and
the money caps, with tokens from the task's claim key, so a crash anywhere resumes from its row.
"""
