"""One contract, stated exactly (issue 16): the OpenAPI schema the service publishes accepts a request body exactly
when the service does. Boundary inputs go to both, the schema (jsonschema, Draft 2020-12, as OpenAPI 3.1 uses it)
and the live service; a hypothesis run does the same with random near-valid bodies. The documented maximums fit in
the body limit: one request with every text field at its maximum, in the costliest JSON encoding, is served.
Run: .venv/bin/pytest tests/service/test_service_contract.py
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from live_service import LiveService
from referencing import Registry, Resource
from test_fuzz_service import request_body

from amr_grpo.judge.contract import MAX_BATCH_ITEMS, MAX_TEXT_CHARS
from amr_grpo.service.settings import Settings

N = MAX_TEXT_CHARS
OK = {"patient_case": "F 30y, cystitis; nitrofurantoin 100 mg BD x 5 days", "model_output": "Decision: Approve"}

# (why, body): each is sent to the schema and to the service; the two must agree. The first four are the issue's.
BOUNDARIES = [
    ("an empty patient_case", {**OK, "patient_case": ""}),
    ("metrics 'foo'", {**OK, "metrics": "foo"}),
    ("metrics []", {**OK, "metrics": []}),
    ("a numeric ground_truth.decision", {**OK, "ground_truth": {"decision": 3}}),
    ("a blank patient_case", {**OK, "patient_case": " \n\t"}),
    ("patient_case at the maximum", {**OK, "patient_case": "c" * N}),
    ("patient_case one over", {**OK, "patient_case": "c" * (N + 1)}),
    ("astral characters count once", {**OK, "patient_case": "\U0001f600" * N}),
    ("model_output at the maximum", {**OK, "model_output": "o" * N}),
    ("model_output one over", {**OK, "model_output": "o" * (N + 1)}),
    ("an empty model_output", {**OK, "model_output": ""}),
    ("ground_truth text at the maximum", {**OK, "ground_truth": "g" * N}),
    ("ground_truth text one over", {**OK, "ground_truth": "g" * (N + 1)}),
    ("a null decision", {**OK, "ground_truth": {"decision": None, "reference": "NTG 2025"}}),
    ("flags as text", {**OK, "ground_truth": {"flags": "renal"}}),
    ("flags as a list of text", {**OK, "ground_truth": {"flags": ["renal", "allergy"]}}),
    ("a number among the flags", {**OK, "ground_truth": {"flags": ["renal", 1]}}),
    ("an unknown ground_truth key", {**OK, "ground_truth": {"decision": "Approve", "notes": [1, {"x": None}]}}),
    ("an empty case object", {**OK, "patient_case": {}}),
    ("metrics 'all'", {**OK, "metrics": "all"}),
    ("metrics 'PRIORITY'", {**OK, "metrics": "PRIORITY"}),
    ("metrics 'priority ' with a blank", {**OK, "metrics": "priority "}),
    ("metrics as comma-separated keys", {**OK, "metrics": " ,clinical_accuracy , safety_awareness,"}),
    ("metrics as commas only", {**OK, "metrics": " , ,"}),
    ("a known and an unknown key", {**OK, "metrics": "clinical_accuracy,bogus"}),
    ("a repeated key in a list", {**OK, "metrics": ["safety_awareness", "safety_awareness"]}),
    ("'all' inside a list", {**OK, "metrics": ["all"]}),
    ("metrics null", {**OK, "metrics": None}),
    ("an extra field", {**OK, "temperature": 0}),
    ("no model_output", {"patient_case": "x"}),
]


@pytest.fixture(scope="module")
def svc():
    with LiveService(Settings(auth=False, rate_limit_per_minute=0)) as s:
        yield s


@pytest.fixture(scope="module")
def schemas(svc) -> dict[str, Draft202012Validator]:
    spec = httpx.get(svc.url + "/openapi.json").json()
    registry = Registry().with_resource("urn:openapi", Resource.opaque(spec))  # $refs resolve inside the document

    def validator(name: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": f"urn:openapi#/components/schemas/{name}"}, registry=registry)

    return {"single": validator("EvaluationRequestModel"), "batch": validator("BatchRequestModel")}


def status(svc, path: str, body: object) -> int:
    r = httpx.post(svc.url + path, json=body, timeout=60)
    assert r.status_code in (200, 422), r.text[:300]
    return r.status_code


@pytest.mark.parametrize(("why", "body"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_schema_and_service_agree_on_boundaries(svc, schemas, why, body):
    errors = [e.message[:120] for e in schemas["single"].iter_errors(body)]
    assert (status(svc, "/v1/evaluate", body) == 200) == (not errors), (why, errors)


@pytest.mark.parametrize("n", [0, 1, MAX_BATCH_ITEMS, MAX_BATCH_ITEMS + 1])
def test_schema_and_service_agree_on_batch_size(svc, schemas, n):
    body = {"items": [OK] * n}
    assert (status(svc, "/v1/evaluate/batch", body) == 200) == schemas["batch"].is_valid(body)


def test_the_schema_states_this_services_batch_limit():
    with LiveService(Settings(auth=False, max_batch_items=3)) as s:
        spec = httpx.get(s.url + "/openapi.json").json()
    assert spec["components"]["schemas"]["BatchRequestModel"]["properties"]["items"]["maxItems"] == 3
    assert "at most 1,048,576 bytes" in spec["info"]["description"]  # the body limit is documented


def test_a_request_at_every_maximum_fits_the_body_limit(svc):
    # every text field at MAX_TEXT_CHARS astral characters, each sent as an escaped surrogate pair (12 bytes):
    # 3 x 20,000 x 12 = 720,000 bytes of text, the costliest encoding JSON allows, under the 1 MiB limit
    body = {"patient_case": "\U0001f600" * N, "model_output": "\U0001f600" * N, "ground_truth": "\U0001f600" * N,
            "metrics": "all"}
    raw = json.dumps(body, ensure_ascii=True).encode()
    assert 720_000 < len(raw) <= Settings().max_body_bytes
    r = httpx.post(svc.url + "/v1/evaluate", content=raw, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 200, r.text[:300]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(body=request_body)
def test_schema_and_service_agree_on_random_bodies(svc, schemas, body):
    raw = json.dumps(body)
    assume("Infinity" not in raw and "NaN" not in raw)  # numbers JSON cannot carry: refused before the schema
    single = {**OK, **body}
    assert (status(svc, "/v1/evaluate", single) == 200) == schemas["single"].is_valid(single), single


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(items=st.lists(request_body, max_size=3))
def test_schema_and_service_agree_on_random_batches(svc, schemas, items):
    assume("Infinity" not in json.dumps(items) and "NaN" not in json.dumps(items))
    body = {"items": [{**OK, **i} for i in items]}
    assert (status(svc, "/v1/evaluate/batch", body) == 200) == schemas["batch"].is_valid(body), body
