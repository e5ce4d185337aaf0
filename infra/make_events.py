"""Writes events/*.json: API Gateway HTTP API (payload 2.0) events for each route, a success and an
error case each, JWT claims in the request context.

Each starts from `sam local generate-event apigateway http-api-proxy` (so the shape is SAM's own)
and sets the route, path parameters, query, headers, claims and body (none when the case's body is
None). A case is (method, route, path parameters, body) or (…, query string).

A proxy is random, minted by the create-credential.created invocation; events that name the created
credential carry PROXY_PLACEHOLDER instead, and infra/lambda_events.py substitutes the real proxy into
a temporary copy before invoking them. Run from the repository root with `sam` on PATH:
python3 infra/make_events.py
"""

import base64
import json
import subprocess

CLAIMS = {"tenant_id": "demo-tenant", "sub": "lambda-events", "name": "Lambda Events"}

# Stands for the proxy create-credential.created returns: the shape of a real one (cfp_ and 43
# base64url characters), so it passes the same parsing; infra/lambda_events.py replaces it.
PROXY_PLACEHOLDER = "cfp_" + ("PLACEHOLDER" * 4)[:43]
# Well formed, but no credential has it (a real proxy is 256 random bits).
UNKNOWN_PROXY = "cfp_" + "A" * 43
GATEWAY_ROUTE = "/banking-auth/v1/proxy/{proxy}/{path+}"

CASES = {
    "create-credential.created": ("POST", "/banking-auth/v1/credentials", None,
        {"key": "lambda-demo-key", "provider": "BTG", "type": "PIX", "provider_data": {"client_id": "Jk10014812"}}),
    "create-credential.missing-fields": ("POST", "/banking-auth/v1/credentials", None, {}),
    "create-credential.list": ("GET", "/banking-auth/v1/credentials", None, None),
    "create-credential.uses": ("GET", "/banking-auth/v1/credentials/{proxy}/uses", {"proxy": PROXY_PLACEHOLDER}, None,
        "limit=10"),
    "create-credential.revoked": ("DELETE", "/banking-auth/v1/credentials/{proxy}", {"proxy": PROXY_PLACEHOLDER}, None),
    "use-credential.transfer": ("POST", GATEWAY_ROUTE, {"proxy": PROXY_PLACEHOLDER, "path": "pix/v1/transfers"},
        {"amount": "10.00", "key": "12345678901"}),
    "use-credential.not-found": ("POST", GATEWAY_ROUTE, {"proxy": UNKNOWN_PROXY, "path": "pix/v1/transfers"},
        {"amount": "10.00", "key": "12345678901"}),
    "patch-merchant-connection.rotated": ("PATCH", "/v1/merchants/{merchantId}/connection/{connectionId}",
        {"merchantId": "mid_test_2f428vcgdf94kv6y7rjwms59hf", "connectionId": "midCon_test_stripe0000000000000000001"},
        {"secret": "sk_test_rotated", "existingCredentials": {"secret": "sk_test_seeded_old_secret"}}),
    "patch-merchant-connection.not-found": ("PATCH", "/v1/merchants/{merchantId}/connection/{connectionId}",
        {"merchantId": "mid_test_unknown", "connectionId": "midCon_test_unknown"}, {"secret": "s"}),
    "request-authorization.approved": ("POST", "/payment-methods/v1/authorization", None,
        {"mti": "0100", "amount": 10.5, "currency": "BRL", "network": "VISA", "account_id": 1001,
         "entry_mode": "051", "processing_code": "003000", "tracking_id": "lambda-events-1"}),
    "request-authorization.invalid-mti": ("POST", "/payment-methods/v1/authorization", None,
        {"mti": "0300", "currency": "BRL", "network": "VISA", "account_id": 1001}),
    "request-authorization.read-back": ("GET", "/payment-methods/v1/authorizations/by-tracking-id/{tracking_id}",
        {"tracking_id": "lambda-events-1"}, None),
    "request-authorization.read-back-not-found": ("GET", "/payment-methods/v1/authorizations/{authorization_id}",
        {"authorization_id": "1"}, None),
    "request-authorization.balance": ("GET", "/payment-methods/v1/accounts/{account_id}/balance",
        {"account_id": "1001"}, None),
    # An advice: the network approved in stand-in, on a blocked card, beyond what 1001 has; then reversed.
    "request-authorization.advice": ("POST", "/payment-methods/v1/authorization", None,
        {"mti": "0120", "amount": 1500, "currency": "BRL", "network": "VISA", "card": {"stored_id": "tok_card_502"},
         "mode": "CREDIT", "entry_mode": "051", "processing_code": "003000", "tracking_id": "lambda-events-advice"}),
    "request-authorization.reversal-advice": ("POST", "/payment-methods/v1/authorization", None,
        {"mti": "0420", "currency": "BRL", "network": "VISA", "original_tracking_id": "lambda-events-advice",
         "tracking_id": "lambda-events-reversal"}),
}


def event(method, route, params, body, query=""):
    path = route
    for name, value in (params or {}).items():
        # {name}, or {name+} for a greedy parameter
        path = path.replace("{" + name + "}", value).replace("{" + name + "+}", value)
    raw = subprocess.run(
        ["sam", "local", "generate-event", "apigateway", "http-api-proxy", "--method", method, "--path", path.lstrip("/"),
         "--body", json.dumps(body if body is not None else "")],
        check=True, capture_output=True, text=True, env={"SAM_CLI_TELEMETRY": "0", "PATH": __import__("os").environ["PATH"]},
    ).stdout
    e = json.loads(raw)
    e["routeKey"] = e["requestContext"]["routeKey"] = f"{method} {route}"
    e["rawQueryString"] = query
    e.pop("queryStringParameters", None)
    if query:
        e["queryStringParameters"] = dict(pair.split("=", 1) for pair in query.split("&"))
    e.pop("cookies", None)
    e["headers"] = {"content-type": "application/json", "tracking_id": "lambda-events", "authorization": "Bearer verified-by-api-gateway"}
    e["requestContext"]["authorizer"] = {"jwt": {"claims": CLAIMS, "scopes": None}}
    e["requestContext"].pop("authentication", None)
    if params:
        e["pathParameters"] = params
    if body is None:
        # What API Gateway sends for a request without a body.
        e.pop("body", None)
        e["isBase64Encoded"] = False
        return e
    # Keep SAM's base64 body, but make sure it is this body.
    e["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    e["isBase64Encoded"] = True
    return e


if __name__ == "__main__":
    for name, case in CASES.items():
        with open(f"events/{name}.json", "w") as f:
            json.dump(event(*case), f, indent=2)
            f.write("\n")
        print(f"events/{name}.json")
