"""Imports every model module, so that Base.metadata knows every table (used by migrations)."""

from abs_registry.applications.models import (  # noqa: F401
    Agreement,
    AgreementAcceptance,
    Application,
    ConsentRequest,
    ReviewNote,
)
from abs_registry.attachments.models import Attachment  # noqa: F401
from abs_registry.audit.models import AuditChainHead, AuditEvent  # noqa: F401
from abs_registry.auth.models import (  # noqa: F401
    ApiToken,
    AuthSession,
    LoginAttempt,
    Organization,
    User,
)
from abs_registry.declarations.models import (  # noqa: F401
    Declaration,
    DSIRecord,
    GeneticResource,
    KeyListEntry,
    RegisterEntry,
    TKRecord,
)
from abs_registry.idempotency.models import IdempotencyRecord  # noqa: F401
from abs_registry.movements.models import (  # noqa: F401
    CheckpointCommunique,
    Movement,
    UseChange,
)
from abs_registry.notifications.models import Notification  # noqa: F401
from abs_registry.obligations.models import (  # noqa: F401
    CaliFundReturn,
    Evidence,
    MilestoneReport,
    Obligation,
    Payment,
    SalesReport,
)
from abs_registry.permits.models import (  # noqa: F401
    Permit,
    PermitStatement,
    PermittedExit,
    SigningKey,
)
from abs_registry.references import Counter  # noqa: F401
from abs_registry.tk.models import (  # noqa: F401
    TKAccessEvent,
    TKAccessGrant,
    TKAttachment,
    TKLabel,
    TKTranslation,
)
from abs_registry.translog.models import LogCheckpoint, LogEntry, LogHead  # noqa: F401
