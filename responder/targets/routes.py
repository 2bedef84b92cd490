"""`GET /targets` and `GET /targets/<name>`: every target, or one, with what the cloud holds.

Parts: register (adds both routes to the Flask app; token-protected like /tasks).
"""

from __future__ import annotations

from flask import Flask, jsonify

from responder.targets.table import TargetStore


def register(app: Flask, authorised, unauthorised_message: str) -> None:

    def tstore() -> TargetStore:
        runner = app.extensions["responder"]["runner"]
        return TargetStore(runner.store.engine)

    @app.get("/targets")
    def list_targets():
        if not authorised():
            return jsonify(error=unauthorised_message), 401
        return jsonify(targets=[r.to_json() for r in tstore().list()])

    @app.get("/targets/<name>")
    def get_target(name: str):
        if not authorised():
            return jsonify(error=unauthorised_message), 401
        row = tstore().get(name)
        if row is None:
            return jsonify(error=f"no target {name}"), 404
        return jsonify(row.to_json())
