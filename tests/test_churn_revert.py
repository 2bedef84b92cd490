"""The churn guard in the move back to spot: a move has no deadline, so it never goes into a
demoted pool (it takes the best-ranked equivalent that is not, or waits), and an instance whose
chain the guard sends on-demand first is not moved while its reclaims are in the window."""

from __future__ import annotations

from responder.replace.churn import ChurnPolicy, Pool, Reclaim, rank, revert_candidates, verdict
from responder.replace.planner import Candidate

H = 3600.0
POLICY = ChurnPolicy(reclaims=3, window_s=168 * H, demote_s=48 * H, on_demand_after=4)
HOT = Pool("aws", "us-east-2", "us-east-2a", "m5.large", "spot")
CALM = Pool("aws", "us-east-2", "us-east-2b", "m5.large", "spot")
SPOT = [Candidate("m5.large", "us-east-2a", "spot", "subnet-a", "same-type-same-zone"),
        Candidate("m5.large", "us-east-2b", "spot", "subnet-b", "same-type-other-zone"),
        Candidate("m5a.large", "us-east-2a", "spot", "subnet-a", "same-vcpu-memory-other-family")]


def reclaims(pool: Pool, times: tuple[float, ...], lineage: str = "") -> list[Reclaim]:
    return [Reclaim(f"{pool.zone}-{n}", pool, f"i-{pool.zone}-{n}", lineage or f"i-{pool.zone}-{n}", t * H)
            for n, t in enumerate(times)]


def test_a_move_back_leaves_the_demoted_pool_out_where_a_replacement_only_tries_it_last():
    churn = verdict(reclaims(HOT, (0, 1, 2)), "i-moved", POLICY, 3 * H)
    ranked, _ = rank(SPOT, churn, "aws", "us-east-2")
    assert ranked[-1].zone == "us-east-2a" and ranked[-1].instance_type == "m5.large"  # a replacement: last
    usable, reasons = revert_candidates(ranked, churn, "aws", "us-east-2")
    assert [(c.instance_type, c.zone) for c in usable] == [("m5.large", "us-east-2b"), ("m5a.large", "us-east-2a")]
    assert len(reasons) == 1 and reasons[0].startswith("not moved into: m5.large in us-east-2a")
    assert "RESPONDER_CHURN_RECLAIMS" in reasons[0]


def test_with_every_candidate_demoted_the_move_waits_and_says_why():
    history = reclaims(HOT, (0, 1, 2)) + reclaims(CALM, (0.5, 1.5, 2.5))
    churn = verdict(history, "i-moved", POLICY, 3 * H)
    usable, reasons = revert_candidates(SPOT[:2], churn, "aws", "us-east-2")
    assert usable == [] and len(reasons) == 2


def test_a_chain_sent_on_demand_first_is_held_and_the_guard_off_changes_nothing():
    chain = reclaims(CALM, (0, 10, 20, 30), lineage="i-root")
    held, why = revert_candidates(SPOT, verdict(chain, "i-root", POLICY, 31 * H), "aws", "us-east-2")
    assert held == [] and "held where it runs" in why[0] and "RESPONDER_CHURN_ON_DEMAND_AFTER" in why[0]
    later, _ = revert_candidates(SPOT, verdict(chain, "i-root", POLICY, 200 * H), "aws", "us-east-2")
    assert later == SPOT  # the reclaims left the window: it moves
    assert revert_candidates(SPOT, None, "aws", "us-east-2") == (SPOT, [])
