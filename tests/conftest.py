"""Shared test set-up: no network, no real credentials, no stray WARDEN_* settings."""
from __future__ import annotations

import os

import pytest

# Set before any boto3 / chromadb import: no metadata-service probes, no telemetry, no hub downloads.
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
})


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("WARDEN_"):
            monkeypatch.delenv(key, raising=False)
