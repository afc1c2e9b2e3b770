"""Subjects and the access decision function (permit/deny, reasons, obligations). Pure.

`decide` answers one request, `decide_many` a batch (vectorised); `Policies` compiles the
agreements a node holds once so that both can be called at full speed. The clock is always
a parameter. See `cix.policy.engine` for the rules.
"""

from cix.policy.api import Request, action_of, decide, decide_many, policies_of
from cix.policy.compiled import Policies, PolicyError
from cix.policy.decision import Action, Code, Decision, Obligation, Reason
from cix.policy.subject import (
    Clearance,
    Organisation,
    OrganisationKind,
    Subject,
    SubjectError,
    make_subject,
    subject_from_json,
)

__all__ = [
    "Action",
    "Clearance",
    "Code",
    "Decision",
    "Obligation",
    "Organisation",
    "OrganisationKind",
    "Policies",
    "PolicyError",
    "Reason",
    "Request",
    "Subject",
    "SubjectError",
    "action_of",
    "decide",
    "decide_many",
    "make_subject",
    "policies_of",
    "subject_from_json",
]
