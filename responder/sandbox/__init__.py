"""Wire-level cloud emulators for tests, benchmarks and curl: one scenario format, three clouds.

Parts: scenario.py (the format, the stock book, the clock), faults.py (errors, timeouts, resets,
lost answers), aliyun_ecs*.py (ECS RPC server), aws_ec2.py + aws_*.py (moto plus what it lacks,
the ClientToken layer in aws_tokens.py), oci_*.py (OCI core and identity: oci_api the server,
oci_world its state, oci_render its JSON, oci_sign request signatures, oci_setup its API key and
settings), runtime.py (private emulators for one process: `--sandbox`), shared.py (every cloud on
one port for many processes: `responder sandbox`).
"""
