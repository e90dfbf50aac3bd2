"""The embedded stack: a Kafka-compatible broker (Tansu) and a MongoDB-wire store (NX-27017)
started as child processes, for development and tests on machines without Docker."""
