"""Least privilege in template.yaml, asserted: fails (exit 1) if any function role, key policy or
route drifts from what each function needs.

Checks, one line each:
- the set of function roles and functions, each function on its own role, no SAM `Policies`, no
  managed policies, no other IAM policy resources;
- per role, the exact IAM actions on each resource (Allow only; no NotAction/NotResource; no
  wildcard actions; no KMS action at all: KMS is granted by key policies only);
- DataKey's key policy: kms:Decrypt (or anything matching it: kms:*, kms:Decrypt*, *) is allowed by
  one statement only, to the use-credential role only, conditioned exactly on
  kms:EncryptionContext:purpose = cofre:banking-credential (StringEquals); each GenerateDataKey
  grant goes to its function for its purpose; no other statement exists;
- no statement anywhere (IAM or key policy) lets another function role decrypt or use kms:*;
- create-credential and patch-merchant-connection cannot decrypt;
- TableKey is usable only through DynamoDB;
- every route is on the HTTP API behind its default JWT authorizer, and each function serves exactly
  its routes.

The account-administration statement of each key (`AccountAdministersTheKey`) is pinned exactly as
it is today and exempt from the use rules: it grants no use action directly, but its kms:Create*
(CreateGrant) and kms:Put* (PutKeyPolicy) are left to a later issue.

Usage: python3 infra/template_policy_check.py [TEMPLATE]   (default: template.yaml)
"""

import fnmatch
import sys

from cfnlint.decode import cfn_yaml

ROLES = {
    "CreateCredentialFunction": "CreateCredentialRole",
    "PatchMerchantConnectionFunction": "PatchMerchantConnectionRole",
    "RequestAuthorizationFunction": "RequestAuthorizationRole",
    "UseCredentialFunction": "UseCredentialRole",
}

LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

# role -> resource -> actions. Resources are written as the check normalises them (see `ref`).
EXPECTED_ACTIONS = {
    "CreateCredentialRole": {
        "GetAtt:CreateCredentialLogGroup.Arn": LOGS,
        "*": XRAY,
        "GetAtt:CredentialsTable.Arn": {"dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem"},
        "Ref:PartnerConfigSecret": {"secretsmanager:GetSecretValue"},
    },
    "UseCredentialRole": {
        "GetAtt:UseCredentialLogGroup.Arn": LOGS,
        "*": XRAY,
        "GetAtt:CredentialsTable.Arn": {"dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem"},
        "Ref:PartnerConfigSecret": {"secretsmanager:GetSecretValue"},
    },
    "PatchMerchantConnectionRole": {
        "GetAtt:PatchMerchantConnectionLogGroup.Arn": LOGS,
        "*": XRAY,
        "GetAtt:MerchantsTable.Arn": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "Ref:ProcessorConfigSecret": {"secretsmanager:GetSecretValue"},
        "Ref:HmacKeySecret": {"secretsmanager:GetSecretValue"},
    },
    "RequestAuthorizationRole": {
        "GetAtt:RequestAuthorizationLogGroup.Arn": LOGS,
        "*": XRAY,
        "GetAtt:LedgerTable.Arn": {"dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        "GetAtt:EventsTable.Arn": {"dynamodb:PutItem"},
        "Ref:HmacKeySecret": {"secretsmanager:GetSecretValue"},
    },
}

ROOT = "Sub:arn:${AWS::Partition}:iam::${AWS::AccountId}:root"

# The account-administration statement, as it is today (see the module documentation).
ADMIN_ACTIONS = {
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
    "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
}


def purpose(value):
    return {"StringEquals": {"kms:EncryptionContext:purpose": value}}


# Every statement of DataKey's key policy other than the admin one: (principals, actions, condition).
DATA_KEY_USES = {
    "CreateCredentialSealsBankingCredentials":
        ({"GetAtt:CreateCredentialRole.Arn"}, {"kms:GenerateDataKey"}, purpose("cofre:banking-credential")),
    "PatchMerchantConnectionSealsConnectionCredentials":
        ({"GetAtt:PatchMerchantConnectionRole.Arn"}, {"kms:GenerateDataKey"}, purpose("cofre:connection-credentials")),
    "UseCredentialOpensBankingCredentials":
        ({"GetAtt:UseCredentialRole.Arn"}, {"kms:Decrypt"}, purpose("cofre:banking-credential")),
}

# Cryptographic operations (as opposed to administration).
USE_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
               "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair", "kms:GenerateMac"]

ROUTES = {
    "CreateCredentialFunction": {
        "POST /banking-auth/v1/credentials", "GET /banking-auth/v1/credentials",
        "DELETE /banking-auth/v1/credentials/{proxy}", "GET /banking-auth/v1/credentials/{proxy}/uses",
    },
    "PatchMerchantConnectionFunction": {"PATCH /v1/merchants/{merchantId}/connection/{connectionId}"},
    "RequestAuthorizationFunction": {"POST /payment-methods/v1/authorization"},
    "UseCredentialFunction": {
        f"{m} /banking-auth/v1/proxy/{{proxy}}/{{path+}}" for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
    },
}

failures = 0


def check(ok, what, detail=""):
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + ("" if ok else f": {detail}"))
    failures += not ok


def listed(value):
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def ref(value):
    """A resource, principal or value as one comparable string."""
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


def plain(value):
    """cfn-lint's nodes as plain dicts, lists and strings (for equality and printing)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def matches(pattern, action):
    return fnmatch.fnmatchcase(action.lower(), str(pattern).lower())


def allows(statement, action):
    """Whether an Allow statement's actions cover `action` (NotAction counts as covering all)."""
    if statement.get("Effect") != "Allow":
        return False
    if "NotAction" in statement:
        return not any(matches(p, action) for p in listed(statement["NotAction"]))
    return any(matches(p, action) for p in listed(statement.get("Action")))


def principals(statement):
    if "NotPrincipal" in statement:
        return {"NotPrincipal"}
    principal = statement.get("Principal")
    if principal == "*" or principal is None:
        return {"*"}
    found = set()
    for kind, values in principal.items():
        for value in listed(values):
            found.add(ref(value) if kind == "AWS" else f"{kind}:{ref(value)}")
    return found


template = cfn_yaml.load(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
resources = template["Resources"]
of_type = lambda kind: {name: r for name, r in resources.items() if r.get("Type") == kind}

# --- roles and functions -------------------------------------------------------------------------
functions = of_type("AWS::Serverless::Function") | of_type("AWS::Lambda::Function")
check(set(functions) == set(ROLES), "functions are exactly " + ", ".join(sorted(ROLES)), sorted(functions))
roles = of_type("AWS::IAM::Role")
check(set(roles) == set(ROLES.values()), "IAM roles are exactly one per function", sorted(roles))
others = {n: r["Type"] for n, r in resources.items()
          if r["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::Group",
                           "AWS::KMS::Grant", "AWS::Lambda::Permission"}}
check(not others, "no other IAM policies, users, groups or KMS grants", others)
globals_fn = template.get("Globals", {}).get("Function", {})
check(not {"Role", "Policies"} & set(globals_fn), "Globals give functions no role or policies", sorted(globals_fn))
for function, role in ROLES.items():
    props = functions.get(function, {}).get("Properties", {})
    check(ref(props.get("Role")) == f"GetAtt:{role}.Arn" and "Policies" not in props,
          f"{function} runs as {role}, with no SAM policies", f"Role {plain(props.get('Role'))}, "
          f"Policies {plain(props.get('Policies'))}")

# --- IAM actions per role, per resource ----------------------------------------------------------
iam_statements = []  # (role, statement)
for role, expected in EXPECTED_ACTIONS.items():
    props = roles.get(role, {}).get("Properties", {})
    trust = plain(props.get("AssumeRolePolicyDocument", {}).get("Statement", []))
    check(trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
          f"{role} is assumable by Lambda only", trust)
    check(not props.get("ManagedPolicyArns"), f"{role} has no managed policies", plain(props.get("ManagedPolicyArns")))
    actual, problems = {}, []
    for policy in listed(props.get("Policies")):
        for statement in listed(policy.get("PolicyDocument", {}).get("Statement")):
            iam_statements.append((role, statement))
            if statement.get("Effect") != "Allow":
                continue
            if {"NotAction", "NotResource"} & set(statement):
                problems.append(f"NotAction/NotResource in {plain(statement)}")
                continue
            for action in listed(statement.get("Action")):
                if "*" in str(action) or "?" in str(action):
                    problems.append(f"wildcard action {action}")
                for resource in listed(statement.get("Resource")):
                    actual.setdefault(str(ref(resource)), set()).add(str(action))
    check(not problems, f"{role}: Allow statements name their actions and resources", "; ".join(problems))
    check(actual == expected, f"{role}: exactly " + "; ".join(
        f"{r} {sorted(a)}" for r, a in sorted(expected.items())),
        "has " + "; ".join(f"{r} {sorted(a)}" for r, a in sorted(actual.items())))

kms_in_iam = [(role, plain(s)) for role, s in iam_statements
              if any(str(a).lower().startswith("kms:") or str(a) == "*" for a in listed(s.get("Action")))
              or "NotAction" in s]
check(not kms_in_iam, "no IAM policy grants any KMS action (KMS is granted by key policies only)", kms_in_iam)

# --- key policies --------------------------------------------------------------------------------
keys = of_type("AWS::KMS::Key")
check(set(keys) == {"DataKey", "TableKey"}, "KMS keys are exactly DataKey and TableKey", sorted(keys))
key_statements = {name: listed(k.get("Properties", {}).get("KeyPolicy", {}).get("Statement")) for name, k in keys.items()}

for name, statements in key_statements.items():
    admin = [s for s in statements if s.get("Sid") == "AccountAdministersTheKey"]
    ok = (len(admin) == 1 and admin[0].get("Effect") == "Allow" and principals(admin[0]) == {ROOT}
          and set(map(str, listed(admin[0].get("Action")))) == ADMIN_ACTIONS and "Condition" not in admin[0])
    check(ok, f"{name}: the account-administration statement is as today (exempt; later issue)",
          plain(admin))
    used = [a for a in USE_ACTIONS if admin and allows(admin[0], a)]
    check(not used, f"{name}: the account-administration statement grants no use action directly", used)
    broad = [plain(s) for s in statements if s.get("Effect") == "Allow" and
             ({"*", "NotPrincipal"} & principals(s) or "NotAction" in s)]
    check(not broad, f"{name}: no Allow to any principal (*), by NotPrincipal or by NotAction", broad)

data_key = key_statements.get("DataKey", [])
decrypters = [s for s in data_key if s.get("Sid") != "AccountAdministersTheKey" and allows(s, "kms:Decrypt")]
expected_decrypt = {"Effect": "Allow", "Principal": {"AWS": {"Fn::GetAtt": ["UseCredentialRole", "Arn"]}},
                    "Action": "kms:Decrypt", "Resource": "*",
                    "Condition": purpose("cofre:banking-credential")}
check(len(decrypters) == 1 and {k: v for k, v in plain(decrypters[0]).items() if k != "Sid"} == expected_decrypt,
      "DataKey: kms:Decrypt only by one key-policy statement: UseCredentialRole, StringEquals "
      "kms:EncryptionContext:purpose = cofre:banking-credential, nothing else",
      [plain(s) for s in decrypters])
uses = {}
for statement in data_key:
    if statement.get("Sid") == "AccountAdministersTheKey":
        continue
    actions = {str(a) for a in listed(statement.get("Action"))}
    uses[str(statement.get("Sid"))] = (principals(statement), actions, plain(statement.get("Condition")))
    if statement.get("Effect") != "Allow" or str(statement.get("Resource")) != "*":
        uses[str(statement.get("Sid"))] += (plain(statement),)
check(uses == DATA_KEY_USES, "DataKey: the key policy's use statements are exactly GenerateDataKey for "
      "create-credential (banking) and patch-merchant-connection (connection), Decrypt for use-credential (banking)",
      uses)

table_key = key_statements.get("TableKey", [])
via = [s for s in table_key if s.get("Sid") != "AccountAdministersTheKey"]
through_dynamodb = {"StringEquals": {"kms:ViaService": "Sub:dynamodb.${AWS::Region}.amazonaws.com",
                                     "kms:CallerAccount": "Ref:AWS::AccountId"}}
check(len(via) == 1 and principals(via[0]) == {ROOT} and ref(via[0].get("Condition")) == through_dynamodb,
      "TableKey: used only through DynamoDB in this account (kms:ViaService, kms:CallerAccount)",
      [plain(s) for s in via])

function_roles = {f"GetAtt:{role}.Arn" for role in ROLES.values()}
leaks = []
for key, statements in key_statements.items():
    for statement in statements:
        for principal in principals(statement) & function_roles:
            for action in ("kms:Decrypt", "kms:ReEncryptFrom", "kms:CreateGrant", "kms:PutKeyPolicy"):
                grant = (key, principal, action, statement.get("Sid"))
                if allows(statement, action) and grant != (
                        "DataKey", "GetAtt:UseCredentialRole.Arn", "kms:Decrypt", "UseCredentialOpensBankingCredentials"):
                    leaks.append(grant)
            if any(str(a) in {"*", "kms:*"} for a in listed(statement.get("Action"))):
                leaks.append((key, principal, "kms:*", statement.get("Sid")))
for role, statement in iam_statements:
    if allows(statement, "kms:Decrypt"):
        leaks.append(("IAM", role, "kms:Decrypt", plain(statement)))
check(not leaks, "no statement anywhere lets a function role decrypt (or kms:*, grants, key policy) "
      "except the use-credential Decrypt above", leaks)

for role in ("CreateCredentialRole", "PatchMerchantConnectionRole", "RequestAuthorizationRole"):
    arn = f"GetAtt:{role}.Arn"
    by_key = [(k, s.get("Sid")) for k, ss in key_statements.items() for s in ss
              if arn in principals(s) and allows(s, "kms:Decrypt")]
    by_iam = [plain(s) for r, s in iam_statements if r == role and allows(s, "kms:Decrypt")]
    check(not by_key and not by_iam, f"{role} cannot kms:Decrypt (no key-policy or IAM grant)", by_key + by_iam)

# --- routes --------------------------------------------------------------------------------------
api = of_type("AWS::Serverless::HttpApi").get("HttpApi", {}).get("Properties", {})
auth = api.get("Auth", {})
check(auth.get("DefaultAuthorizer") == "CofreJwt" and "JwtConfiguration" in auth.get("Authorizers", {}).get("CofreJwt", {}),
      "HttpApi: the JWT authorizer CofreJwt is the default", plain(auth))
for function, expected in ROUTES.items():
    events = functions.get(function, {}).get("Properties", {}).get("Events", {})
    routes, problems = set(), []
    for event_name, event in events.items():
        props = event.get("Properties", {})
        if event.get("Type") != "HttpApi" or ref(props.get("ApiId")) != "Ref:HttpApi":
            problems.append(f"{event_name} is not on HttpApi")
        if "Auth" in props:
            problems.append(f"{event_name} overrides Auth: {plain(props['Auth'])}")
        routes.add(f"{str(props.get('Method', '')).upper()} {props.get('Path')}")
    check(routes == expected and not problems, f"{function}: routes exactly {sorted(expected)}, all behind CofreJwt",
          f"{sorted(routes)} {problems}")

print(f"template policy: {'FAILED, ' + str(failures) + ' check(s)' if failures else 'all checks passed'}")
sys.exit(1 if failures else 0)
