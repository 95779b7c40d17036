-- 022: the outbox keeps its payload as text (issue 26: forwarding's cost on ingest).
--
-- A forwarded body is written once, read once by each rule's forwarder and sent as it is; nothing ever
-- queries inside it. As jsonb, every row was parsed and re-encoded when written (plus a jsonb concatenation
-- for the iotId) and printed again when read: about 10 of the ~36 µs of PostgreSQL CPU an outbox row cost,
-- measured with the outbox's own statements (write 50 rows a transaction at ~4,500 rows/s, read, prune,
-- vacuum). The writer now splices the iotId in as text (libs/store/src/forwarding.cpp); the triggers of
-- 019, 020 and 021 still build jsonb, which PostgreSQL stores through its text form (an assignment cast).
-- Dead letters stay jsonb (rare rows, inspected by operators).
ALTER TABLE forward_outbox ALTER COLUMN payload TYPE text USING payload::text;
