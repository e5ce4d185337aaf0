"""Creates on a moto endpoint what the stack would create on AWS (tables, KMS key, secrets) and prints
the functions' environment as KEY=VALUE lines (an env file for `cargo lambda watch`).

Usage: python3 infra/moto_resources.py ENDPOINT SANDBOX_URL
"""

import json
import pathlib
import sys
import uuid

import boto3

endpoint, sandbox = sys.argv[1], sys.argv[2]
session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
dynamodb = session.client("dynamodb", endpoint_url=endpoint)
kms = session.client("kms", endpoint_url=endpoint)
secrets = session.client("secretsmanager", endpoint_url=endpoint)
suffix = uuid.uuid4().hex[:8]


def table(name, due_holds=False):
    """A pk/sk table; the ledger with its due-holds index, as template.yaml declares it."""
    name = f"cofre-{name}-{suffix}"
    attributes = ["pk", "sk"] + (["hold_shard", "hold_due"] if due_holds else [])
    index = {"GlobalSecondaryIndexes": [{
        "IndexName": "due-holds",
        "KeySchema": [{"AttributeName": "hold_shard", "KeyType": "HASH"}, {"AttributeName": "hold_due", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }]} if due_holds else {}
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
        **index,
    )
    return name


def secret(name, value):
    name = f"cofre-{name}-{suffix}"
    secrets.create_secret(Name=name, SecretString=value)
    return name


local = pathlib.Path(__file__).parent / "local"
settings = lambda file: (local / file).read_text().replace("{sandbox}", sandbox)
env = {
    "AWS_ENDPOINT_URL": endpoint,
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "CREDENTIALS_TABLE": table("credentials"),
    "MERCHANTS_TABLE": table("merchants"),
    "LEDGER_TABLE": table("ledger", due_holds=True),
    "EVENTS_TABLE": table("events"),
    "DATA_KEY_ID": kms.create_key(Description="cofre lambda events")["KeyMetadata"]["KeyId"],
    "PARTNER_CONFIG_SECRET": secret("partners", settings("partners.json")),
    "PROCESSOR_CONFIG_SECRET": secret("processors", settings("processors.json")),
    "HMAC_KEY_SECRET": secret("hmac", uuid.uuid4().hex + uuid.uuid4().hex),
    "RUST_LOG": "warn",
}
for key, value in env.items():
    print(f"{key}={value}")
