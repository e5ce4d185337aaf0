"""The Python peer of the hello + DynamoDB floor: what a Python Lambda function doing the same work
costs (boto3 client built at init, one GetItem per request), with the Runtime API loop written out
(urllib) instead of the managed runtime's, so the harness can start it like a custom runtime.
"""

import json
import os
import urllib.request

import boto3

api = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
table = os.environ["FLOOR_TABLE"]
client = boto3.client("dynamodb")

while True:
    with urllib.request.urlopen(f"{api}/invocation/next") as event:
        request_id = event.headers["Lambda-Runtime-Aws-Request-Id"]
        event.read()
    item = client.get_item(TableName=table, Key={"pk": {"S": "floor"}, "sk": {"S": "floor"}})
    answer = {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"found": "Item" in item}),
        "isBase64Encoded": False,
    }
    request = urllib.request.Request(
        f"{api}/invocation/{request_id}/response", data=json.dumps(answer).encode(), method="POST"
    )
    urllib.request.urlopen(request).read()
