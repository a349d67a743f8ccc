"""Every module's tables, imported in one place so migrations see the whole schema."""

from payhub.auth import models as _auth  # noqa: F401
from payhub.db.base import Base
from payhub.idempotency import models as _idempotency  # noqa: F401
from payhub.ledger import models as _ledger  # noqa: F401

metadata = Base.metadata
