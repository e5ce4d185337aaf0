"""Where moto's time per request grows with the table and DynamoDB's does not: made cheaper, with
the same results.

Cofre's round trips and its sweep of due holds are measured on moto (docs/hold-expiry.md): 10,000
holds mean ledger and events tables of 20,000 items. moto 5.2.1 spends, in pure Python, time in
proportion to those tables in two places that DynamoDB does not, and both are replaced here.

TransactWriteItems. moto backs up a transaction by deep-copying every table it names, once per
item of the transaction, before applying any of it: ~315 ms per hold released on a
2,200-item ledger, seconds on a 20,000-item one, hours for 10,000 holds. A transaction can only
change the items it names (Put, Update, Delete and ConditionCheck each name one key) and the stream
records of their tables. So moto's own method runs unchanged, with its table copies made free (a
copy of a table is the table itself, for the length of the call only), and before it runs this keeps
what its backup would have restored of them: a deep copy of each named item, or its absence, and how
many records each table's stream shard held. If the call raises, for any reason, all of that is put
back and the exception goes on. What it does not put back cannot be read: the order of moto's item
dicts (every Query and Scan sorts them) and the empty partition a read of a missing key leaves (it
holds no item). moto's own rollback misses two failures that this covers: an error raised outside
its per-item handler (two operations in one item) after earlier items applied, and tables named by
ARN, which it does not copy. DynamoDB applies neither partly.

Query and Scan. moto answers both from every item of the table, sorted by primary key
(`Table.all_items`), comparing `DynamoType`s, each comparison recomputing both values: ~1 s per Query
of a 10,000-item table, most of a sweep's time. The same sort, keyed once per item by the keys'
values, gives the same order: a table's key attributes all have the type its schema declares (moto
refuses any other on write), and between values of one type `DynamoType` compares exactly those
values. ~3 times faster; the Query still reads every item, as moto's does.

Only moto 5.2.1 was checked against this: another version keeps moto's own code, and says so.
"""

import copy
import sys
from typing import Any

import moto
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

CHECKED_MOTO = "5.2.1"
_ABSENT = object()


class _Snapshot:
    """Everything of the named tables that a transaction can change, before it runs."""

    def __init__(self, backend: DynamoDBBackend, transact_items: list[dict[str, Any]]):
        self.items: dict[tuple[int, DynamoType, DynamoType | None], tuple[Table, Any]] = {}
        self.streams: dict[int, tuple[Table, Any, list, int]] = {}
        for entry in transact_items:
            for op_type, op in entry.items() if isinstance(entry, dict) else ():
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


def _transact_write_items(original):
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

    return transact_write_items


def _all_items(self: Table) -> list[Item]:
    items: list[Item] = []
    if self.range_key_attr:
        for partition in self.items.values():
            items.extend(partition.values())
        return sorted(items, key=lambda item: (item.hash_key.cast_value, item.range_key.cast_value))
    items.extend(self.items.values())
    return sorted(items, key=lambda item: item.hash_key.cast_value)


def install() -> bool:
    """Replaces moto's transaction rollback and item sort; False (moto's own kept) on a moto this was
    not checked on."""
    if moto.__version__ != CHECKED_MOTO or "__deepcopy__" in vars(Table):
        print(
            f"moto_scaling: moto {moto.__version__} is not {CHECKED_MOTO}: keeping moto's own "
            "transaction rollback (a copy of each named table per item) and item sort",
            file=sys.stderr,
        )
        return False
    DynamoDBBackend.transact_write_items = _transact_write_items(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]
    Table.all_items = _all_items  # type: ignore[method-assign]
    return True
