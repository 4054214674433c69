"""The one place that builds Redis keys. Renaming a key is a migration: tests pin these strings.

Layout (version ``v1``; ``P`` is the deployment's prefix, ``nbo`` by default)::

    P:v1:{c:<customer>}:features     hash   feature -> JSON value
    P:v1:{c:<customer>}:consent      hash   channel -> "1" / "0"
    P:v1:{c:<customer>}:history      list   newest-first JSON entries (decisions, outcomes, events)
    P:v1:{c:<customer>}:contacts     hash   contact-policy counters
    P:v1:{c:<customer>}:aggregates   hash   real-time event aggregates (time buckets, last seen)
    P:v1:{c:<customer>}:event_ids    zset   sender event ids seen (31 days), for deduplication
    P:v1:{c:<customer>}:queued       set    "<channel>|<stream id>" of queued outbound messages
    P:v1:{q:<channel>}:outbound      stream outbound messages for a channel's senders (30 days)
    P:v1:{i:<part>}:customers        set    ids of customers with a profile (16 parts by id)
    P:v1:{i}:customers:complete      string every profile is in the index (expires daily: see scan)
    P:v1:{o:<shard>}:decision:<id>   hash   the decision log entry an outcome joins with (TTL)
    P:v1:{o:<shard>}:outcomes        stream joined outcomes, read by the learner's consumer group
    P:v1:{o:<shard>}:pending         zset   "<decision>|<offer>" by outcome-window deadline (ms)
    P:v1:{o:<shard>}:stats           hash   per-offer impressions / outcomes, control-group counts
    P:v1:{o:<shard>}:archive         stream every history line, read by the SQL archiver's group
    P:v1:{m}:checkpoint              string the learner's checkpoint (model + stream positions)
    P:v1:{m}:learner:lease           string the active learner's id (expires unless renewed)
    P:v1:{m}:snapshot:<version>      string an exported model snapshot
    P:v1:{m}:snapshot:latest         string the newest published version
    P:v1:{m}:snapshot:pinned         string a version pinned by a rollback (served instead)
    P:v1:{m}:catalogue:version       string bumped on every catalogue change

Hash tags: everything about one customer shares the slot ``{c:<id>}`` (so one Lua script can
deduplicate an event, update its aggregates and log it to the history); a decision, its outcome
stream, its pending window and the archive stream share ``{o:<shard>}``, so joining an outcome
with its decision and appending it to the stream is one atomic script, also on Redis Cluster.
The customer index is split in ``INDEX_PARTS`` sets by a hash of the id, so that on Redis Cluster
no one node holds every customer's id. The model's keys share ``{m}`` (the lease fences the
checkpoint in one script). On a single Redis, the decision's write (contact capacity, history
line, log) is one script across its customer's and its shard's slots; on Redis Cluster it runs as
two, one per slot.

Examples
--------
>>> k = Keys()
>>> k.features("C1")
'nbo:v1:{c:C1}:features'
>>> k.decision("ab12", 0)
'nbo:v1:{o:0}:decision:ab12'
>>> k.customer_of_features(k.features("C1"))
'C1'
>>> k.customer_index("C1")
'nbo:v1:{i:3}:customers'
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["INDEX_PARTS", "Keys"]

INDEX_PARTS = 16
"""Sets the customer index is split into. Changing it is a migration (ids would move parts)."""


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "nbo"
    shards: int = 1

    @property
    def _base(self) -> str:
        return f"{self.prefix}:v1"

    def shard_of(self, decision_id: str) -> int:
        """The outcome-stream shard of a decision, derived from its id alone."""
        return zlib.crc32(decision_id.encode()) % self.shards

    def features(self, customer_id: str) -> str:
        return f"{self._base}:{{c:{customer_id}}}:features"

    def consent(self, customer_id: str) -> str:
        return f"{self._base}:{{c:{customer_id}}}:consent"

    def history(self, customer_id: str) -> str:
        return f"{self._base}:{{c:{customer_id}}}:history"

    def contacts(self, customer_id: str) -> str:
        return f"{self._base}:{{c:{customer_id}}}:contacts"

    def aggregates(self, customer_id: str) -> str:
        return f"{self._base}:{{c:{customer_id}}}:aggregates"

    def event_ids(self, customer_id: str) -> str:
        return f"{self._base}:{{c:{customer_id}}}:event_ids"

    def queued(self, customer_id: str) -> str:
        return f"{self._base}:{{c:{customer_id}}}:queued"

    def outbound(self, channel: str) -> str:
        return f"{self._base}:{{q:{channel}}}:outbound"

    @property
    def features_pattern(self) -> str:
        """A SCAN pattern matching every customer's features hash."""
        return f"{self._base}:{{c:*}}:features"

    def customer_index(self, customer_id: str) -> str:
        """The part of the customer index that holds ``customer_id``."""
        return self.customer_index_part(zlib.crc32(customer_id.encode()) % INDEX_PARTS)

    def customer_index_part(self, part: int) -> str:
        return f"{self._base}:{{i:{part}}}:customers"

    @property
    def customer_index_complete(self) -> str:
        return f"{self._base}:{{i}}:customers:complete"

    def customer_of_features(self, key: str) -> str:
        """The customer id in a key matched by :attr:`features_pattern`."""
        return key[len(self._base) + 4 : -len("}:features")]

    def decision(self, decision_id: str, shard: int) -> str:
        return f"{self._base}:{{o:{shard}}}:decision:{decision_id}"

    def outcomes(self, shard: int) -> str:
        return f"{self._base}:{{o:{shard}}}:outcomes"

    def pending(self, shard: int) -> str:
        return f"{self._base}:{{o:{shard}}}:pending"

    def stats(self, shard: int) -> str:
        return f"{self._base}:{{o:{shard}}}:stats"

    def archive(self, shard: int) -> str:
        return f"{self._base}:{{o:{shard}}}:archive"

    @property
    def checkpoint(self) -> str:
        return f"{self._base}:{{m}}:checkpoint"

    @property
    def learner_lease(self) -> str:
        return f"{self._base}:{{m}}:learner:lease"

    def snapshot(self, version: int) -> str:
        return f"{self._base}:{{m}}:snapshot:{version}"

    @property
    def snapshot_latest(self) -> str:
        return f"{self._base}:{{m}}:snapshot:latest"

    @property
    def snapshot_pinned(self) -> str:
        return f"{self._base}:{{m}}:snapshot:pinned"

    @property
    def catalogue_version(self) -> str:
        return f"{self._base}:{{m}}:catalogue:version"
