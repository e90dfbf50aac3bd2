"""The service layer's kit: the unit of work (an aggregate and its events in one document
write), the message context (correlation and causation ids), and the bus that routes commands
and events to each service's handlers."""
