"""The messaging kit: the broker, the outbox and its relay, and batch consumers that retry and
then dead-letter. No multi-document transactions anywhere: every step's atomicity comes from a
single-document write."""
