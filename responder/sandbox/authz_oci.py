"""OCI policy statements, evaluated as OCI IAM evaluates them for the sandbox's one user.

Parts: OciPolicy (parse the statements of a policy file → `allows(permission, location)`),
parse_statement. The permissions each operation needs, and which verb on which resource type
grants each, are the product's cited table (responder.clouds.permissions: OCI, OCI_GRANTS,
OCI_FAMILIES, OCI_FAMILY_EXTRAS, OCI_LOCATION).

Grammar ("How Policies Work", "Policy Syntax", docs.oracle.com/en-us/iaas/Content/Identity/
policysyntax/policysyntax.htm): `Allow group <group> to <verb> <resource-type> in compartment <name>
| in tenancy [where <condition>]`; verbs inspect < read < use < manage are cumulative; a family
(instance-family, virtual-network-family, volume-family) grants its members' permissions (and
instance-family some of its own). The only condition variable evaluated is `request.permission`,
alone or in `any {..}` / `all {..}`; any other variable, `any-user`, `Endorse`/`Admit` or `Define`
is refused at load rather than guessed at (the harsher reading). OCI has no Deny. `in tenancy`
covers every compartment; a permission on the tenancy itself (OCI_LOCATION) needs `in tenancy`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from responder.clouds.permissions import OCI_FAMILIES, OCI_FAMILY_EXTRAS, OCI_GRANTS, OCI_VERBS
from responder.sandbox.authz_json import PolicyError

_STATEMENT = re.compile(
    r"^allow\s+group\s+(?P<group>[\w.-]+)\s+to\s+(?P<verb>\w+)\s+(?P<resource>[\w-]+)\s+in\s+"
    r"(?:(?P<tenancy>tenancy)|compartment\s+(?P<compartment>[\w.:-]+))(?:\s+where\s+(?P<where>.+))?$",
    re.IGNORECASE)
_PERMISSION_IS = re.compile(r"^request\.permission\s*=\s*'([A-Z_]+)'$", re.IGNORECASE)


def _conditions(text: str) -> tuple[str, frozenset[str]]:
    """('any' | 'all', the permissions named): `request.permission = 'X'` or any/all {...}."""
    text = text.strip()
    block = re.match(r"^(any|all)\s*\{(.*)\}$", text, re.IGNORECASE | re.DOTALL)
    mode, parts = (block.group(1).lower(), block.group(2).split(",")) if block else ("all", [text])
    named = set()
    for part in parts:
        one = _PERMISSION_IS.match(part.strip())
        if one is None:
            raise PolicyError(f"the sandbox evaluates only request.permission conditions, not {part.strip()!r}")
        named.add(one.group(1).upper())
    return mode, frozenset(named)


@dataclass(frozen=True)
class _Statement:
    group: str
    verb: str
    resource: str
    location: str  # "tenancy" or a compartment name
    mode: str = ""
    permissions: frozenset[str] = frozenset()

    def grants(self, permission: str) -> bool:
        level = OCI_VERBS.index(self.verb)
        resource, least = OCI_GRANTS.get(permission, ("", "manage"))
        members = OCI_FAMILIES.get(self.resource, (self.resource,))
        granted = resource in members and level >= OCI_VERBS.index(least)
        granted = granted or any(permission in OCI_FAMILY_EXTRAS.get((self.resource, v), ())
                                 for v in OCI_VERBS[:level + 1])
        if not granted or not self.mode:
            return granted
        # request.permission has one value: `all` of several different names can never hold.
        return permission in self.permissions and (self.mode == "any" or len(self.permissions) == 1)


def parse_statement(line: str, where: str) -> _Statement:
    match = _STATEMENT.match(" ".join(line.split()))
    if match is None:
        raise PolicyError(f"{where}: not a statement the sandbox evaluates: {line.strip()!r}")
    verb = match["verb"].lower()
    if verb not in OCI_VERBS:
        raise PolicyError(f"{where}: unknown verb {verb!r}")
    mode, permissions = _conditions(match["where"]) if match["where"] else ("", frozenset())
    return _Statement(match["group"], verb, match["resource"].lower(),
                      "tenancy" if match["tenancy"] else match["compartment"], mode, permissions)


class OciPolicy:
    """The statements of one policy file (comments `#` and blank lines skipped)."""

    def __init__(self, text: str, name: str = "policy"):
        self.name = name
        self.statements = [parse_statement(line, f"{name} line {n}")
                           for n, line in enumerate(text.splitlines(), start=1)
                           if line.strip() and not line.strip().startswith("#")]

    def allows(self, group: str, permission: str, compartment: str, on_tenancy: bool = False) -> bool:
        for s in self.statements:
            if s.group.lower() != group.lower():
                continue
            if s.location != "tenancy" and (on_tenancy or s.location != compartment):
                continue
            if s.grants(permission):
                return True
        return False
