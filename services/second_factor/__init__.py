"""The second factor (#15): TOTP (RFC 6238, ``pyotp``) and one-time recovery codes.

Agents and supervisors must have one; customers may turn it on in "Meine Einstellungen".

Login in two steps. ``accounts.login`` / ``login_agent`` check the password as before; when
the account needs a second step the session is opened *pending* (``Session.second_factor``
``"code"`` or ``"enrol"``) and serves nothing (``sessions.live`` treats it as missing) until
``complete_login`` (the code or a recovery code) or ``confirm_enrolment`` clears the mark.
A wrong password at the agent login — and for a customer who has a second factor — also
leads to the code step (a ``"decoy"`` session that no code opens), so the password step does
not tell whether the password was right; the code step then answers with one neutral
message. The exception is an agent who has not enrolled yet: enrolment needs the password to
have been right (it happens once, after ``kiosk agent create`` or a reset).

Security rules:
* the secret is sealed with AES-256-GCM under a key derived from the installation secret
  (``services.secretbox``), bound to the account id; it is never logged or audited;
* a code counts in the time step before, at and after now (±30 s) only;
* a time step is used once: ``SecondFactor.last_step`` is raised by one conditional UPDATE
  (``last_step < step``), so two terminals submitting the same code at the same moment get
  one success between them, on SQLite and PostgreSQL;
* wrong codes count in the login throttle (``("login", "account", "a<id>")`` and the
  terminal's counter, ``throttle.LOGIN_ACCOUNT``/``LOGIN_TERMINAL``); a correct password does
  not reset the account's counter while the code is still missing;
* recovery codes (10, shown once) are kept as keyed digests; each works once; using one is
  audited with the number left.

The package, one idea a module (each imports only those above it):

``factor``     the sealed secret, the code check with its replay guard, has/must have one
``recovery``   the ten one-time recovery codes and their PDF letter
``login``      the pending login, decoys and ``complete_login``
``enrolment``  turning it on: ``begin_enrolment``, ``confirm_enrolment``
``settings``   "Meine Einstellungen": ``status``, ``disable``
``reset``      a supervisor's (or the operator's) reset of an agent's factor

Callers import the names below from ``services.second_factor``.
"""

from __future__ import annotations

from services.second_factor.enrolment import (
    Enrolment,
    EnrolmentDone,
    begin_enrolment,
    confirm_enrolment,
)
from services.second_factor.factor import (
    CODE,
    DECOY,
    DELETION,
    ENROL,
    ISSUER,
    STEP,
    code_at,
    group,
    is_mandatory,
    new_secret,
)
from services.second_factor.login import (
    MSG_CODE_FAILED,
    LoginDone,
    complete_login,
    login_step,
    open_decoy,
    wants_decoy,
)
from services.second_factor.recovery import (
    LetterResult,
    RecoveryCodes,
    new_recovery_codes,
    write_recovery_letter,
)
from services.second_factor.reset import ResetResult, reset_by_operator, reset_for_agent
from services.second_factor.settings import MSG_DISABLED, FactorStatus, disable, status

__all__ = [
    "CODE", "DECOY", "DELETION", "ENROL", "ISSUER", "MSG_CODE_FAILED", "MSG_DISABLED", "STEP", "Enrolment",
    "EnrolmentDone", "FactorStatus", "LetterResult", "LoginDone", "RecoveryCodes",
    "ResetResult", "begin_enrolment", "code_at", "complete_login", "confirm_enrolment",
    "disable", "group", "is_mandatory", "login_step", "new_recovery_codes", "new_secret",
    "open_decoy", "reset_by_operator", "reset_for_agent", "status", "wants_decoy",
    "write_recovery_letter",
]
