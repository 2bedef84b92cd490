"""Spot Placement Scores used the way EC2 means them, and Karpenter NodePools built from them.

Parts: report (the selection resolved
against the catalog, families scored as groups, text and JSON), nodepools (two karpenter.sh/v1
NodePools from the families that scored well), cli (`responder spot-scores`, `responder nodepools`).

Beneath it, in clouds/ because the AWS adapter uses them too: spot_groups (instance-type names →
family, category, generation; candidate groups of >= 3 types; family groups) and spot_scorer
(SpotScorer: one GetSpotPlacementScores request per group, cached per request configuration,
within the per-24-hour configuration limit).
"""
