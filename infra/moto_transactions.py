"""moto's TransactWriteItems rollback, at the cost of what the transaction touches.

moto 5.2.1 backs up a transaction by deep-copying every table it names, once per item of the
transaction, before applying any of it (`DynamoDBBackend.transact_write_items`). Its cost grows
with the tables, not with the transaction: ~315 ms per four-item transaction on a 2,200-item ledger,
seconds on a 20,000-item one, so 10,000 holds (docs/hold-expiry.md) would take hours. DynamoDB
takes the same time whatever the table holds, so a measurement on moto should too.

A transaction can only change the items it names (Put, Update, Delete and ConditionCheck each name
one key) and the stream records of their tables. So moto's own method runs unchanged, with its table
copies made free (a copy of a table is the table itself, for the length of the call only), and
before it runs this keeps what its backup would have restored of them: a deep copy of each named
item, or its absence, and how many records each table's stream shard held. If the call raises, for
any reason, all of that is put back and the exception goes on. What it does not put back cannot be
read: the order of moto's item dicts (every Query and Scan sorts them) and the empty partition a read
of a missing key leaves (it holds no item). (moto's own rollback misses two
cases that this covers: an error raised outside its per-item handler, after earlier items applied,
and a table named by its ARN, which it does not copy; DynamoDB applies neither partly.)

Only moto 5.2.1 was checked against this: another version keeps moto's own rollback, and says so.
"""

import copy
import sys
from typing import Any

import moto
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

CHECKED_MOTO = "5.2.1"
_ABSENT = object()


class _Snapshot:
    """Everything of the named tables that a transaction can change, before it runs."""

    def __init__(self, backend: DynamoDBBackend, transact_items: list[dict[str, Any]]):
        self.items: dict[tuple[int, DynamoType, DynamoType | None], tuple[Table, Any]] = {}
        self.streams: dict[int, tuple[Table, Any, list, int]] = {}
        for entry in transact_items:
            for op_type, op in entry.items():
                try:
                    table = backend.get_table(op["TableName"])
                    hash_key, range_key = backend.get_keys_value(table, op["Item"] if op_type == "Put" else op["Key"])
                except Exception:
                    # moto refuses an item whose table or key it cannot read before writing it.
                    continue
                key = (id(table), hash_key, range_key)
                if key not in self.items:
                    item = table.get_item(hash_key, range_key) if hash_key in table.items else None
                    self.items[key] = (table, _ABSENT if item is None else copy.deepcopy(item))
                shard = table.stream_shard
                if shard is not None and id(table) not in self.streams:
                    self.streams[id(table)] = (table, shard, shard.items, len(shard.items))

    def restore(self) -> None:
        for (_, hash_key, range_key), (table, item) in self.items.items():
            if table.range_key_attr is None:
                if item is _ABSENT:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = item
            elif item is _ABSENT:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item
        for table, shard, records, count in self.streams.values():
            # A stream with a Lambda mapping hands its records over and starts a new list: the
            # records before the transaction are still the first `count` of the old one.
            del records[count:]
            shard.items = records
            table.stream_shard = shard


def _table_itself(table: Table, memo: dict) -> Table:
    return table


def install() -> bool:
    """Replaces moto's rollback; False (and moto's own kept) on a moto this was not checked on."""
    if moto.__version__ != CHECKED_MOTO or "__deepcopy__" in vars(Table):
        print(
            f"moto_transactions: moto {moto.__version__} is not {CHECKED_MOTO}: keeping moto's own "
            "rollback (a copy of each named table per transaction item)",
            file=sys.stderr,
        )
        return False
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        snapshot = _Snapshot(self, transact_items)
        Table.__deepcopy__ = _table_itself  # type: ignore[attr-defined]
        try:
            original(self, transact_items)
        except BaseException:
            snapshot.restore()
            raise
        finally:
            del Table.__deepcopy__  # type: ignore[attr-defined]

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    return True
