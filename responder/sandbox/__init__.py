"""Wire-level cloud emulators for tests, benchmarks and curl: one scenario format, two clouds.

Parts: scenario.py (the format, the stock book, the clock), faults.py (errors, timeouts, resets,
lost answers), aliyun_ecs*.py (ECS RPC server), aws_ec2.py + aws_*.py (moto plus what it lacks,
the ClientToken layer in aws_tokens.py), runtime.py (private emulators for one process:
`--sandbox`), shared.py (both clouds on one port for many processes: `responder sandbox`).
"""
