"""The desk's data protection actions (#16), mixed into the account actions of the customer
and account views: the data export for a customer who proved their identity at the desk
(mailed to the account's own address, never shown here) and a deletion request, which waits
in the queue "Datenschutz" until another supervisor confirms it (four-eyes; the queue's
resolve/reject, see ``DeskScreen._close``). The agent notes how identity was proven."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding, BindingType

from screens.backoffice.dialogs import NoteDialog
from services import privacy
from services.errors import N_

PRIVACY_BINDINGS: list[BindingType] = [
    Binding("e", "privacy_export", N_("Data export"), id="desk-privacy-export"),
    Binding("d", "privacy_delete", N_("Delete account"), id="desk-privacy-delete"),
]
#: Labels of the account states the deletion adds.
PRIVACY_STATUS = {privacy.PENDING: N_("deletion pending"), privacy.DELETED: N_("erased")}
MSG_EXPORT_NOTE = N_("Send {user} the data export: how did the customer prove their identity?")
MSG_DELETE_NOTE = N_("Request the deletion of {user} (a supervisor confirms): how did the "
                     "customer prove their identity?")


class PrivacyDeskActions:
    """Needs ``selected_account()``, ``desk_call()`` and ``reload()`` of ``AccountActions``."""

    def _privacy_action(self, question: str, fn: Any, submit: str) -> None:
        screen: Any = self
        account = screen.selected_account()
        if account is None:
            return

        def noted(note: str | None) -> None:
            if note:
                screen.desk_call(fn, account.id, note, screen.app.caller,
                                 then=lambda _result: screen.reload())

        screen.app.push_screen(NoteDialog(question, required=True, submit=submit,
                                          params={"user": account.username or account.email
                                                  or ""}), noted)

    def action_privacy_export(self) -> None:
        self._privacy_action(MSG_EXPORT_NOTE, privacy.desk_export, N_("Send the data export"))

    def action_privacy_delete(self) -> None:
        self._privacy_action(MSG_DELETE_NOTE, privacy.desk_request_deletion,
                             N_("Request the deletion"))

    def privacy_palette(self) -> list[tuple[str, Any, str]]:
        return [
            (N_("Send the data export"), self.action_privacy_export,
             N_("Mailed to the account's own address after an identity check")),
            (N_("Request the deletion"), self.action_privacy_delete,
             N_("Another supervisor confirms it in the queue Data protection")),
        ]
