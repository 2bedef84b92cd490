"""Which families are healthy: the selection resolved against the catalog, each family scored as a
group, and the answer as text or JSON.

Parts: SelectionError (bad input, named), resolve_selection (`--instance-types` or `--families` x
`--sizes` → family → types the Region offers), FamilyScore, ScoreReport, score_families (one request
for the whole set, one per family), report_json, report_lines.

A family is scored as a group of its sizes because that is what a NodePool (or a fleet) would ask
for; a family with fewer than three types is marked, since EC2 scores such a set low whatever the
capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

from responder.clouds.spot_groups import MIN_GROUP, distinct_count, families_of, family_types
from responder.clouds.spot_scorer import Score, ScoreRequest, SpotScorer


class SelectionError(ValueError):
    """The types or families asked for cannot be scored; the message names which and why."""


def resolve_selection(catalog: set[str], region: str, instance_types: list[str], families: list[str],
                      sizes: list[str]) -> dict[str, list[str]]:
    if instance_types and families:
        raise SelectionError("give --instance-types or --families (with --sizes), not both")
    if instance_types:
        unknown = [t for t in instance_types if t not in catalog]
        if unknown:
            raise SelectionError(f"unknown instance type(s) in {region}: {', '.join(unknown)}")
        return families_of(list(dict.fromkeys(instance_types)))
    if not families:
        raise SelectionError("no families: give --families (with --sizes) or --instance-types")
    if not sizes:
        raise SelectionError("no sizes: give --sizes, e.g. large,xlarge,2xlarge")
    selected = family_types(list(dict.fromkeys(families)), sizes, catalog)
    empty = [f for f, types in selected.items() if not types]
    if empty:
        raise SelectionError(f"no instance type of family {', '.join(empty)} in sizes {', '.join(sizes)} "
                             f"is offered in {region}")
    return selected


@dataclass(frozen=True)
class FamilyScore:
    family: str
    instance_types: tuple[str, ...]
    scores: tuple[Score, ...] | None  # None: the request-configuration limit refused it

    @property
    def best(self) -> int | None:
        return max((s.score for s in self.scores), default=None) if self.scores is not None else None

    @property
    def few_types(self) -> bool:
        return distinct_count(self.instance_types) < MIN_GROUP

    def healthy(self, min_score: int) -> bool:
        return self.best is not None and self.best >= min_score


@dataclass(frozen=True)
class ScoreReport:
    request: ScoreRequest  # the whole set; the family requests differ only in their types
    overall: tuple[Score, ...] | None
    families: tuple[FamilyScore, ...]  # best first


def score_families(scorer: SpotScorer, endpoint_region: str, families: dict[str, list[str]],
                   target_capacity: int = 1, unit: str = "units", single_az: bool = False,
                   regions: tuple[str, ...] = ()) -> ScoreReport:
    every = tuple(t for types in families.values() for t in types)
    request = ScoreRequest(every, target_capacity, unit, single_az, regions or (endpoint_region,))
    overall = scorer.score(endpoint_region, request)
    scored = []
    for family, types in families.items():
        answer = scorer.score(endpoint_region, ScoreRequest(tuple(types), target_capacity, unit, single_az,
                                                            request.regions))
        scored.append(FamilyScore(family, tuple(types), tuple(answer) if answer is not None else None))
    scored.sort(key=lambda f: (-(f.best or 0), f.family))
    return ScoreReport(request, tuple(overall) if overall is not None else None, tuple(scored))


def _rows(scores: tuple[Score, ...] | None) -> list[dict] | None:
    if scores is None:
        return None
    return [{"region": s.region, **({"zone": s.zone} if s.zone else {}), "score": s.score} for s in scores]


def report_json(report: ScoreReport, min_score: int) -> dict:
    r = report.request
    return {
        "target_capacity": r.target_capacity, "target_capacity_unit": r.unit, "single_az": r.single_az,
        "regions": list(r.regions), "min_score": min_score, "instance_types": list(r.instance_types),
        "scores": _rows(report.overall),
        "families": [{"family": f.family, "instance_types": list(f.instance_types), "best": f.best,
                      "healthy": f.healthy(min_score), "fewer_than_three_types": f.few_types,
                      "scores": _rows(f.scores)} for f in report.families],
    }


def _where(s: Score) -> str:
    return f"{s.region} {s.zone}" if s.zone else s.region


def report_lines(report: ScoreReport, min_score: int) -> list[str]:
    r = report.request
    per = "zone" if r.single_az else "region"
    lines = [f"spot placement scores per {per}, target {r.target_capacity} {r.unit}, "
             f"{len(r.instance_types)} types scored as one set:"]
    if report.overall is None:
        lines.append("  (refused: EC2's limit on new request configurations per 24 hours; retry later)")
    lines += [f"  {_where(s):<28} {s.score:>2}" for s in report.overall or ()]
    lines.append(f"families, each family's types scored as a group (healthy: best score >= {min_score}):")
    for f in report.families:
        if f.best is None:
            verdict, detail = "unscored", "refused by the 24-hour configuration limit"
        else:
            verdict = "healthy" if f.healthy(min_score) else "low"
            detail = ", ".join(f"{_where(s)} {s.score}" for s in f.scores or ())
        note = "  (fewer than 3 types: EC2 scores such a set low)" if f.few_types else ""
        lines.append(f"  {f.family:<10} {str(f.best or '-'):>2} {verdict:<8} {detail}  [{', '.join(f.instance_types)}]{note}")
    return lines
