"""The ceiling of benchmarks/callbacks.py: a bare Flask endpoint that only verifies the G2P
envelope signature (the same ``adapters.signing.verify``) and answers ACK — no database.

    gunicorn -w 2 -k sync -b 127.0.0.1:PORT --chdir benchmarks 'bare_verify:create_app()'

The bank's public keys come from ``BENCH_BANK_KEYS`` (a keys.json as ``ansinh certs init``
writes it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request

from adapters import signing


def create_app() -> Flask:
    keys = signing.KeyStore.from_keys_json(Path(os.environ["BENCH_BANK_KEYS"]))
    sender = os.environ.get("BENCH_BANK_ID", "bank-sim")
    app = Flask("bare-verify")

    @app.get("/health")
    def health() -> Any:
        return jsonify({"status": "ok"})

    @app.post("/verify")
    def verify() -> Any:
        envelope = json.loads(request.get_data())
        try:
            signing.verify(envelope, keys, expected_sender=sender)
        except signing.SignatureError as exc:
            return jsonify({"code": exc.code}), 401
        return jsonify({"message": {"ack_status": "ACK"}})

    return app
