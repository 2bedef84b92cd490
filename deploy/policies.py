"""Writes the least-privilege policy documents from responder/clouds/actions.py:

    python deploy/policies.py          # deploy/aliyun-ram-policy.json, deploy/aws-iam-policy.json
    python deploy/policies.py --print  # the s.yaml ramPolicy line and the template.yaml statements

s.yaml (vars.ramPolicy) and template.yaml carry the same statements; tests/test_policies.py checks
all four against what the flows call on the sandbox.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from responder.clouds.policies import policy_document  # noqa: E402

TARGETS = {"aliyun": ROOT / "deploy" / "aliyun-ram-policy.json", "aws": ROOT / "deploy" / "aws-iam-policy.json"}

if __name__ == "__main__":
    if "--print" in sys.argv:
        print("ramPolicy: '" + json.dumps(policy_document("aliyun"), separators=(",", ":")) + "'")
        print(json.dumps(policy_document("aws")["Statement"], indent=2))
    else:
        for cloud, path in TARGETS.items():
            path.write_text(json.dumps(policy_document(cloud), indent=2) + "\n")
            print(f"wrote {path.relative_to(ROOT)}")
