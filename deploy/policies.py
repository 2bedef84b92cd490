"""Writes the least-privilege policy documents from responder/clouds/actions.py and the permissions
table (responder/clouds/permissions.py):

    python deploy/policies.py          # deploy/aliyun-ram-policy.json, deploy/aws-iam-policy.json, deploy/oci-policy.txt
    python deploy/policies.py --print  # the s.yaml ramPolicy line and the template.yaml statements

s.yaml (vars.ramPolicy) and template.yaml carry the same statements; tests/test_policies.py checks
all of them against the table, and the sandbox enforces the files in deploy/.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from responder.clouds.permissions import OCI, OCI_GRANTS  # noqa: E402
from responder.clouds.policies import OCI_COMPARTMENT, OCI_GROUP, oci_policy_text, policy_document  # noqa: E402

TARGETS = {"aliyun": ROOT / "deploy" / "aliyun-ram-policy.json", "aws": ROOT / "deploy" / "aws-iam-policy.json"}
OCI_TARGET = ROOT / "deploy" / "oci-policy.txt"


def oci_file() -> str:
    """The OCI statements under a header saying what to replace and which operation needs what."""
    rows = "\n".join(f"#   {api:<24} " + ", ".join(f"{p} ({OCI_GRANTS[p][1]} {OCI_GRANTS[p][0]})" for p in needs)
                     for api, needs in sorted(OCI.items()))
    return (f"# OCI IAM policy for the responder's OCI adapter (responder/clouds/oci.py), least privilege, written by\n"
            f"# deploy/policies.py. Replace {OCI_GROUP} with the group of the user whose API key the responder signs\n"
            f"# with (OCI_USER_OCID), and {OCI_COMPARTMENT} with the compartment of OCI_COMPARTMENT_OCID (use\n"
            f"# `tenancy` instead of `compartment ...` when that is the root compartment, as for Always Free).\n"
            f"#\n# Operation → the permissions it needs (\"Permissions Required for Each API Operation\", Core Services;\n"
            f"# https://docs.oracle.com/en-us/iaas/Content/Identity/Reference/corepolicyreference.htm):\n{rows}\n"
            + oci_policy_text())


if __name__ == "__main__":
    if "--print" in sys.argv:
        print("ramPolicy: '" + json.dumps(policy_document("aliyun"), separators=(",", ":")) + "'")
        print(json.dumps(policy_document("aws")["Statement"], indent=2))
    else:
        for cloud, path in TARGETS.items():
            path.write_text(json.dumps(policy_document(cloud), indent=2) + "\n")
            print(f"wrote {path.relative_to(ROOT)}")
        OCI_TARGET.write_text(oci_file())
        print(f"wrote {OCI_TARGET.relative_to(ROOT)}")
