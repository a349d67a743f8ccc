"""Every module's tables, imported in one place so migrations see the whole schema."""

from payhub.audit import models as _audit  # noqa: F401
from payhub.auth import models as _auth  # noqa: F401
from payhub.db.base import Base
from payhub.events import models as _events  # noqa: F401
from payhub.idempotency import models as _idempotency  # noqa: F401
from payhub.ledger import models as _ledger  # noqa: F401
from payhub.merchants import models as _merchants  # noqa: F401
from payhub.payments import models as _payments  # noqa: F401
from payhub.risk.cases import models as _risk_cases  # noqa: F401
from payhub.risk.decisions import models as _risk_decisions  # noqa: F401
from payhub.risk.monitoring import models as _risk_monitoring  # noqa: F401
from payhub.risk.reports import models as _risk_reports  # noqa: F401
from payhub.risk.sanctions import models as _sanctions  # noqa: F401
from payhub.routing import models as _routing  # noqa: F401
from payhub.settlement.balances import models as _settlement_balances  # noqa: F401
from payhub.settlement.fees import models as _fees  # noqa: F401
from payhub.settlement.payouts import models as _payouts  # noqa: F401
from payhub.settlement.reconciliation import models as _reconciliation  # noqa: F401
from payhub.splits import models as _splits  # noqa: F401
from payhub.vault import models as _vault  # noqa: F401

metadata = Base.metadata
