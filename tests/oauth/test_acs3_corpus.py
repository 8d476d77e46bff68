"""One canonical form for ACS3-HMAC-SHA256: what `oauth.acs3` computes (the management API's
verifier) and what `runtime.signing` puts on upstream requests is byte-equal to both official
`get_authorization` functions on a generated corpus, and every signed request passes the verifier."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

from alibabacloud_openapi_util.client import Client as OpenApiUtil
from alibabacloud_tea_openapi.utils import Utils as TeaOpenApiUtils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oauth import acs3
from runtime import signing

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
OFFICIAL = (OpenApiUtil.get_authorization, TeaOpenApiUtils.get_authorization)

# Parameter names as APIs have them (letters, digits, dots for repeat lists); values anything printable.
names = st.from_regex(r"[A-Za-z][A-Za-z0-9_.]{0,15}", fullmatch=True)
values = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=24)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)
paths = st.lists(st.from_regex(r"[A-Za-z0-9_~-]{1,10}", fullmatch=True), max_size=3).map(lambda p: "/" + "/".join(p))
requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
        "path": paths,
        "query": st.dictionaries(names, values, max_size=6),
        "headers": st.dictionaries(
            st.sampled_from(["x-acs-action", "x-acs-version", "x-acs-date", "accept", "content-type", "user-agent"]),
            header_values,
            max_size=6,
        ),
        "body": st.binary(max_size=64),
    }
)
corpus = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def official(request: dict, headers: dict[str, str], signer) -> str:
    wire = SimpleNamespace(
        method=request["method"], pathname=request["path"], query=dict(request["query"]), headers=headers
    )
    return signer(wire, "ACS3-HMAC-SHA256", hashlib.sha256(request["body"]).hexdigest(), "LTAIcorpus", "secret")


@corpus
@given(requests)
def test_the_canonical_form_is_the_official_one(request):
    headers = {"host": "api.example.com", **request["headers"]}
    ours = acs3.authorization(
        method=request["method"],
        path=request["path"],
        query=list(request["query"].items()),
        headers=headers.items(),
        hashed_payload=hashlib.sha256(request["body"]).hexdigest(),
        access_key_id="LTAIcorpus",
        secret="secret",
    )
    for signer in OFFICIAL:
        assert ours == official(request, headers, signer)


@corpus
@given(requests)
def test_upstream_requests_carry_the_official_signature_and_pass_the_verifier(request):
    outgoing = signing.HttpRequest(
        method=request["method"],
        url="https://api.example.com" + request["path"],
        query=list(request["query"].items()),
        headers={k: v for k, v in request["headers"].items() if not k.startswith("x-acs-")},
        body=request["body"],
    )
    signing.sign_acs3(
        outgoing,
        action="DescribeThings",
        version="2026-01-01",
        access_key_id="LTAIcorpus",
        access_key_secret="secret",
        now=NOW,
        nonce="corpus-nonce",
    )
    sent = outgoing.headers["Authorization"]
    signed_names = acs3.parse_authorization(sent).signed_headers
    headers = {k.lower(): v for k, v in outgoing.headers.items() if k.lower() in signed_names}
    # What arrives: the query as the URL carries it, decoded again by the receiver.
    received = dict(request, query=dict(parse_qsl(urlsplit(outgoing.full_url()).query, keep_blank_values=True)))
    for signer in OFFICIAL:
        assert sent == official(received, headers, signer)
    arrived = acs3.SignedRequest(
        request["method"],
        request["path"],
        list(received["query"].items()),
        {k.lower(): v for k, v in outgoing.headers.items()},
        request["body"],
    )
    acs3.verify_signature(arrived, acs3.parse_authorization(sent), "secret")
