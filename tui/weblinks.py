"""The links in mails, answered by `kiosk serve` (guide 001 and 003 on the web).

Every link (``/verify/<t>``, ``/reset/<t>``, ``/confirm-email/<t>``, ``/org/confirm/<t>``,
``/org/complete/<t>``, ``/cancel-deletion/<t>``) first shows a small page with a button (GET has no side effect, so
mail scanners that fetch links do not use them up); the POST does the action through the same
services as the kiosk. The form carries a keyed digest of the link token (CSRF: only who knows
the link can post it). A malformed, unknown, expired or used link gets one neutral page
(400 / 410) that reveals nothing else. German by default, English with ``?lang=en`` or the
browser's ``Accept-Language``. Every text is escaped; an unexpected error is a plain page
(``error_pages``), never a traceback.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from screens.organisation import PRIVACY_LABEL, PRIVACY_TEXT, TERMS_TEXT
from services import accounts, organisations
from services.backend import Backend
from services.caller import Caller
from services.errors import (
    N_,
    DomainError,
    StorageUnavailable,
    Throttled,
    ValidationFailed,
)
from services.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate
from services.passwords import check_password

log = logging.getLogger(__name__)

#: Link tokens are ``secrets.token_urlsafe``; anything else is refused before the database.
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")

MSG_INVALID_LINK = N_("This link is invalid, has expired or has already been used. Please "
                      "request a new e-mail in the app or at the kiosk.")
MSG_ERROR = N_("Something went wrong. Please try again later or ask at the service desk.")
MSG_UNAVAILABLE = N_("The service is not available at the moment. Please try again later.")
MSG_CLOSE = N_("You can close this page now.")
MSG_LOGIN_NEXT = N_("Next step: log in at the kiosk or in the app with your username or "
                    "e-mail address and your password.")
TERMS_LABEL = N_("I accept the terms of use *")

#: The form fields of each password form and the service field names they answer to.
RESET_FIELDS = {"new_password": "password", "password_confirm": "password_confirm"}
ORG_FIELDS = {"password": "password", "password_confirm": "password_confirm",
              "terms": "terms", "privacy": "privacy"}

STYLE = """
body{font-family:system-ui,sans-serif;font-size:1.125rem;line-height:1.5;margin:0;
background:#f4f6f8;color:#111}
main{max-width:36rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border:1px solid #ccd}
h1{font-size:1.5rem;margin-top:0}
nav{text-align:right;font-size:1rem}
label{display:block;font-weight:600;margin-top:1rem}
.check label{display:inline;font-weight:400}
input[type=password]{width:100%;box-sizing:border-box;font-size:1.125rem;padding:.5rem;
border:2px solid #555}
input[type=checkbox]{width:1.25rem;height:1.25rem;vertical-align:middle}
[aria-invalid=true]{border-color:#b00020}
.error{color:#b00020;font-weight:600;margin:.25rem 0 0}
.fine{font-size:1rem;color:#333}
button{margin-top:1.5rem;font-size:1.125rem;padding:.6rem 1.5rem;background:#0b4f8a;color:#fff;
border:0;border-radius:4px;cursor:pointer}
:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
"""

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # the token in the address must not leak
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex",
}


# --------------------------------------------------------------------------- language


def choose_language(request: web.Request) -> str:
    """``?lang=`` first, then the best of ``Accept-Language``, else German."""
    asked = request.query.get("lang", "")
    if asked in LANGUAGES:
        return asked
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for part in request.headers.get("Accept-Language", "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if primary in LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best


# --------------------------------------------------------------------------- HTML


@dataclass
class Form:
    """A form posting back to the link; ``fields`` is ready, escaped HTML."""

    token: str
    csrf: str
    button: str
    fields: list[str] = field(default_factory=list)
    hidden: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    """One page: a title, paragraphs (plain text), an optional form, the HTTP status."""

    title: str
    paragraphs: list[str]
    form: Form | None = None
    status: int = 200
    error: str | None = None
    error_params: dict[str, Any] = field(default_factory=dict)


def render(page: Page, language: str) -> web.Response:
    """The whole document; every text is escaped here or in the field helpers."""
    _ = _translator(language)
    other = "en" if language == "de" else "de"
    parts = []
    if page.form is None or not page.form.hidden:  # a switch would lose the form's state
        parts.append(f'<nav><a href="?lang={other}" lang="{other}">'
                     f'{"English" if other == "en" else "Deutsch"}</a></nav>')
    parts.append(f"<h1>{_(page.title)}</h1>")
    if page.error:
        parts.append(f'<p class="error" role="alert">{_(page.error, **page.error_params)}</p>')
    parts += [f"<p>{html.escape(text)}</p>" for text in page.paragraphs]
    if page.form is not None:
        form = page.form
        hidden = {"csrf": form.csrf, **form.hidden}
        parts.append(f'<form method="post" action="{html.escape(form.token)}?lang={language}">')
        parts += [f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
                  for name, value in hidden.items()]
        parts += form.fields
        parts.append(f'<button type="submit">{_(form.button)}</button></form>')
    body = "\n".join(parts)
    document = (f'<!doctype html>\n<html lang="{language}"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<meta name="robots" content="noindex"><title>{_(page.title)} – Kundenkiosk'
                f"</title><style>{STYLE}</style></head>\n<body><main>\n{body}\n</main></body>"
                f"</html>\n")
    return web.Response(text=document, status=page.status, content_type="text/html",
                        charset="utf-8", headers=HEADERS)


def _translator(language: str) -> Callable[..., str]:
    """Translate a msgid with its parameters and escape the result for HTML."""
    def _(msgid: str, **params: Any) -> str:
        return html.escape(translate(language, msgid, **params))
    return _


def _error_html(name: str, errors: Mapping[str, str]) -> tuple[str, str]:
    """The attributes of a field and its error line (``<name>-error``, read by screen readers)."""
    if name not in errors:
        return "", ""
    return (f' aria-invalid="true" aria-describedby="{name}-error"',
            f'<p class="error" id="{name}-error">{html.escape(errors[name])}</p>')


def password_field(name: str, label: str, errors: Mapping[str, str]) -> str:
    attributes, error = _error_html(name, errors)
    return (f'<label for="{name}">{html.escape(label)}</label>'
            f'<input type="password" id="{name}" name="{name}" autocomplete="new-password" '
            f'required{attributes}>{error}')


def checkbox_field(name: str, label: str, checked: bool, errors: Mapping[str, str],
                   text: str | None = None) -> str:
    attributes, error = _error_html(name, errors)
    note = f'<p class="fine">{html.escape(text)}</p>' if text else ""
    return (f'{note}<div class="check"><input type="checkbox" id="{name}" name="{name}" '
            f'value="yes"{" checked" if checked else ""}{attributes}> '
            f'<label for="{name}">{html.escape(label)}</label>{error}</div>')


# --------------------------------------------------------------------------- errors


class LinkRefused(Exception):
    """Ends a request with the neutral page (malformed token, bad form digest, used link)."""

    def __init__(self, status: int = 400) -> None:
        super().__init__(status)
        self.status = status


def neutral_page(status: int) -> Page:
    return Page(N_("Link not valid"), [], status=status, error=MSG_INVALID_LINK)


MSG_FULL = N_("All places of this service are taken at the moment. Please try again in a few "
              "minutes.")


def full_page(request: web.Request) -> web.Response:
    """What a browser gets when `kiosk serve` already runs its maximum of sessions."""
    response = render(Page(N_("Please try again shortly"), [], status=503, error=MSG_FULL),
                      choose_language(request))
    response.headers["Retry-After"] = "60"
    return response


@web.middleware
async def error_pages(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """No traceback ever reaches a browser: an unexpected error is one plain page (500)."""
    try:
        return await handler(request)
    except (web.HTTPException, asyncio.CancelledError):
        raise
    except Exception:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            raise
        log.exception("error answering %s", request.path.split("/")[1:2])
        return render(Page(N_("Error"), [], status=500, error=MSG_ERROR),
                      choose_language(request))


# --------------------------------------------------------------------------- the pages


class LinkPages:
    """The routes for the mailed links, bound to one backend (shared by all requests)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def routes(self) -> list[web.RouteDef]:
        Handler = Callable[..., Awaitable[Page]]
        pages: dict[str, tuple[Handler, Handler | None]] = {
            "verify": (self.verify_page, self.verify),
            "reset": (self.reset_page, self.reset),
            "confirm-email": (self.email_page, None),  # nothing to post: the code goes in the app
            "org/confirm": (self.org_confirm_page, self.org_action),
            "org/complete": (self.org_complete_page, self.org_action),
            "cancel-deletion": (self.cancel_deletion_page, self.cancel_deletion),  # #16
        }
        routes = []
        for path, (show, act) in pages.items():
            routes.append(web.get(f"/{path}/{{token:.*}}", self._handler(path, show),
                                  name=f"link-{path.replace('/', '-')}"))
            if act is not None:
                routes.append(web.post(f"/{path}/{{token:.*}}",
                                       self._handler(path, act, post=True)))
        return routes

    def _handler(self, kind: str, page: Callable[..., Awaitable[Page]], *, post: bool = False
                 ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            language = choose_language(request)
            try:
                token = request.match_info.get("token", "")
                if not TOKEN.fullmatch(token):
                    raise LinkRefused(400)
                form: Mapping[str, str] = {}
                if post:
                    try:
                        posted = await request.post()
                    except ValueError:  # a broken form body (e.g. multipart): the client's fault
                        raise LinkRefused(400) from None
                    form = {k: v for k, v in posted.items() if isinstance(v, str)}
                    if not self.backend.digester.same(form.get("csrf", ""),
                                                      self.csrf(kind, token)):
                        raise LinkRefused(400)
                result = await page(kind, token, language, form)
            except LinkRefused as refused:
                result = neutral_page(refused.status)
            except StorageUnavailable:
                result = Page(N_("Error"), [], status=503, error=MSG_UNAVAILABLE)
            except Throttled as err:
                result = Page(N_("Error"), [], status=429, error=err.message,
                              error_params=dict(err.params))
            return render(result, language)
        return handle

    # -- helpers

    def csrf(self, kind: str, token: str) -> str:
        """The form digest: bound to this link, unknown to anyone without it."""
        return self.backend.digester.digest("weblink-form", f"{kind}:{token}")

    def _sealed(self, token: str, finish: str, email: str) -> dict[str, str]:
        """The hidden completion state, sealed to this link (an edited address is refused)."""
        seal = self.backend.digester.digest("weblink-finish", f"{token}:{finish}:{email}")
        return {"finish": finish, "email": email, "seal": seal}

    def _form(self, kind: str, token: str, button: str, fields: Iterable[str] = (),
              hidden: Mapping[str, str] | None = None) -> Form:
        return Form(token=token, csrf=self.csrf(kind, token), button=button,
                    fields=list(fields), hidden=dict(hidden or {}))

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A service in a thread (hashing and database work never block the server)."""
        return await asyncio.to_thread(fn, self.backend, *args)

    def _caller(self, language: str) -> Caller:
        return Caller(terminal_id=self.backend.settings.terminal_id, language=language)

    @staticmethod
    def _field_errors(err: DomainError, names: Mapping[str, str], language: str
                      ) -> dict[str, str] | None:
        """The service's field messages under the form's field names; None when the error is
        about the link itself (then the neutral page)."""
        by_service = {service: form for form, service in names.items()}
        if not err.fields or any(f not in by_service for f in err.fields):
            return None
        return {by_service[f]: translate(language, msgid, **err.params)
                for f, msgid in err.fields.items()}

    # -- /verify

    async def verify_page(self, kind: str, token: str, language: str, form: Mapping[str, str]
                          ) -> Page:
        return Page(N_("Confirm your e-mail address"),
                    [translate(language, N_("Please confirm your e-mail address to complete "
                                            "your registration."))],
                    form=self._form(kind, token, N_("Confirm")))

    async def verify(self, kind: str, token: str, language: str, form: Mapping[str, str]
                     ) -> Page:
        try:
            result = await self._call(accounts.verify_email_link, token, self._caller(language))
        except ValidationFailed:
            raise LinkRefused(410) from None
        texts = [translate(language, result.message, **result.params)]
        texts += [translate(language, note, **result.params) for note in result.notes]
        texts.append(translate(language, MSG_LOGIN_NEXT))
        return Page(N_("E-mail address confirmed"), texts)

    # -- /reset

    async def reset_page(self, kind: str, token: str, language: str, form: Mapping[str, str],
                         errors: Mapping[str, str] | None = None, status: int = 200) -> Page:
        errors = errors or {}
        return Page(
            N_("Set a new password"),
            [translate(language, N_("Please enter your new password twice."))],
            form=self._form(kind, token, N_("Save password"), [
                password_field("new_password", translate(language, N_("New password")), errors),
                password_field("password_confirm",
                               translate(language, N_("Confirm new password")), errors),
            ]),
            status=status, error=accounts.MSG_FORM if errors else None)

    async def reset(self, kind: str, token: str, language: str, form: Mapping[str, str]
                    ) -> Page:
        password = form.get("new_password", "")
        errors = {}
        if not password:
            errors["new_password"] = translate(language, accounts.MSG_REQUIRED)
        elif form.get("password_confirm") != password:
            errors["password_confirm"] = translate(language, accounts.MSG_CONFIRM)
        if errors:
            return await self.reset_page(kind, token, language, form, errors, 422)
        try:
            result = await self._call(accounts.reset_password_link, token, password,
                                      self._caller(language))
        except ValidationFailed as err:
            found = self._field_errors(err, {"new_password": "new_password"}, language)
            if found is None:
                raise LinkRefused(410) from None
            return await self.reset_page(kind, token, language, form, found, 422)
        return Page(N_("Password changed"), [translate(language, result.message),
                                             translate(language, MSG_CLOSE)])

    # -- /cancel-deletion (#16)

    async def cancel_deletion_page(self, kind: str, token: str, language: str,
                                   form: Mapping[str, str]) -> Page:
        return Page(N_("Cancel the deletion"),
                    [translate(language, N_("Your account is waiting for its deletion. Press "
                                            "the button to keep it."))],
                    form=self._form(kind, token, N_("Cancel the deletion")))

    async def cancel_deletion(self, kind: str, token: str, language: str,
                              form: Mapping[str, str]) -> Page:
        from services import privacy

        try:
            result = await self._call(privacy.cancel_deletion_link, token,
                                      self._caller(language))
        except DomainError:
            raise LinkRefused(410) from None
        return Page(N_("Deletion cancelled"), [translate(language, result.message),
                                               translate(language, MSG_LOGIN_NEXT)])

    # -- /confirm-email

    async def email_page(self, kind: str, token: str, language: str, form: Mapping[str, str]
                         ) -> Page:
        """The change of address belongs to the logged-in session: the code goes into the app."""
        return Page(N_("Confirm your new e-mail address"), [translate(language, N_(
            "For your security, the new e-mail address is confirmed in the app: please enter "
            "the code from the e-mail in the app or at the kiosk where you requested the "
            "change, while you are logged in. This page does not change anything."))])

    # -- /org/confirm and /org/complete

    async def org_confirm_page(self, kind: str, token: str, language: str,
                               form: Mapping[str, str]) -> Page:
        return Page(N_("Confirm your registration"),
                    [translate(language, N_("Please confirm your registration for your "
                                            "company's customer account."))],
                    form=self._form(kind, token, N_("Confirm")))

    async def org_complete_page(self, kind: str, token: str, language: str,
                                form: Mapping[str, str], errors: Mapping[str, str] | None = None,
                                hidden: Mapping[str, str] | None = None, status: int = 200
                                ) -> Page:
        """Terms of use, privacy statement and password on one page (the kiosk's three steps)."""
        errors = errors or {}
        fields = [
            checkbox_field("terms", translate(language, TERMS_LABEL), form.get("terms") == "yes",
                           errors, translate(language, TERMS_TEXT)),
            checkbox_field("privacy", translate(language, PRIVACY_LABEL),
                           form.get("privacy") == "yes", errors,
                           translate(language, PRIVACY_TEXT)),
            password_field("password", translate(language, N_("Password")), errors),
            password_field("password_confirm", translate(language, N_("Confirm password")),
                           errors),
        ]
        return Page(N_("Complete your registration"),
                    [translate(language, N_("Please accept the terms of use and the privacy "
                                            "statement and set your password."))],
                    form=self._form(kind, token, N_("Complete registration"), fields, hidden),
                    status=status, error=accounts.MSG_FORM if errors else None)

    def _org_precheck(self, form: Mapping[str, str], language: str) -> dict[str, str]:
        """What can be told before the link is used (so that a typo does not use it up)."""
        msgids = {}
        if form.get("terms") != "yes":
            msgids["terms"] = organisations.MSG_TERMS
        if form.get("privacy") != "yes":
            msgids["privacy"] = organisations.MSG_PRIVACY
        password = form.get("password", "")
        problems = check_password(password)
        if problems:
            msgids["password"] = problems[0]
        elif form.get("password_confirm") != password:
            msgids["password_confirm"] = accounts.MSG_CONFIRM
        return {name: translate(language, msgid) for name, msgid in msgids.items()}

    async def org_action(self, kind: str, token: str, language: str, form: Mapping[str, str]
                         ) -> Page:
        """Redeem the link (once), then — for a completion — terms, privacy and password."""
        finish, email = form.get("finish", ""), form.get("email", "")
        if finish and not self.backend.digester.same(
                form.get("seal", ""), self._sealed(token, finish, email)["seal"]):
            raise LinkRefused(400)
        wants_completion = "password" in form
        if wants_completion:
            errors = self._org_precheck(form, language)
            if errors:
                return await self.org_complete_page(
                    kind, token, language, form, errors,
                    self._sealed(token, finish, email) if finish else None, 422)
        if not finish:
            try:
                result = await self._call(organisations.redeem_link, token,
                                          self._caller(language))
            except ValidationFailed:
                raise LinkRefused(410) from None
            if result.stage == "waiting":
                return Page(N_("Registration confirmed"),
                            [translate(language, result.message, **result.params)])
            finish, email = result.finish or "", result.email
            if not wants_completion:
                return await self.org_complete_page(kind, token, language, form, None,
                                                    self._sealed(token, finish, email))
        return await self._org_complete(kind, token, language, form, finish, email)

    async def _org_complete(self, kind: str, token: str, language: str,
                            form: Mapping[str, str], finish: str, email: str) -> Page:
        data = {"terms": form.get("terms") == "yes", "privacy": form.get("privacy") == "yes",
                "password": form.get("password", ""),
                "password_confirm": form.get("password_confirm", "")}
        hidden = self._sealed(token, finish, email)
        try:
            result = await self._call(organisations.complete_registration, email, finish, data,
                                      self._caller(language))
        except ValidationFailed as err:
            found = self._field_errors(err, ORG_FIELDS, language)
            if found is None:
                raise LinkRefused(410) from None
            return await self.org_complete_page(kind, token, language, form, found, hidden, 422)
        except DomainError as err:  # the finish step took longer than allowed
            return Page(N_("Link not valid"), [], status=410, error=err.message,
                        error_params=dict(err.params))
        return Page(N_("Registration complete"),
                    [translate(language, result.message, **result.params),
                     translate(language, MSG_LOGIN_NEXT)])
