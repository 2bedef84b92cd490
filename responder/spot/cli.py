"""`responder spot-scores` and `responder nodepools`: which instance families EC2 can give as spot
right now, and Karpenter NodePools built from the healthy ones.

Parts: EXIT_* (exit codes), SELECTION (the options both commands take, --quiet too: progress goes
to stderr otherwise, and the types asked that the Region does not offer are named there), AwsSession (the adapter
and Region: the sandbox, or real AWS through boto3's credential chain), spot_scores, nodepools,
_selected (catalog → selection → ScoreReport), parse_labels / parse_taints.

Exit codes: 0 done; 1 a cloud error, or no family scored high enough to write NodePools; 2 bad
input (unknown type or family, a score outside 1-10, no families, malformed labels or taints,
weights that would rank on-demand first, an unknown Region) — the message names the problem and
nothing is asked of EC2 beyond the catalog read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import yaml

from responder.cli_progress import QUIET, Say, progress
from responder.clouds.spot_groups import parse_type
from responder.errors import CloudError, Invalid
from responder.settings import Settings, SettingsError
from responder.spot.nodepools import (
    DEFAULT_LIMITS,
    NODE_CLASSES,
    HealthyFamily,
    PoolError,
    PoolOptions,
    snippet_comment,
    to_yaml,
    workload_snippet,
)
from responder.spot.nodepools import nodepools as build_pools
from responder.spot.report import SelectionError, report_json, report_lines, resolve_selection, score_families

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
MAX_TARGET = 2_000_000_000  # GetSpotPlacementScores TargetCapacity range 1..2000000000

SELECTION = (
    click.option("--region", default=None,
                 help="Region whose EC2 endpoint is asked (default: AWS_DEFAULT_REGION / the profile; "
                      "with --sandbox the scenario's)."),
    click.option("--instance-types", default="", help="Comma-separated types, e.g. m5.large,m6i.large,c5.xlarge."),
    click.option("--families", default="", help="Comma-separated families, e.g. c5,c6i,m5,m6i,r5,r6i."),
    click.option("--sizes", default="large,xlarge,2xlarge,4xlarge", show_default=True,
                 help="Sizes combined with --families."),
    click.option("--target-capacity", type=click.IntRange(1, MAX_TARGET), default=1, show_default=True,
                 help="Capacity to score for (instances, or vCPUs / MiB with --unit)."),
    click.option("--unit", type=click.Choice(["units", "vcpu", "memory-mib"]), default="units", show_default=True,
                 help="TargetCapacityUnitType."),
    click.option("--single-az", is_flag=True, help="Score each Availability Zone instead of each Region."),
    click.option("--min-score", type=click.IntRange(1, 10), default=7, show_default=True,
                 help="A family is healthy when its best score is at least this (1-10)."),
    click.option("--sandbox", is_flag=True, help="Ask the built-in sandbox EC2 instead of AWS."),
    click.option("--scenario", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="Sandbox scenario file."),
    click.option("--endpoint", default=None, help="EC2 endpoint override (default RESPONDER_AWS_ENDPOINT_URL)."),
    QUIET,
)


def _selection_options(command):
    for option in reversed(SELECTION):
        command = option(command)
    return command


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class AwsSession:
    """The AWS adapter for one command: the sandbox's, or one on boto3's credential chain."""

    def __init__(self, sandbox: bool, scenario: str | None, endpoint: str | None, region: str | None):
        self.box = None
        if sandbox:
            # Lazy: the sandbox is an install extra a production install lacks.
            from responder.sandbox.runtime import start_sandbox

            self.box = start_sandbox(scenario, only=("aws",))
            if "aws" not in self.box.clouds:
                self.close()
                raise SelectionError("the sandbox scenario has no aws region")
            self.cloud = self.box.clouds["aws"]
            self.region = region or self.box.scenario.regions_of("aws")[0].region
            return
        if scenario:
            raise SelectionError("--scenario only makes sense with --sandbox")
        # Lazy: boto3 costs about 0.3 s of a start; it loads only when AWS is used.
        import boto3

        # Lazy: boto3 costs about 0.3 s of a start; it loads only when AWS is used.
        from responder.clouds.aws import AwsCloud

        try:
            endpoint = endpoint or Settings.from_env().aws_endpoint_url or None
        except SettingsError as exc:
            raise SelectionError(str(exc)) from None
        self.cloud = AwsCloud(endpoint_url=endpoint)
        self.region = region or boto3.session.Session().region_name or ""
        if not self.region:
            raise SelectionError("no region: give --region or set AWS_DEFAULT_REGION")

    def close(self) -> None:
        if self.box is not None:
            self.box.stop()


def _selected(session: AwsSession, o: dict, regions: tuple[str, ...], say: Say):
    say(f"reading the EC2 instance types of {session.region}")
    specs = session.cloud.instance_types(session.region)
    families, sizes = _split(o["families"]), _split(o["sizes"])
    selection = resolve_selection(set(specs), session.region, _split(o["instance_types"]), families, sizes)
    asked = [f"{f}.{size}" for f in dict.fromkeys(families) for size in dict.fromkeys(sizes)]
    missing = [t for t in asked if t not in specs]
    if missing:  # the families x sizes the region does not offer are not scored: say which
        say(f"scoring {len(asked) - len(missing)} of the {len(asked)} types asked: {', '.join(missing)} "
            f"not offered in {session.region}", done=True)
    say(f"scoring {sum(map(len, selection.values()))} types as one set and {len(selection)} families as groups")
    report = score_families(session.cloud.spot_scorer(), session.region, selection, o["target_capacity"],
                            o["unit"], o["single_az"], regions)
    return specs, selection, report


def _run(o: dict, body) -> None:
    """Open the session, run `body(session, say)`, map errors to exit codes, always close."""
    with progress("starting the sandbox EC2" if o["sandbox"] else "asking EC2", o["quiet"]) as say:
        try:
            session = AwsSession(o["sandbox"], o["scenario"], o["endpoint"], o["region"])
        except SelectionError as exc:
            _fail(str(exc), EXIT_BAD_INPUT)
        try:
            body(session, say)
        except (SelectionError, PoolError) as exc:
            _fail(str(exc), EXIT_BAD_INPUT)
        except Invalid as exc:
            _fail(f"EC2 refused the request: {exc}", EXIT_BAD_INPUT)
        except CloudError as exc:
            _fail(f"EC2 call failed: {exc}", EXIT_FAILED)
        finally:
            session.close()


@click.command("spot-scores")
@_selection_options
@click.option("--regions", default="", help="Comma-separated Regions to score (default: --region).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def spot_scores(regions: str, as_json: bool, **o) -> None:
    """Spot Placement Scores per Region or zone for the whole set, and for each family as a group."""
    o["quiet"] = o["quiet"] or as_json  # --json: stdout is the answer, stderr only errors

    def body(session: AwsSession, say: Say) -> None:
        _, _, report = _selected(session, o, tuple(_split(regions)) or (session.region,), say)
        if as_json:
            click.echo(json.dumps(report_json(report, o["min_score"]), sort_keys=True))
        else:
            for line in report_lines(report, o["min_score"]):
                click.echo(line)

    _run(o, body)


def parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in _split(text):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SelectionError(f"--labels: '{item}' is not key=value")
        pairs.append((key, value))
    return tuple(pairs)


def parse_taints(text: str) -> tuple[tuple[str, str, str], ...]:
    taints = []
    for item in _split(text):
        pair, sep, effect = item.rpartition(":")
        key, _, value = pair.partition("=")
        if not sep or not key or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise SelectionError(f"--taints: '{item}' is not key=value:NoSchedule|PreferNoSchedule|NoExecute")
        taints.append((key, value, effect))
    return tuple(taints)


@click.command("nodepools")
@_selection_options
@click.option("--name", default="flexible", show_default=True, help="NodePool name prefix (NAME-spot, NAME-ondemand).")
@click.option("--node-class", type=click.Choice(sorted(NODE_CLASSES)), default="eks-auto", show_default=True,
              help="eks-auto: EKS Auto Mode eks.amazonaws.com/NodeClass; ec2nodeclass: Karpenter's EC2NodeClass.")
@click.option("--node-class-name", default="default", show_default=True, help="Name of the NodeClass referenced.")
@click.option("--labels", default="workload-type=flexible", show_default=True, help="Node labels, key=value,...")
@click.option("--taints", default="workload-type=flexible:NoSchedule", show_default=True,
              help="Node taints, key=value:Effect,... ('' for none).")
@click.option("--spot-weight", type=int, default=100, show_default=True, help="Spot NodePool weight (tried first).")
@click.option("--ondemand-weight", type=int, default=10, show_default=True, help="On-demand NodePool weight.")
@click.option("--consolidation-policy", type=click.Choice(["WhenEmpty", "WhenEmptyOrUnderutilized"]),
              default="WhenEmpty", show_default=True)
@click.option("--consolidate-after", default="30s", show_default=True, help="e.g. 30s, 5m, Never.")
@click.option("--limit-cpu", default=dict(DEFAULT_LIMITS)["cpu"], show_default=True,
              help="NodePool limits.cpu: the most vCPUs each pool may launch.")
@click.option("--limit-memory", default=dict(DEFAULT_LIMITS)["memory"], show_default=True,
              help="NodePool limits.memory, e.g. 1000Gi.")
@click.option("--no-limits", is_flag=True, help="Write no limits (each pool may launch without bound).")
@click.option("--snippet-file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the workload snippet (tolerations, nodeSelector, spot-first nodeAffinity) as YAML here.")
def nodepools(name, node_class, node_class_name, labels, taints, spot_weight, ondemand_weight,
              consolidation_policy, consolidate_after, limit_cpu, limit_memory, no_limits, snippet_file, **o) -> None:
    """Write a spot and an on-demand Karpenter NodePool (YAML, stdout) over the families that scored
    at least --min-score, then the workload snippet that prefers spot as YAML comments; the families
    left out and why go to stderr."""

    def body(session: AwsSession, say: Say) -> None:
        limits = () if no_limits else tuple((k, v) for k, v in (("cpu", limit_cpu), ("memory", limit_memory)) if v)
        options = PoolOptions(name, node_class, node_class_name, parse_labels(labels), parse_taints(taints),
                              spot_weight, ondemand_weight, consolidation_policy, consolidate_after, limits)
        options.check()  # before any score is asked
        specs, selection, report = _selected(session, o, (session.region,), say)
        healthy = []
        for f in report.families:
            if not f.healthy(o["min_score"]):
                why = "refused by the configuration limit" if f.best is None else f"best score {f.best} < {o['min_score']}"
                click.echo(f"left out: {f.family} ({why})", err=True)
                continue
            name_of = parse_type(f.instance_types[0])
            healthy.append(HealthyFamily(f.family, name_of.category if name_of else f.family,
                                         name_of.generation if name_of else 0,
                                         tuple(sorted({specs[t].cpu for t in f.instance_types})),
                                         tuple(sorted({specs[t].architecture for t in f.instance_types}))))
        if not healthy:
            _fail(f"no family scored at least {o['min_score']}: no NodePools written", EXIT_FAILED)
        snippet = workload_snippet(options)
        click.echo(to_yaml(build_pools(healthy, options)) + snippet_comment(snippet), nl=False)
        if snippet_file:
            Path(snippet_file).write_text(yaml.safe_dump(snippet, sort_keys=False))

    _run(o, body)
