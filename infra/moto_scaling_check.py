"""Checks infra/moto_scaling.py against a running infra/moto_serial.py: a TransactWriteItems that
fails leaves its tables as they were (items and stream records), whichever way it fails; one that
succeeds writes and streams; a table backup is still a copy. Two of the failures are ones moto's own
rollback leaves partly applied, so this fails on moto without it. And moto's items come out of
Query and Scan in the order moto's own sort gives: compared item for item on tables of string,
number and binary keys, and read back through the API.

The Rust suite asserts the data left after a cancelled transaction through the adapters; this also
reads what they cannot: the stream records.

Usage: python3 infra/moto_scaling_check.py ENDPOINT
"""

import base64
import random
import sys
import uuid
from decimal import Decimal

import boto3
import botocore.exceptions
from moto.dynamodb.models.table import Table

import moto_scaling

endpoint = sys.argv[1]
session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
dynamodb = session.client("dynamodb", endpoint_url=endpoint)
streams = session.client("dynamodbstreams", endpoint_url=endpoint)
suffix = uuid.uuid4().hex[:8]
S = lambda value: {"S": value}


def create(name, range_key):
    keys = [("pk", "HASH")] + ([("sk", "RANGE")] if range_key else [])
    name = f"moto-transactions-{name}-{suffix}"
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key, _ in keys],
        KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in keys],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name


ranged, hashed = create("ranged", True), create("hashed", False)
for pk, sk in [("p1", "a"), ("p1", "b"), ("p1", "c"), ("p1", "d"), ("p2", "x")]:
    dynamodb.put_item(TableName=ranged, Item={"pk": S(pk), "sk": S(sk), "v": S("0")})
for pk in ["k1", "k2", "k3", "k4"]:
    dynamodb.put_item(TableName=hashed, Item={"pk": S(pk), "v": S("0")})
# A read of a missing key leaves moto an empty partition, which the transactions below write into.
dynamodb.get_item(TableName=ranged, Key={"pk": S("p9"), "sk": S("z")})


def records(table):
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]


def state():
    return {
        table: (dynamodb.scan(TableName=table)["Items"], records(table), dynamodb.describe_table(TableName=table)["Table"]["ItemCount"])
        for table in (ranged, hashed)
    }


update = lambda table, key: {"Update": {"TableName": table, "Key": key, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": S("1")}}}
delete = lambda table, key: {"Delete": {"TableName": table, "Key": key}}
put = lambda table, item: {"Put": {"TableName": table, "Item": item}}
refused = lambda table, key: {"ConditionCheck": {"TableName": table, "Key": key, "ConditionExpression": "attribute_not_exists(pk)"}}
writes = [
    update(ranged, {"pk": S("p1"), "sk": S("a")}),
    delete(ranged, {"pk": S("p1"), "sk": S("b")}),
    put(ranged, {"pk": S("p1"), "sk": S("e"), "v": S("1")}),
    put(ranged, {"pk": S("p3"), "sk": S("a"), "v": S("1")}),
    update(ranged, {"pk": S("p4"), "sk": S("a")}),
    put(ranged, {"pk": S("p9"), "sk": S("z"), "v": S("1")}),
    delete(hashed, {"pk": S("k2")}),
    update(hashed, {"pk": S("k3")}),
    put(hashed, {"pk": S("k9"), "v": S("1")}),
]
arns = {table: dynamodb.describe_table(TableName=table)["Table"]["TableArn"] for table in (ranged, hashed)}
failures = {
    "a condition fails after the writes": writes + [refused(ranged, {"pk": S("p2"), "sk": S("x")})],
    "a condition fails before the writes": [refused(hashed, {"pk": S("k1")})] + writes,
    "an item twice": writes + [update(ranged, {"pk": S("p1"), "sk": S("b")})],
    "an update of a key attribute": writes + [{"Update": {"TableName": ranged, "Key": {"pk": S("p2"), "sk": S("x")},
        "UpdateExpression": "SET sk = :v", "ExpressionAttributeValues": {":v": S("y")}}}],
    # The two moto's own rollback leaves partly applied (DynamoDB applies neither).
    "tables named by their ARNs": [{kind: {**op, "TableName": arns[op["TableName"]]}} for item in writes for kind, op in item.items()]
        + [refused(arns[ranged], {"pk": S("p2"), "sk": S("x")})],
    "two operations in one item": writes + [{**put(hashed, {"pk": S("k8")}), **delete(hashed, {"pk": S("k4")})}],
}
before = state()
for case, items in failures.items():
    try:
        dynamodb.transact_write_items(TransactItems=items)
        sys.exit(f"moto_scaling: {case}: the transaction was applied")
    except botocore.exceptions.ClientError as error:
        code = error.response["Error"]["Code"]
    after = state()
    for table in before:
        if after[table] != before[table]:
            sys.exit(f"moto_scaling: {case} ({code}): {table} changed:\n{before[table]}\n{after[table]}")
    print(f"moto_scaling: {case}: {code}, tables and streams unchanged")

backup = dynamodb.create_backup(TableName=ranged, BackupName=f"before-{suffix}")["BackupDetails"]["BackupArn"]
dynamodb.transact_write_items(TransactItems=writes)
after = state()
applied = {
    ranged: sorted((i["pk"]["S"], i["sk"]["S"], i["v"]["S"]) for i in after[ranged][0]),
    hashed: sorted((i["pk"]["S"], i["v"]["S"]) for i in after[hashed][0]),
}
expected = {
    ranged: [("p1", "a", "1"), ("p1", "c", "0"), ("p1", "d", "0"), ("p1", "e", "1"), ("p2", "x", "0"), ("p3", "a", "1"), ("p4", "a", "1"), ("p9", "z", "1")],
    hashed: [("k1", "0"), ("k3", "1"), ("k4", "0"), ("k9", "1")],
}
if applied != expected:
    sys.exit(f"moto_scaling: the transaction applied {applied}, not {expected}")
# An update that creates its item streams an INSERT then a MODIFY (moto's way): 7 on the ranged table.
streamed = {table: len(after[table][1]) - len(before[table][1]) for table in before}
if streamed != {ranged: 7, hashed: 3}:
    sys.exit(f"moto_scaling: the transaction streamed {streamed} records")
restored = f"moto-transactions-restored-{suffix}"
dynamodb.restore_table_from_backup(TargetTableName=restored, BackupArn=backup)
if dynamodb.scan(TableName=restored)["Items"] != before[ranged][0]:
    sys.exit("moto_scaling: a backup taken before the transaction holds its writes")
print("moto_scaling: a transaction that succeeds writes and streams; a backup is a copy")

# The sort: moto's own (Table.all_items, not replaced in this process) and moto_scaling's, on the
# same tables of each key type, with and without a sort key, values of many lengths and signs.
values = {
    "S": lambda: {"S": "".join(random.choices("aAb0_#~", k=random.randint(1, 4)))},
    "N": lambda: {"N": random.choice(["-", ""]) + str(random.randint(0, 120)) + random.choice(["", ".5", ".0", "e1", "e-2"])},
    "B": lambda: {"B": base64.b64encode(random.randbytes(random.randint(1, 3))).decode()},
}
random.seed(5)
for hash_type in values:
    for range_type in [None, *values]:
        schema = [{"AttributeName": "pk", "KeyType": "HASH"}] + ([{"AttributeName": "sk", "KeyType": "RANGE"}] if range_type else [])
        attributes = [{"AttributeName": "pk", "AttributeType": hash_type}] + ([{"AttributeName": "sk", "AttributeType": range_type}] if range_type else [])
        table = Table("sorted", "123456789012", "us-east-1", schema, attributes)
        for _ in range(400):
            table.put_item({"pk": values[hash_type](), **({"sk": values[range_type]()} if range_type else {})})
        if [id(item) for item in moto_scaling._all_items(table)] != [id(item) for item in table.all_items()]:
            sys.exit(f"moto_scaling: keys {hash_type}/{range_type} sort otherwise than moto's own")
numbered = dynamodb.create_table(
    TableName=f"moto-scaling-numbered-{suffix}",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    BillingMode="PAY_PER_REQUEST",
)["TableDescription"]["TableName"]
keys = [(pk, sk) for pk in ["b", "a", "B"] for sk in ["10", "9", "-1", "1.5", "0.5e1", "100", "-20"]]
for pk, sk in keys:
    dynamodb.put_item(TableName=numbered, Item={"pk": S(pk), "sk": {"N": sk}})
order = lambda items: [(i["pk"]["S"], Decimal(i["sk"]["N"])) for i in items]
expected = sorted((pk, Decimal(sk)) for pk, sk in keys)
if order(dynamodb.scan(TableName=numbered)["Items"]) != expected:
    sys.exit(f"moto_scaling: Scan reads {order(dynamodb.scan(TableName=numbered)['Items'])}")
paged, start = [], {}
while True:
    page = dynamodb.query(TableName=numbered, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": S("a")},
                          ScanIndexForward=False, Limit=2, **start)
    paged += page["Items"]
    if "LastEvaluatedKey" not in page:
        break
    start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
if order(paged) != [key for key in reversed(expected) if key[0] == "a"]:
    sys.exit(f"moto_scaling: a Query in pages of 2, descending, reads {order(paged)}")
print("moto_scaling: Query and Scan read items in moto's own order")
