"""Evidence export: recordings, their catalog records and audit events in one verifiable zip."""
