"""Registry use cases (issue 11), one module per concern: records (writes), course (view),
session_data (summary numbers), document (PDF, FHIR), export, report."""
