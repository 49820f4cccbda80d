# The session fixtures (an eligible patient, a chair with its monitor, the API flow) are shared
# with the session tests.
from tests.sessions.test_router import (  # noqa: F401
    chair,
    clinic,
    flow,
    monitor,
    nurse_user,
    patient,
    physician_user,
    protocol,
)
