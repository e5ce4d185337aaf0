"""Least privilege in template.yaml, asserted: fails (exit 1) if any function role, key policy, retention
rule, parameter or route drifts from what the stack needs.

The KMS part is evaluated, not pattern-matched: a small evaluator resolves the template's intrinsics
(account 111122223333, us-east-1, key admin arn:aws:iam::111122223333:role/cofre-key-admin) and
decides each request the way KMS does for a same-account caller: an explicit Deny (key policy or IAM)
wins; otherwise the key policy must allow the principal by name, or allow the account (root) and the
principal's IAM policy allow it too (IAM delegation: "any principal an IAM policy allows"). Principals:
the account root user, any IAM role whose IAM policy allows kms:* (an administrator), the key admin
(same IAM), each function role with its template IAM policy, and use-credential's role with kms:*
added to its IAM. Requests: Decrypt, ReEncryptFrom, GenerateDataKey, Encrypt, CreateGrant,
PutKeyPolicy, DisableKey, ScheduleKeyDeletion, with and without each encryption-context purpose,
through DynamoDB, through Secrets Manager for each secret, with a 7- and a 30-day deletion window. Every
answer must equal the intended one (`intended` below); the matrix of what is allowed is printed. Each
key is also evaluated with an "Allow everyone kms:*" statement added, to prove its Deny statements hold
whatever a later Allow says.

Also checked: each role's exact IAM actions per resource (KMS only on TableKey through DynamoDB and
SecretsKey through Secrets Manager, own secrets only); keys, tables and the HMAC secret retained on
deletion and replacement, keys rotated with a 30-day deletion window; secrets on the stack's key;
JwtIssuer/JwtAudience/KeyAdminRoleArn patterns (accepting and refusing sample values) and
samconfig.toml's values against them, each environment deployed as the key admin; reserved
concurrency per function from its parameter (0 = none reserved); expire-holds' Timeout against the
time its sweep keeps free before the deadline; the JWT authorizer reading Authorization; every route
behind it.

Then the breakages: each is a deliberate regression applied to a copy of the template, and the check
must fail on every one of them.

Usage: python3 infra/template_policy_check.py [TEMPLATE]   (default: template.yaml)
"""

import copy
import fnmatch
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

from cfnlint.decode import cfn_yaml

ACCOUNT, REGION, PARTITION, STACK = "111122223333", "us-east-1", "aws", "cofre-test"
KEY_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/cofre-key-admin"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
DYNAMODB = f"dynamodb.{REGION}.amazonaws.com"
SECRETS_MANAGER = f"secretsmanager.{REGION}.amazonaws.com"

ROLES = {
    "CreateCredentialFunction": "CreateCredentialRole",
    "PatchMerchantConnectionFunction": "PatchMerchantConnectionRole",
    "RequestAuthorizationFunction": "RequestAuthorizationRole",
    "UseCredentialFunction": "UseCredentialRole",
    "ExpireHoldsFunction": "ExpireHoldsRole",
    "EventsEnrichmentFunction": "EventsEnrichmentRole",
}
# Roles no function runs as, and who may assume each role.
PIPE_ROLE = "EventsPipeRole"
LAMBDA_TRUST = [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
TRUST = {PIPE_ROLE: [{"Effect": "Allow", "Principal": {"Service": "pipes.amazonaws.com"}, "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": "Ref:AWS::AccountId"}}}]}
# Principals of the KMS evaluation besides the four functions (what `intended` calls them).
OTHER_PRINCIPALS = {"events-pipe": PIPE_ROLE, "events-enrichment": "EventsEnrichmentRole"}
FUNCTION_OF_ROLE = {
    "CreateCredentialRole": "create-credential", "UseCredentialRole": "use-credential",
    "PatchMerchantConnectionRole": "patch-merchant-connection", "RequestAuthorizationRole": "request-authorization",
    "ExpireHoldsRole": "expire-holds",
}
CONCURRENCY = {
    "CreateCredentialFunction": ("CreateCredentialConcurrency", "ReserveCreateCredential"),
    "UseCredentialFunction": ("UseCredentialConcurrency", "ReserveUseCredential"),
    "PatchMerchantConnectionFunction": ("PatchMerchantConnectionConcurrency", "ReservePatchMerchantConnection"),
    "RequestAuthorizationFunction": ("RequestAuthorizationConcurrency", "ReserveRequestAuthorization"),
}

LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
TABLE_KEY_USE = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}

# role -> resource -> actions. Resources are written as the check normalises them (see `ref`).
EXPECTED_ACTIONS = {
    "CreateCredentialRole": {
        "GetAtt:CreateCredentialLogGroup.Arn": LOGS,
        "*": XRAY,
        "GetAtt:CredentialsTable.Arn": {"dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem"},
        "Ref:PartnerConfigSecret": {"secretsmanager:GetSecretValue"},
        "GetAtt:TableKey.Arn": TABLE_KEY_USE,
        "GetAtt:SecretsKey.Arn": {"kms:Decrypt"},
    },
    "UseCredentialRole": {
        "GetAtt:UseCredentialLogGroup.Arn": LOGS,
        "*": XRAY,
        "GetAtt:CredentialsTable.Arn": {"dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem"},
        "Ref:PartnerConfigSecret": {"secretsmanager:GetSecretValue"},
        "GetAtt:TableKey.Arn": TABLE_KEY_USE,
        "GetAtt:SecretsKey.Arn": {"kms:Decrypt"},
    },
    "PatchMerchantConnectionRole": {
        "GetAtt:PatchMerchantConnectionLogGroup.Arn": LOGS,
        # BatchGetSecretValue has no resource-level permissions; each secret still needs GetSecretValue.
        "*": XRAY | {"secretsmanager:BatchGetSecretValue"},
        "GetAtt:MerchantsTable.Arn": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "Ref:ProcessorConfigSecret": {"secretsmanager:GetSecretValue"},
        "Ref:HmacKeySecret": {"secretsmanager:GetSecretValue"},
        "GetAtt:TableKey.Arn": TABLE_KEY_USE,
        "GetAtt:SecretsKey.Arn": {"kms:Decrypt"},
    },
    "RequestAuthorizationRole": {
        "GetAtt:RequestAuthorizationLogGroup.Arn": LOGS,
        "*": XRAY,
        "GetAtt:LedgerTable.Arn": {"dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        "GetAtt:EventsTable.Arn": {"dynamodb:PutItem"},
        "Ref:HmacKeySecret": {"secretsmanager:GetSecretValue"},
        "GetAtt:TableKey.Arn": TABLE_KEY_USE,
        "GetAtt:SecretsKey.Arn": {"kms:Decrypt"},
    },
    # The sweep: the due-holds index (Query, nothing else), the authorizations and accounts it
    # releases, the events; no secret.
    "ExpireHoldsRole": {
        "GetAtt:ExpireHoldsLogGroup.Arn": LOGS,
        "*": XRAY,
        "Sub:${LedgerTable.Arn}/index/due-holds": {"dynamodb:Query"},
        "GetAtt:LedgerTable.Arn": {"dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        "GetAtt:EventsTable.Arn": {"dynamodb:PutItem"},
        "GetAtt:TableKey.Arn": TABLE_KEY_USE,
    },
    # The enrichment reads and calls nothing: the pipe hands it the records.
    "EventsEnrichmentRole": {"GetAtt:EventsEnrichmentLogGroup.Arn": LOGS, "*": XRAY},
    PIPE_ROLE: {
        "GetAtt:EventsTable.StreamArn": {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                                         "dynamodb:ListStreams"},
        "GetAtt:TableKey.Arn": {"kms:Decrypt"},
        "GetAtt:EventsEnrichmentFunction.Arn": {"lambda:InvokeFunction"},
        "GetAtt:EventBus.Arn": {"events:PutEvents"},
        "GetAtt:EventsDeadLetterQueue.Arn": {"sqs:SendMessage"},
    },
}
# The secrets each role reads, hence may have Secrets Manager decrypt for it.
SECRETS_OF = {
    "CreateCredentialRole": {"PartnerConfigSecret"}, "UseCredentialRole": {"PartnerConfigSecret"},
    "PatchMerchantConnectionRole": {"ProcessorConfigSecret", "HmacKeySecret"},
    "RequestAuthorizationRole": {"HmacKeySecret"},
    "ExpireHoldsRole": set(),
}
SECRETS = {"PartnerConfigSecret": "partner-config", "ProcessorConfigSecret": "processor-config",
           "HmacKeySecret": "hmac-key"}
KEYS = ("DataKey", "TableKey", "SecretsKey")
TABLES = ("CredentialsTable", "MerchantsTable", "LedgerTable", "EventsTable")

ROUTES = {
    "CreateCredentialFunction": {
        "POST /banking-auth/v1/credentials", "GET /banking-auth/v1/credentials",
        "DELETE /banking-auth/v1/credentials/{proxy}", "GET /banking-auth/v1/credentials/{proxy}/uses",
    },
    "PatchMerchantConnectionFunction": {"PATCH /v1/merchants/{merchantId}/connection/{connectionId}"},
    "RequestAuthorizationFunction": {
        "POST /payment-methods/v1/authorization", "GET /payment-methods/v1/authorizations/{authorization_id}",
        "GET /payment-methods/v1/authorizations/by-tracking-id/{tracking_id}",
        "GET /payment-methods/v1/accounts/{account_id}/balance",
    },
    "UseCredentialFunction": {
        f"{m} /banking-auth/v1/proxy/{{proxy}}/{{path+}}" for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
    },
}

# Sample parameter values: (accepted, refused).
PATTERN_SAMPLES = {
    "JwtIssuer": (
        ["https://auth.cofre.example", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
         "https://tenant.auth0.com/", "https://login.example.com:8443/realms/cofre"],
        ["http://auth.cofre.example", "https://", "auth.cofre.example", "https://auth.cofre.example/?x=1",
         "https://auth.cofre.example#top", "https://auth cofre.example", "", " https://auth.cofre.example",
         "https://-bad.example"],
    ),
    "JwtAudience": (
        ["cofre-api", "https://api.cofre.example", "0oa1b2c3d4e5f6g7h8i9"],
        ["", " ", "cofre api", "-cofre", "a" * 257],
    ),
    "KeyAdminRoleArn": (
        [KEY_ADMIN, "arn:aws:iam::123456789012:role/security/cofre-key-admin", "arn:aws-cn:iam::123456789012:role/k"],
        ["arn:aws:iam::123456789012:user/alice", ROOT_ARN, "*", "arn:aws:iam::12345:role/x", "cofre-key-admin"],
    ),
}


# --- reporting -----------------------------------------------------------------------------------
class Report:
    def __init__(self, verbose):
        self.verbose, self.failures = verbose, []

    def check(self, ok, what, detail=""):
        if self.verbose:
            print(f"{'ok  ' if ok else 'FAIL'} {what}" + ("" if ok else f": {detail}"))
        if not ok:
            self.failures.append(what)

    def say(self, line):
        if self.verbose:
            print(line)


def listed(value):
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def plain(value):
    """cfn-lint's nodes as plain dicts, lists and strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def ref(value):
    """A resource, principal or value as one comparable string (for the structural checks)."""
    if isinstance(value, dict) and len(value) == 1:
        (name, arg), = value.items()
        if name == "Ref":
            return f"Ref:{arg}"
        if name == "Fn::GetAtt":
            return "GetAtt:" + (".".join(arg) if isinstance(arg, list) else str(arg))
        if name == "Fn::Sub":
            return f"Sub:{arg if isinstance(arg, str) else arg[0]}"
    if isinstance(value, dict):
        return {str(k): ref(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ref(v) for v in value]
    return str(value)


# --- resolving the template's intrinsics to concrete values --------------------------------------
class Unresolvable(Exception):
    pass


def resolver(template):
    resources, parameters = template.get("Resources", {}), template.get("Parameters", {})

    def arn_of(name):
        kind = resources.get(name, {}).get("Type")
        return {
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{STACK}-{name}:*",
            "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-{name}",
            "AWS::Events::EventBus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{STACK}-events",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-{name}",
        }.get(kind)

    def by_ref(name):
        pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
                  "AWS::StackName": STACK, "AWS::URLSuffix": "amazonaws.com"}
        if name in pseudo:
            return pseudo[name]
        if name == "KeyAdminRoleArn":
            return KEY_ADMIN
        if name in parameters:
            if "Default" not in parameters[name]:
                raise Unresolvable(f"parameter {name} has no value to evaluate with")
            return str(parameters[name]["Default"])
        kind = resources.get(name, {}).get("Type")
        if kind == "AWS::SecretsManager::Secret":
            return arn_of(name)
        if kind == "AWS::KMS::Key":
            return name
        if kind:
            return f"{STACK}-{name}"
        raise Unresolvable(f"Ref {name}")

    def resolve(value):
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict) and len(value) == 1:
            (name, arg), = value.items()
            if name == "Ref":
                return by_ref(str(arg))
            if name == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                if attribute == "StreamArn" and resources.get(resource, {}).get("Type") == "AWS::DynamoDB::Table":
                    return f"{arn_of(resource)}/stream/2026-01-01T00:00:00.000"
                if attribute != "Arn" or arn_of(resource) is None:
                    raise Unresolvable(f"GetAtt {resource}.{attribute}")
                return arn_of(resource)
            if name == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def one(match):
                    token = match.group(1)
                    if token in variables:
                        return str(resolve(variables[token]))
                    if "." in token:
                        return str(resolve({"Fn::GetAtt": token.split(".", 1)}))
                    return str(by_ref(token))

                return re.sub(r"\$\{([^}!]+)\}", one, str(text))
            if name.startswith("Fn::") or name == "Condition":
                raise Unresolvable(f"{name} in a policy")
        if isinstance(value, dict):
            return {str(k): resolve(v) for k, v in value.items()}
        return str(value) if not isinstance(value, bool) else str(value).lower()

    return resolve, arn_of


# --- the evaluator -------------------------------------------------------------------------------
NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike",
           "NumericNotEquals"}


def like(pattern, value):
    return fnmatch.fnmatchcase(value, pattern)


def compare(operator, actual, expected):
    if operator in ("StringEquals",):
        return any(actual == e for e in expected)
    if operator == "StringEqualsIgnoreCase":
        return any(actual.lower() == e.lower() for e in expected)
    if operator in ("StringLike", "ArnEquals", "ArnLike"):
        return any(like(e, actual) for e in expected)
    if operator == "Bool":
        return any(actual.lower() == e.lower() for e in expected)
    if operator.startswith("Numeric"):
        a, es = float(actual), [float(e) for e in expected]
        test = {"NumericEquals": lambda x, y: x == y, "NumericLessThan": lambda x, y: x < y,
                "NumericLessThanEquals": lambda x, y: x <= y, "NumericGreaterThan": lambda x, y: x > y,
                "NumericGreaterThanEquals": lambda x, y: x >= y}[operator]
        return any(test(a, e) for e in es)
    raise Unresolvable(f"condition operator {operator}")


def conditions_hold(condition, context):
    lowered = {k.lower(): v for k, v in context.items()}
    for operator, pairs in (condition or {}).items():
        if_exists = operator.endswith("IfExists")
        base = operator[: -len("IfExists")] if if_exists else operator
        if ":" in base:
            raise Unresolvable(f"set operator {operator}")
        for key, expected in pairs.items():
            expected = [str(e) for e in listed(expected)]
            actual = lowered.get(key.lower())
            if base == "Null":
                if (actual is None) != (expected[0].lower() == "true"):
                    return False
                continue
            if actual is None:
                if if_exists or base in NEGATED:
                    continue
                return False
            if base in NEGATED:
                if compare(base.replace("Not", "", 1), actual, expected):
                    return False
            elif not compare(base, actual, expected):
                return False
    return True


def covers(statement, action, kind="Action"):
    patterns = statement.get(kind)
    not_patterns = statement.get("Not" + kind)
    if not_patterns is not None:
        return not any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in listed(not_patterns))
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in listed(patterns))


def names(statement, principal_arn):
    """Whether a key-policy statement names the principal directly (by ARN, or *)."""
    if "NotPrincipal" in statement:
        raise Unresolvable("NotPrincipal")
    principal = statement.get("Principal")
    if principal == "*":
        return True
    values = [str(v) for v in listed((principal or {}).get("AWS"))]
    return "*" in values or principal_arn in values


def names_account(statement):
    principal = statement.get("Principal")
    values = [str(v) for v in listed((principal or {}).get("AWS"))] if isinstance(principal, dict) else []
    return ROOT_ARN in values or ACCOUNT in values


def decide(key_policy, key_arn, who, action, context):
    """'allow' or 'deny' for one request by `who` ({arn, root, iam}) on one key."""
    context = dict(context, **{"aws:PrincipalArn": who["arn"], "kms:CallerAccount": ACCOUNT,
                               "aws:PrincipalAccount": ACCOUNT, "aws:PrincipalIsAWSService": "false"})
    if action == "kms:CreateGrant":
        context.setdefault("kms:GrantIsForAWSResource", "true" if "kms:ViaService" in context else "false")
    applicable = lambda s: covers(s, action) and conditions_hold(s.get("Condition"), context)
    iam_applicable = lambda s: applicable(s) and covers(s, key_arn, "Resource")
    for s in key_policy:
        if s.get("Effect") == "Deny" and (names(s, who["arn"]) or names_account(s)) and applicable(s):
            return "deny"
    for s in who["iam"]:
        if s.get("Effect") == "Deny" and iam_applicable(s):
            return "deny"
    allows = [s for s in key_policy if s.get("Effect") == "Allow" and applicable(s)]
    if any(names(s, who["arn"]) for s in allows):
        return "allow"
    if any(names_account(s) for s in allows):
        if who["root"] or any(s.get("Effect") == "Allow" and iam_applicable(s) for s in who["iam"]):
            return "allow"
    return "deny"


ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
PURPOSE = "kms:EncryptionContext:purpose"
CONTEXTS = {
    "-": {},
    "purpose=banking": {PURPOSE: "cofre:banking-credential"},
    "purpose=connection": {PURPOSE: "cofre:connection-credentials"},
    "via dynamodb": {"kms:ViaService": DYNAMODB},
    "window=7": {"kms:ScheduleKeyDeletionPendingWindowInDays": "7"},
    "window=30": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"},
}
USE_CONTEXTS = ["-", "purpose=banking", "purpose=connection", "via dynamodb"] + [f"via secretsmanager:{s}" for s in SECRETS]
ACTION_CONTEXTS = {
    "kms:Decrypt": USE_CONTEXTS, "kms:ReEncryptFrom": USE_CONTEXTS, "kms:GenerateDataKey": USE_CONTEXTS,
    "kms:Encrypt": USE_CONTEXTS,
    "kms:CreateGrant": ["-", "purpose=banking", "via dynamodb", "via secretsmanager:PartnerConfigSecret"],
    "kms:PutKeyPolicy": ["-"], "kms:DisableKey": ["-"], "kms:ScheduleKeyDeletion": ["window=7", "window=30"],
}
FUNCTIONS = set(FUNCTION_OF_ROLE.values())


def context_of(name, resolve):
    if name.startswith("via secretsmanager:"):
        secret = name.split(":", 1)[1]
        return {"kms:ViaService": SECRETS_MANAGER,
                "kms:EncryptionContext:SecretARN": resolve({"Ref": secret}), "kms:EncryptionContext:SecretVersionId": "v1"}
    return CONTEXTS[name]


def intended(key, who, action, ctx, allows_only=False):
    """What the stack means to allow; everything else is denied. `allows_only`: the key policies'
    Allow statements alone, Deny statements removed, must already mean the same, except the 30-day
    deletion window, which only a Deny can set."""
    base = who.split(" + ")[0]
    iam_allows_kms = base in ("account root", "any IAM role", "key admin") or " + IAM kms:*" in who
    if action in ("kms:PutKeyPolicy", "kms:DisableKey"):
        return base == "key admin"
    if action == "kms:ScheduleKeyDeletion":
        return base == "key admin" and (ctx == "window=30" or allows_only)
    if key == "DataKey":
        if action == "kms:Decrypt":
            return base == "use-credential" and ctx == "purpose=banking"
        if action == "kms:GenerateDataKey":
            return (base, ctx) in {("create-credential", "purpose=banking"),
                                   ("patch-merchant-connection", "purpose=connection")}
        return False
    if key == "TableKey":
        if ctx != "via dynamodb":
            return False
        if action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"):
            # The pipe reads the events stream, which DynamoDB decrypts for it; it writes nothing.
            return iam_allows_kms or base in FUNCTIONS or (base == "events-pipe" and action == "kms:Decrypt")
        return iam_allows_kms  # CreateGrant (DynamoDB's, for the table), ReEncryptFrom
    if key == "SecretsKey":
        if not ctx.startswith("via secretsmanager:"):
            return False
        secret = ctx.split(":", 1)[1]
        if action == "kms:Decrypt":
            role = {v: k for k, v in FUNCTION_OF_ROLE.items()}.get(base)
            return iam_allows_kms or secret in SECRETS_OF.get(role, ())
        return iam_allows_kms and action in ("kms:Encrypt", "kms:GenerateDataKey")
    return False


# --- the checks ----------------------------------------------------------------------------------
def run(template, samconfig, report):
    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})
    conditions = template.get("Conditions", {})
    of_type = lambda kind: {name: r for name, r in resources.items() if r.get("Type") == kind}
    resolve, arn_of = resolver(template)

    # roles and functions
    functions = of_type("AWS::Serverless::Function") | of_type("AWS::Lambda::Function")
    report.check(set(functions) == set(ROLES), "functions are exactly " + ", ".join(sorted(ROLES)), sorted(functions))
    roles = of_type("AWS::IAM::Role")
    report.check(set(roles) == set(ROLES.values()) | {PIPE_ROLE}, "IAM roles are exactly one per function and the "
                 "events pipe's", sorted(roles))
    others = {n: r["Type"] for n, r in resources.items()
              if r["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::Group",
                               "AWS::KMS::Grant", "AWS::Lambda::Permission"}}
    report.check(not others, "no other IAM policies, users, groups or KMS grants", others)
    globals_fn = template.get("Globals", {}).get("Function", {})
    report.check(not {"Role", "Policies", "ReservedConcurrentExecutions"} & set(globals_fn),
                 "Globals give functions no role, policies or concurrency", sorted(globals_fn))
    for function, role in ROLES.items():
        props = functions.get(function, {}).get("Properties", {})
        report.check(ref(props.get("Role")) == f"GetAtt:{role}.Arn" and "Policies" not in props,
                     f"{function} runs as {role}, with no SAM policies",
                     f"Role {props.get('Role')}, Policies {props.get('Policies')}")

    # IAM actions per role, per resource; KMS only through a service
    iam = {}
    for role, expected in EXPECTED_ACTIONS.items():
        props = roles.get(role, {}).get("Properties", {})
        trust = props.get("AssumeRolePolicyDocument", {}).get("Statement", [])
        wanted_trust = TRUST.get(role, LAMBDA_TRUST)
        report.check(ref(trust) == wanted_trust, f"{role} is assumable by {wanted_trust[0]['Principal']['Service']} only"
                     + (", from this account" if "Condition" in wanted_trust[0] else ""), trust)
        report.check(not props.get("ManagedPolicyArns"), f"{role} has no managed policies", props.get("ManagedPolicyArns"))
        actual, problems, statements = {}, [], []
        for policy in listed(props.get("Policies")):
            for statement in listed(policy.get("PolicyDocument", {}).get("Statement")):
                statements.append(statement)
                if statement.get("Effect") != "Allow":
                    continue
                if {"NotAction", "NotResource"} & set(statement):
                    problems.append(f"NotAction/NotResource in {statement}")
                    continue
                actions = [str(a) for a in listed(statement.get("Action"))]
                problems += [f"wildcard action {a}" for a in actions if "*" in a or "?" in a]
                kms = {a for a in actions if a.lower().startswith("kms:")}
                if kms and kms != set(actions):
                    problems.append(f"KMS mixed with other actions: {actions}")
                if kms:
                    key = ref(listed(statement.get("Resource"))[0]) if len(listed(statement.get("Resource"))) == 1 else None
                    wanted = {"GetAtt:TableKey.Arn": {"StringEquals": {"kms:ViaService": "Sub:dynamodb.${AWS::Region}.amazonaws.com"}},
                              "GetAtt:SecretsKey.Arn": {"StringEquals": {
                                  "kms:ViaService": "Sub:secretsmanager.${AWS::Region}.amazonaws.com",
                                  "kms:EncryptionContext:SecretARN": sorted(f"Ref:{s}" for s in SECRETS_OF.get(role, ()))}}}
                    condition = ref(statement.get("Condition"))
                    if isinstance(condition, dict):
                        for pairs in condition.values():
                            if isinstance(pairs, dict) and isinstance(pairs.get("kms:EncryptionContext:SecretARN"), (list, str)):
                                pairs["kms:EncryptionContext:SecretARN"] = sorted(listed(pairs["kms:EncryptionContext:SecretARN"]))
                    if key not in wanted or condition != wanted[key]:
                        problems.append(f"KMS on {key} with condition {condition} (wanted {wanted.get(key, 'no KMS here')})")
                for action in actions:
                    for resource in listed(statement.get("Resource")):
                        actual.setdefault(str(ref(resource)), set()).add(action)
        iam[role] = statements
        report.check(not problems, f"{role}: Allow statements name actions and resources; KMS only through "
                     "DynamoDB (TableKey) or Secrets Manager (SecretsKey, its own secrets)", "; ".join(problems))
        report.check(actual == expected, f"{role}: exactly " + "; ".join(
            f"{r} {sorted(a)}" for r, a in sorted(expected.items())),
            "has " + "; ".join(f"{r} {sorted(a)}" for r, a in sorted(actual.items())))

    # keys: present, retained, rotated, a deletion window
    keys = of_type("AWS::KMS::Key")
    report.check(set(keys) == set(KEYS), "KMS keys are exactly " + ", ".join(KEYS), sorted(keys))
    for name in KEYS:
        key = keys.get(name, {})
        props = key.get("Properties", {})
        report.check(key.get("DeletionPolicy") == "Retain" and key.get("UpdateReplacePolicy") == "Retain",
                     f"{name} is retained on stack deletion and on replacement",
                     (key.get("DeletionPolicy"), key.get("UpdateReplacePolicy")))
        report.check(str(props.get("EnableKeyRotation")).lower() == "true" and str(props.get("PendingWindowInDays")) == "30",
                     f"{name}: rotation on, 30-day deletion window",
                     (props.get("EnableKeyRotation"), props.get("PendingWindowInDays")))
        broad = [s.get("Sid") for s in listed(props.get("KeyPolicy", {}).get("Statement"))
                 if s.get("Effect") == "Allow" and ("NotPrincipal" in s or "NotAction" in s or s.get("Principal") == "*"
                                                    or "*" in listed((s.get("Principal") or {}).get("AWS")))]
        report.check(not broad, f"{name}: no Allow to any principal (*), by NotPrincipal or by NotAction", broad)
    for name in TABLES:
        table = resources.get(name, {})
        sse = table.get("Properties", {}).get("SSESpecification", {})
        report.check(table.get("DeletionPolicy") == "Retain" and table.get("UpdateReplacePolicy") == "Retain"
                     and ref(sse.get("KMSMasterKeyId")) == "Ref:TableKey",
                     f"{name}: retained, encrypted with TableKey", (table.get("DeletionPolicy"), sse))
    secrets = of_type("AWS::SecretsManager::Secret")
    report.check(set(secrets) == set(SECRETS), "secrets are exactly " + ", ".join(SECRETS), sorted(secrets))
    for name, secret in secrets.items():
        report.check(ref(secret.get("Properties", {}).get("KmsKeyId")) == "Ref:SecretsKey",
                     f"{name} is encrypted with SecretsKey (customer managed)", secret.get("Properties", {}).get("KmsKeyId"))
    hmac = resources.get("HmacKeySecret", {})
    report.check(hmac.get("DeletionPolicy") == "Retain" and hmac.get("UpdateReplacePolicy") == "Retain",
                 "HmacKeySecret is retained on stack deletion and on replacement",
                 (hmac.get("DeletionPolicy"), hmac.get("UpdateReplacePolicy")))

    # the evaluation
    try:
        policies = {name: resolve(listed(keys.get(name, {}).get("Properties", {}).get("KeyPolicy", {}).get("Statement")))
                    for name in KEYS}
        role_iam = {role: resolve(statements) for role, statements in iam.items()}
        principals = {
            "account root": {"arn": ROOT_ARN, "root": True, "iam": []},
            "any IAM role": {"arn": f"arn:aws:iam::{ACCOUNT}:role/any-administrator", "root": False, "iam": [ALLOW_ALL]},
            "key admin": {"arn": KEY_ADMIN, "root": False, "iam": [ALLOW_ALL]},
        }
        for role, function in FUNCTION_OF_ROLE.items():
            principals[function] = {"arn": arn_of(role), "root": False, "iam": role_iam.get(role, [])}
        for who, role in OTHER_PRINCIPALS.items():
            principals[who] = {"arn": arn_of(role), "root": False, "iam": role_iam.get(role, [])}
        principals["use-credential + IAM kms:*"] = dict(principals["use-credential"],
                                                       iam=principals["use-credential"]["iam"] + [ALLOW_ALL])
        for layer, allows_only in (("the key policies", False), ("their Allow statements alone", True)):
            wrong = []
            for key in KEYS:
                policy = [s for s in policies[key] if not (allows_only and s.get("Effect") == "Deny")]
                if not allows_only:
                    report.say(f"     {key}: allowed requests (everything else is denied)")
                for who, principal in principals.items():
                    allowed = []
                    for action, contexts in ACTION_CONTEXTS.items():
                        for ctx in contexts:
                            got = decide(policy, arn_of(key), principal, action, context_of(ctx, resolve)) == "allow"
                            if got:
                                allowed.append(f"{action[4:]}({ctx})" if ctx != "-" else action[4:])
                            if got != intended(key, who, action, ctx, allows_only):
                                wrong.append(f"{key} {who} {action} {ctx}: {'allowed' if got else 'denied'}")
                    if not allows_only:
                        report.say(f"       {who:28} {', '.join(allowed) or '-'}")
            report.check(not wrong, f"KMS, evaluated ({layer}): every principal x action x context answers as "
                         "intended (Decrypt on DataKey only use-credential, banking credentials; no CreateGrant but "
                         "DynamoDB's; PutKeyPolicy, DisableKey, deletion only the key admin)", wrong)

        # The Deny statements hold whatever a later Allow says.
        injected = {"Sid": "InjectedAllowEveryone", "Effect": "Allow", "Principal": {"AWS": "*"},
                    "Action": "kms:*", "Resource": "*"}
        escapes = []
        for key in KEYS:
            policy = policies[key] + [injected]
            for who, principal in principals.items():
                base = who.split(" + ")[0]
                for action, contexts in ACTION_CONTEXTS.items():
                    for ctx in contexts:
                        if decide(policy, arn_of(key), principal, action, context_of(ctx, resolve)) != "allow":
                            continue
                        bad = (
                            (action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion") and base != "key admin")
                            or (action == "kms:ScheduleKeyDeletion" and ctx == "window=7")
                            or (action == "kms:CreateGrant" and not (key == "TableKey" and ctx.startswith("via ")))
                            or (key == "DataKey" and action in ("kms:Decrypt", "kms:ReEncryptFrom")
                                and not (base == "use-credential" and action == "kms:Decrypt" and ctx == "purpose=banking"))
                            or (key == "SecretsKey" and action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey",
                                                                   "kms:ReEncryptFrom")
                                and not ctx.startswith("via secretsmanager:"))
                        )
                        if bad:
                            escapes.append(f"{key} {who} {action} {ctx}")
        report.check(not escapes, "KMS, with an 'Allow everyone kms:*' added to each key policy, the Deny "
                     "statements still hold: DataKey decrypt only use-credential, banking credentials; no grant but "
                     "a service's on TableKey, none on the others; SecretsKey only through Secrets Manager; key "
                     "policy and deletion only the key admin, 30 days", escapes)
    except Unresolvable as e:
        report.check(False, "KMS policies can be evaluated", str(e))

    # parameters
    for name, (good, bad) in PATTERN_SAMPLES.items():
        pattern = parameters.get(name, {}).get("AllowedPattern")
        if not pattern:
            report.check(False, f"{name} has an AllowedPattern", parameters.get(name))
            continue
        wrong = [v for v in good if not re.fullmatch(pattern, v)] + [f"accepts {v!r}" for v in bad if re.fullmatch(pattern, v)]
        report.check(not wrong, f"{name}'s AllowedPattern accepts {len(good)} sample values and refuses {len(bad)}", wrong)
    report.check(parameters.get("JwtAudience", {}).get("Type") == "CommaDelimitedList" and "Default" not in parameters.get("JwtAudience", {})
                 and "Default" not in parameters.get("JwtIssuer", {}) and "Default" not in parameters.get("KeyAdminRoleArn", {}),
                 "JwtIssuer, JwtAudience (a list, each checked) and KeyAdminRoleArn have no default", "")
    for function, (param, condition) in CONCURRENCY.items():
        p = parameters.get(param, {})
        props = functions.get(function, {}).get("Properties", {})
        ok = (p.get("Type") == "Number" and str(p.get("MinValue")) == "0" and int(p.get("Default", 0)) > 0
              and props.get("ReservedConcurrentExecutions") == {"Fn::If": [condition, {"Ref": param}, {"Ref": "AWS::NoValue"}]}
              and conditions.get(condition) == {"Fn::Not": [{"Fn::Equals": [{"Ref": param}, "0"]}]})
        report.check(ok, f"{function}: reserved concurrency from {param} (default > 0; 0 = none reserved)",
                     (p, props.get("ReservedConcurrentExecutions"), conditions.get(condition)))

    # samconfig: each environment's values pass the template's patterns; deployed as the key admin
    for env, sections in (samconfig or {}).items():
        deploy = sections.get("deploy", {}).get("parameters") if isinstance(sections, dict) else None
        if deploy is None:
            continue
        overrides = dict(item.split("=", 1) for item in shlex.split(deploy.get("parameter_overrides", "")))
        problems = [f"{name} missing" for name in ("JwtIssuer", "JwtAudience", "KeyAdminRoleArn") if name not in overrides]
        for name in ("JwtIssuer", "KeyAdminRoleArn"):
            pattern = parameters.get(name, {}).get("AllowedPattern", "")
            if name in overrides and not re.fullmatch(pattern, overrides[name]):
                problems.append(f"{name}={overrides[name]!r}")
        for audience in overrides.get("JwtAudience", "").split(","):
            if "JwtAudience" in overrides and not re.fullmatch(parameters.get("JwtAudience", {}).get("AllowedPattern", ""), audience):
                problems.append(f"JwtAudience item {audience!r}")
        for param, _ in CONCURRENCY.values():
            if param in overrides and not (overrides[param].isdigit()):
                problems.append(f"{param}={overrides[param]!r}")
        unknown = set(overrides) - set(parameters)
        problems += [f"unknown parameter {u}" for u in sorted(unknown)]
        if deploy.get("role_arn") != overrides.get("KeyAdminRoleArn"):
            problems.append(f"role_arn {deploy.get('role_arn')!r} is not the key admin (KMS's lock-out check)")
        report.check(not problems, f"samconfig [{env}]: parameters pass the template's patterns, deployed as the key admin", problems)

    check_events_wiring(resources, conditions, report)

    # routes
    api = of_type("AWS::Serverless::HttpApi").get("HttpApi", {}).get("Properties", {})
    auth = api.get("Auth", {})
    jwt = auth.get("Authorizers", {}).get("CofreJwt", {})
    report.check(auth.get("DefaultAuthorizer") == "CofreJwt" and "JwtConfiguration" in jwt,
                 "HttpApi: the JWT authorizer CofreJwt is the default", auth)
    report.check(jwt.get("IdentitySource") == "$request.header.Authorization",
                 "HttpApi: the JWT authorizer reads Authorization (one identity source; docs/api.md)", jwt.get("IdentitySource"))
    # the sweep: invoked by EventBridge Scheduler every minute, by nothing else (docs/hold-expiry.md)
    sweep_events = functions.get("ExpireHoldsFunction", {}).get("Properties", {}).get("Events", {})
    report.check([(e.get("Type"), e.get("Properties", {}).get("ScheduleExpression")) for e in sweep_events.values()]
                 == [("ScheduleV2", "rate(1 minute)")],
                 "ExpireHoldsFunction: invoked by one EventBridge Scheduler rate(1 minute) schedule, nothing else", sweep_events)
    sweep = functions.get("ExpireHoldsFunction", {}).get("Properties", {})
    report.check(sweep.get("ReservedConcurrentExecutions") == 1
                 and sweep.get("EventInvokeConfig", {}).get("MaximumRetryAttempts") == 0,
                 "ExpireHoldsFunction: one sweep at a time, no Lambda retries",
                 (sweep.get("ReservedConcurrentExecutions"), sweep.get("EventInvokeConfig")))
    # The sweep starts nothing new within SWEEP_STOP_BEFORE_DEADLINE of its deadline (the Rust
    # constant, read from its source): a Timeout not well past it leaves no time to sweep.
    stop = re.search(r"SWEEP_STOP_BEFORE_DEADLINE: std::time::Duration = std::time::Duration::from_secs\((\d+)\)",
                     (Path(__file__).resolve().parent.parent / "shared/aws/src/wiring.rs").read_text())
    timeout = sweep.get("Timeout", template.get("Globals", {}).get("Function", {}).get("Timeout", 3))
    report.check(stop is not None and isinstance(timeout, int) and timeout >= 2 * int(stop.group(1)),
                 "ExpireHoldsFunction: its Timeout is at least twice the time the sweep keeps free before its deadline",
                 (timeout, stop and stop.group(1)))
    alarm = resources.get("ExpireHoldsErrorsAlarm", {}).get("Properties", {})
    report.check(alarm.get("MetricName") == "Errors" and alarm.get("Dimensions") == [
                     {"Name": "FunctionName", "Value": {"Ref": "ExpireHoldsFunction"}}] and alarm.get("Threshold") == 0,
                 "ExpireHoldsErrorsAlarm: fires on the sweep's first error", alarm)
    for function, expected in ROUTES.items():
        events = functions.get(function, {}).get("Properties", {}).get("Events", {})
        routes, problems = set(), []
        for event_name, event in events.items():
            props = event.get("Properties", {})
            if event.get("Type") != "HttpApi" or ref(props.get("ApiId")) != "Ref:HttpApi":
                problems.append(f"{event_name} is not on HttpApi")
            if "Auth" in props:
                problems.append(f"{event_name} overrides Auth: {props['Auth']}")
            routes.add(f"{str(props.get('Method', '')).upper()} {props.get('Path')}")
        report.check(routes == expected and not problems, f"{function}: routes exactly {sorted(expected)}, all behind CofreJwt",
                     f"{sorted(routes)} {problems}")


# --- events to tenants (docs/events.md) -----------------------------------------------------------
# An events-table item as the ledger writes it (shared/aws/src/dynamodb/ledger.rs), as the stream's
# NEW_IMAGE carries it to the pipe.
def stream_record(tenant, event):
    return {"eventName": "INSERT", "dynamodb": {"NewImage": {
        "pk": {"S": f"TENANT#{tenant}"}, "sk": {"S": f"EVENT#{event['timestamp']}#{event['event_id']}"},
        "body": {"S": json.dumps(event, separators=(",", ":"))}, "event_type": {"S": event["event_type"]}}}}


SAMPLE_EVENTS = [
    {"event_id": "e1", "domain": "platform-authorization", "event_type": "platform-authorization", "schema_version": 1,
     "org_id": "tenant-a", "cid": "order-42", "timestamp": "2026-01-01T00:00:00Z",
     "data": {"authorization_id": 7, "contract_amount": 10.50, "metadata": {"nested": [1, {"x": "y"}]}}},
    {"event_id": "e2", "domain": "payment-methods", "event_type": "authorization", "schema_version": 1,
     "org_id": "tenant-a", "cid": "order-42", "timestamp": "2026-01-01T00:00:00Z",
     "data": {"tracking_id": "order-42", "account_id": 1001}},
    {"event_id": "e4", "domain": "payment-methods", "event_type": "authorization-expired", "schema_version": 1,
     "org_id": "tenant-b", "cid": "order-43", "timestamp": "2026-01-08T00:00:00Z",
     "data": {"authorization_id": 8, "released": 10.50, "metadata": {"order": 43}}},
    {"event_id": "e3", "domain": "payment-methods", "event_type": "some-later-event", "schema_version": 1,
     "org_id": "tenant-b", "cid": "c", "timestamp": "2026-01-01T00:00:01Z", "data": {}},
]
# What each sample must become on the bus: detail-type, and the event (as stored) plus tenant_id.
SAMPLE_DETAIL_TYPES = [
    "Platform authorization created", "Payment methods authorization created", "Authorization expired", "some-later-event",
]


def run_enrichment(code, records):
    scope = {}
    exec(compile(code, "EventsEnrichmentFunction", "exec"), scope)  # the template's own code
    return scope["handler"](records, None)


def check_events_wiring(resources, conditions, report):
    get = lambda name: resources.get(name, {}).get("Properties", {})
    table = get("EventsTable")
    report.check(table.get("StreamSpecification") == {"StreamViewType": "NEW_IMAGE"},
                 "EventsTable streams new images", table.get("StreamSpecification"))
    bus = resources.get("EventBus", {})
    report.check(bus.get("Type") == "AWS::Events::EventBus", "an EventBus", bus.get("Type"))
    pipe = get("EventsPipe")
    stream = pipe.get("SourceParameters", {}).get("DynamoDBStreamParameters", {})
    filters = [json.loads(f.get("Pattern", "null")) for f in pipe.get("SourceParameters", {}).get("FilterCriteria", {}).get("Filters", [])]
    target = pipe.get("TargetParameters", {})
    wanted = {
        "role": (ref(pipe.get("RoleArn")), f"GetAtt:{PIPE_ROLE}.Arn"),
        "source": (ref(pipe.get("Source")), "GetAtt:EventsTable.StreamArn"),
        "inserts only": (filters, [{"eventName": ["INSERT"]}]),
        "from the stream's start": (stream.get("StartingPosition"), "TRIM_HORIZON"),
        "one batch per shard at a time": (str(stream.get("ParallelizationFactor", 1)), "1"),
        "dead letters": (ref(stream.get("DeadLetterConfig", {}).get("Arn")), "GetAtt:EventsDeadLetterQueue.Arn"),
        "enrichment": (ref(pipe.get("Enrichment")), "GetAtt:EventsEnrichmentFunction.Arn"),
        "target": (ref(pipe.get("Target")), "GetAtt:EventBus.Arn"),
        "detail": (target.get("InputTemplate"), "<$.detail>"),
        "source cofre": (target.get("EventBridgeEventBusParameters", {}).get("Source"), "cofre"),
        "detail-type": (target.get("EventBridgeEventBusParameters", {}).get("DetailType"), "$.detail_type"),
    }
    wrong = {what: actual for what, (actual, expected) in wanted.items() if actual != expected}
    retries = int(stream.get("MaximumRetryAttempts", -1))
    if not 0 <= retries <= 185:
        wrong["finite retries (else nothing ever reaches the dead-letter queue)"] = retries
    report.check(not wrong, "EventsPipe: the events stream's inserts, enriched, to EventBus (source cofre, detail-type "
                 "from the enrichment), finite retries, failures to EventsDeadLetterQueue", wrong)

    queue = get("EventsDeadLetterQueue")
    report.check(str(queue.get("MessageRetentionPeriod")) == "1209600"
                 and (str(queue.get("SqsManagedSseEnabled")).lower() == "true" or "KmsMasterKeyId" in queue),
                 "EventsDeadLetterQueue: encrypted, kept 14 days", queue)
    alarm = get("EventsDeadLetterAlarm")
    dims = ref(alarm.get("Dimensions"))
    report.check(alarm.get("Namespace") == "AWS/SQS" and alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible"
                 and dims == [{"Name": "QueueName", "Value": "GetAtt:EventsDeadLetterQueue.QueueName"}]
                 and str(alarm.get("Threshold")) == "0" and alarm.get("ComparisonOperator") == "GreaterThanThreshold"
                 and alarm.get("TreatMissingData") == "notBreaching"
                 and ref(alarm.get("AlarmActions")) == {"Fn::If": ["HasAlarmTopic", ["Ref:AlarmTopicArn"], "Ref:AWS::NoValue"]}
                 and conditions.get("HasAlarmTopic") == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]},
                 "EventsDeadLetterAlarm: fires on one message in the dead-letter queue, notifies AlarmTopicArn if set", alarm)
    archive = get("EventsArchive")
    report.check(ref(archive.get("SourceArn")) == "GetAtt:EventBus.Arn" and archive.get("EventPattern") == {"source": ["cofre"]}
                 and ref(archive.get("RetentionDays")) == "Ref:EventArchiveRetentionDays",
                 "EventsArchive: every cofre event of the bus, for a set number of days", archive)
    unkept = [n for n, r in resources.items() if r.get("Type") == "AWS::Logs::LogGroup" and "RetentionInDays" not in r.get("Properties", {})]
    report.check(not unkept, "every log group has a retention", unkept)

    # The enrichment, run: each stream record becomes its stored event plus tenant_id, under the
    # reference's name for it; a batch keeps its order.
    code = get("EventsEnrichmentFunction").get("InlineCode", "")
    try:
        out = run_enrichment(code, [stream_record(e["org_id"], e) for e in SAMPLE_EVENTS])
        expected = [{"detail_type": t, "detail": {**e, "tenant_id": e["org_id"]}} for e, t in zip(SAMPLE_EVENTS, SAMPLE_DETAIL_TYPES)]
        problem = None if json.loads(json.dumps(out)) == expected else out
    except Exception as e:  # the code is the template's: any failure is a finding
        problem = repr(e)
    report.check(problem is None, "EventsEnrichmentFunction: each record becomes its event (as stored) plus tenant_id, "
                 "detail-type the reference's name, in order", problem)


def pipe_props(t):
    return t["Resources"]["EventsPipe"]["Properties"]


def stream_params(t):
    return pipe_props(t)["SourceParameters"]["DynamoDBStreamParameters"]


# --- breakages: each must make the check fail ----------------------------------------------------
def statement(t, key, sid):
    return next(s for s in t["Resources"][key]["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == sid)


def drop(t, key, sid):
    t["Resources"][key]["Properties"]["KeyPolicy"]["Statement"].remove(statement(t, key, sid))


def add(t, key, s):
    t["Resources"][key]["Properties"]["KeyPolicy"]["Statement"].append(s)


def iam_statements(t, role):
    return t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
OLD_ADMIN = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
             "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
             "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]


def secrets_condition(t, role):
    return next(s for s in iam_statements(t, role) if ref(s.get("Resource")) == "GetAtt:SecretsKey.Arn")["Condition"]["StringEquals"]


BREAKAGES = {
    "DataKey: the account administers it again (kms:Create*, kms:Put*)": lambda t: add(t, "DataKey", {
        "Sid": "Old", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": OLD_ADMIN, "Resource": "*"}),
    "DataKey: the account may CreateGrant": lambda t: statement(t, "DataKey", "AccountReadsMetadata")["Action"].append("kms:CreateGrant"),
    "DataKey: the account may PutKeyPolicy": lambda t: statement(t, "DataKey", "AccountReadsMetadata")["Action"].append("kms:PutKeyPolicy"),
    "DataKey: the key admin may CreateGrant": lambda t: statement(t, "DataKey", "KeyAdminAdministers")["Action"].append("kms:CreateGrant"),
    "DataKey: the key admin may Decrypt": lambda t: statement(t, "DataKey", "KeyAdminAdministers")["Action"].append("kms:Decrypt"),
    "DataKey: the key admin may kms:Create* (wildcard)": lambda t: statement(t, "DataKey", "KeyAdminAdministers")["Action"].append("kms:Create*"),
    "DataKey: decrypt for any purpose": lambda t: statement(t, "DataKey", "UseCredentialOpensBankingCredentials").pop("Condition"),
    "DataKey: decrypt of connection credentials": lambda t: statement(t, "DataKey", "UseCredentialOpensBankingCredentials").update(
        Condition={"StringEquals": {PURPOSE: "cofre:connection-credentials"}}),
    "DataKey: the decrypt grant moves to the account (IAM decides)": lambda t: statement(
        t, "DataKey", "UseCredentialOpensBankingCredentials").update(Principal={"AWS": ROOT}),
    "DataKey: create-credential may decrypt": lambda t: statement(t, "DataKey", "CreateCredentialSealsBankingCredentials").update(
        Action=["kms:GenerateDataKey", "kms:Decrypt"]),
    "DataKey: the gateway-only Deny is gone": lambda t: drop(t, "DataKey", "NobodyButTheGatewayDecrypts"),
    "DataKey: the banking-only Deny is gone": lambda t: drop(t, "DataKey", "NothingButBankingCredentialsIsOpened"),
    "DataKey: the grant/re-encrypt Deny is gone": lambda t: drop(t, "DataKey", "NoGrantsNoReEncryption"),
    "DataKey: the key-policy/deletion Deny is gone": lambda t: drop(t, "DataKey", "OnlyTheKeyAdminChangesThePolicyOrDeletes"),
    "DataKey: a 7-day deletion window is allowed": lambda t: drop(t, "DataKey", "DeletionWaitsThirtyDays"),
    "DataKey: an Allow to everyone": lambda t: add(t, "DataKey", {"Effect": "Allow", "Principal": "*", "Action": "kms:GenerateDataKey", "Resource": "*"}),
    "DataKey: not retained": lambda t: t["Resources"]["DataKey"].pop("DeletionPolicy"),
    "DataKey: replaced without retaining": lambda t: t["Resources"]["DataKey"].pop("UpdateReplacePolicy"),
    "DataKey: a 7-day pending window": lambda t: t["Resources"]["DataKey"]["Properties"].update(PendingWindowInDays=7),
    "TableKey: used outside DynamoDB": lambda t: statement(t, "TableKey", "UsedOnlyThroughDynamoDB")["Condition"]["StringEquals"].pop("kms:ViaService"),
    "TableKey: the grant Deny is gone": lambda t: drop(t, "TableKey", "NoGrantButDynamoDBs"),
    "TableKey: DynamoDB's grant statement loses its conditions": lambda t: statement(
        t, "TableKey", "DynamoDBCreatesItsGrants").pop("Condition"),
    "TableKey: the key-policy/deletion Deny is gone": lambda t: drop(t, "TableKey", "OnlyTheKeyAdminChangesThePolicyOrDeletes"),
    "TableKey: the account administers it again": lambda t: add(t, "TableKey", {
        "Sid": "Old", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": OLD_ADMIN, "Resource": "*"}),
    "TableKey: not retained": lambda t: t["Resources"]["TableKey"].update(DeletionPolicy="Delete"),
    "SecretsKey: used outside Secrets Manager": lambda t: drop(t, "SecretsKey", "NothingOutsideSecretsManager")
    or statement(t, "SecretsKey", "UsedOnlyThroughSecretsManager")["Condition"]["StringEquals"].pop("kms:ViaService"),
    "SecretsKey: grants allowed": lambda t: drop(t, "SecretsKey", "NoGrants") or statement(
        t, "SecretsKey", "KeyAdminAdministers")["Action"].append("kms:CreateGrant"),
    "SecretsKey: not retained": lambda t: t["Resources"]["SecretsKey"].pop("DeletionPolicy"),
    "HmacKeySecret: not retained": lambda t: t["Resources"]["HmacKeySecret"].pop("DeletionPolicy"),
    "HmacKeySecret: on the AWS managed key": lambda t: t["Resources"]["HmacKeySecret"]["Properties"].pop("KmsKeyId"),
    "CredentialsTable: not retained": lambda t: t["Resources"]["CredentialsTable"].pop("DeletionPolicy"),
    "request-authorization decrypts the partner settings": lambda t: secrets_condition(t, "RequestAuthorizationRole").update(
        {"kms:EncryptionContext:SecretARN": [{"Ref": "HmacKeySecret"}, {"Ref": "PartnerConfigSecret"}]}),
    "use-credential decrypts the secrets key directly": lambda t: next(
        s for s in iam_statements(t, "UseCredentialRole") if ref(s.get("Resource")) == "GetAtt:SecretsKey.Arn").pop("Condition"),
    "create-credential decrypts the table key directly": lambda t: next(
        s for s in iam_statements(t, "CreateCredentialRole") if ref(s.get("Resource")) == "GetAtt:TableKey.Arn").pop("Condition"),
    "create-credential gets kms:Decrypt on DataKey through IAM": lambda t: iam_statements(t, "CreateCredentialRole").append(
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Fn::GetAtt": ["DataKey", "Arn"]}}),
    "use-credential gets dynamodb:Scan": lambda t: iam_statements(t, "UseCredentialRole")[2]["Action"].append("dynamodb:Scan"),
    "JwtIssuer accepts http": lambda t: t["Parameters"]["JwtIssuer"].update(AllowedPattern="^https?://.+$"),
    "JwtIssuer unchecked": lambda t: t["Parameters"]["JwtIssuer"].pop("AllowedPattern"),
    "JwtAudience accepts an empty audience": lambda t: t["Parameters"]["JwtAudience"].update(AllowedPattern="^.*$"),
    "use-credential has no reserved concurrency": lambda t: t["Resources"]["UseCredentialFunction"]["Properties"].pop(
        "ReservedConcurrentExecutions"),
    "0 reserves zero (stops request-authorization)": lambda t: t["Resources"]["RequestAuthorizationFunction"]["Properties"].update(
        ReservedConcurrentExecutions={"Ref": "RequestAuthorizationConcurrency"}),
    "the authorizer reads account_token": lambda t: t["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["CofreJwt"].update(
        IdentitySource="$request.header.account_token"),
    "a route without the authorizer": lambda t: t["Resources"]["CreateCredentialFunction"]["Properties"]["Events"]["CreateCredential"][
        "Properties"].update(Auth={"Authorizer": "NONE"}),
    "a read of authorizations without the authorizer": lambda t: t["Resources"]["RequestAuthorizationFunction"]["Properties"][
        "Events"]["ReadAuthorizationByTrackingId"]["Properties"].update(Auth={"Authorizer": "NONE"}),
    "request-authorization may Query the ledger (reads are BatchGetItem)": lambda t: next(
        s for s in iam_statements(t, "RequestAuthorizationRole") if ref(s.get("Resource")) == "GetAtt:LedgerTable.Arn"
    )["Action"].append("dynamodb:Query"),
    "expire-holds may Query the whole ledger, not just its due-holds index": lambda t: next(
        s for s in iam_statements(t, "ExpireHoldsRole") if s.get("Action") == "dynamodb:Query"
    ).update(Resource={"Fn::GetAtt": ["LedgerTable", "Arn"]}),
    "two sweeps may run at once": lambda t: t["Resources"]["ExpireHoldsFunction"]["Properties"].pop(
        "ReservedConcurrentExecutions"),
    "nothing alarms on a failing sweep": lambda t: t["Resources"].pop("ExpireHoldsErrorsAlarm"),
    "expire-holds gets the functions' 15 s timeout (it would stop before sweeping)": lambda t: t["Resources"][
        "ExpireHoldsFunction"]["Properties"].pop("Timeout"),
    "expire-holds runs on a timer of its own making (no schedule)": lambda t: t["Resources"]["ExpireHoldsFunction"][
        "Properties"].pop("Events"),
    "the pipe has no dead-letter queue": lambda t: stream_params(t).pop("DeadLetterConfig"),
    "the pipe retries forever (nothing reaches the dead-letter queue)": lambda t: stream_params(t).update(MaximumRetryAttempts=-1),
    "the pipe forwards modifications and removals too": lambda t: pipe_props(t)["SourceParameters"].pop("FilterCriteria"),
    "the pipe's events have another source": lambda t: pipe_props(t)["TargetParameters"]["EventBridgeEventBusParameters"].update(
        Source="cofre.events"),
    "the pipe sends the enrichment's whole answer as detail": lambda t: pipe_props(t)["TargetParameters"].pop("InputTemplate"),
    "the pipe skips the enrichment": lambda t: pipe_props(t).pop("Enrichment"),
    "the dead-letter queue is not encrypted": lambda t: t["Resources"]["EventsDeadLetterQueue"]["Properties"].pop("SqsManagedSseEnabled"),
    "the dead-letter queue keeps messages 4 days": lambda t: t["Resources"]["EventsDeadLetterQueue"]["Properties"].update(
        MessageRetentionPeriod=345600),
    "the alarm waits for 10 dead letters": lambda t: t["Resources"]["EventsDeadLetterAlarm"]["Properties"].update(Threshold=10),
    "the enrichment's log group keeps logs forever": lambda t: t["Resources"]["EventsEnrichmentLogGroup"]["Properties"].pop(
        "RetentionInDays"),
    "the enrichment leaves tenant_id out": lambda t: t["Resources"]["EventsEnrichmentFunction"]["Properties"].update(
        InlineCode=t["Resources"]["EventsEnrichmentFunction"]["Properties"]["InlineCode"].replace(', "tenant_id": tenant', "")),
    "the enrichment names events by their type": lambda t: t["Resources"]["EventsEnrichmentFunction"]["Properties"].update(
        InlineCode=t["Resources"]["EventsEnrichmentFunction"]["Properties"]["InlineCode"].replace(
            "DETAIL_TYPES.get(event_type, event_type)", "event_type")),
    "the pipe may put events on any bus": lambda t: next(
        s for s in iam_statements(t, PIPE_ROLE) if s.get("Action") == "events:PutEvents").update(Resource="*"),
    "the pipe may write the events table": lambda t: iam_statements(t, PIPE_ROLE)[0]["Action"].append("dynamodb:PutItem"),
    "the pipe may encrypt with the table key": lambda t: next(
        s for s in iam_statements(t, PIPE_ROLE) if ref(s.get("Resource")) == "GetAtt:TableKey.Arn").update(
        Action=["kms:Decrypt", "kms:GenerateDataKey"]),
    "the pipe role is assumable from any account": lambda t: t["Resources"][PIPE_ROLE]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"][0].pop("Condition"),
    "the enrichment may read the ledger": lambda t: iam_statements(t, "EventsEnrichmentRole").append(
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["LedgerTable", "Arn"]}}),
}


def main():
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    template = plain(cfn_yaml.load(str(path)))
    samconfig_path = path.parent / "samconfig.toml"
    samconfig = tomllib.loads(samconfig_path.read_text()) if samconfig_path.exists() else {}

    report = Report(verbose=True)
    run(template, samconfig, report)
    baseline = set(report.failures)

    print(f"breakages ({len(BREAKAGES)}), each applied to a copy of the template:")
    uncaught = []
    for name, breakage in BREAKAGES.items():
        broken = copy.deepcopy(template)
        try:
            breakage(broken)
        except (KeyError, StopIteration, IndexError, ValueError) as e:
            uncaught.append(f"{name} (cannot apply: {e!r})")
            continue
        silent = Report(verbose=False)
        run(broken, samconfig, silent)
        new = [f for f in silent.failures if f not in baseline]
        if new:
            first = new[0] if len(new[0]) <= 90 else new[0][:87] + "..."
            print(f"ok   caught: {name} [{first}{f' +{len(new) - 1}' if len(new) > 1 else ''}]")
        else:
            print(f"FAIL not caught: {name}")
            uncaught.append(name)
    report.check(not uncaught, "every breakage makes the check fail", uncaught)

    failures = len(report.failures)
    print(f"template policy: {'FAILED, ' + str(failures) + ' check(s)' if failures else 'all checks passed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
