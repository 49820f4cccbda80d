"""Pure interop rules: ER7 parsing, ORU^R01 mapping, ACK building, FHIR mapping (no I/O)."""
