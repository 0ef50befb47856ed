"""Sign-in, roles per page and action, and the person on record, for the whole dashboard.

With no user in the users file (``python -m riskcore users add`` makes the first) the dashboard runs as one
local user with every role and no sign-in, and the sidebar says so; its audit rows name the caller
``dashboard``, as there is no person to name. With at least one user, :func:`gate` shows the sign-in form and
nothing else until someone signs in; the navigation then lists only the pages their role opens.

Every check runs on the server, on every run: ``require_page`` at the top of each page file (a page opened by
its URL without the role shows which role it needs and nothing else), :func:`allowed` before an action's
button is drawn and :func:`check` again when it runs. The session state holds one signed token
(:class:`riskcore.identity.SessionSigner`) and no role: the role is read from the users file for the name the
token proves, so an edited session state cannot raise it, and a removed user is signed out on the next click.
Sign-ins, sign-outs, idle timeouts and refusals go to the audit trail (``AuditLog.record_access``). What each role
opens is the engine's one role table (:mod:`riskcore.identity`); where the users, the session key and the idle time
are comes from :class:`riskcore.identity.IdentitySettings`, built once per server process.

Single sign-on lives in :mod:`dashboard.sso`; this module calls ``current_sso_user() -> tuple[str, str] | None``
(the signed-in user's name and riskcore role), ``sso_configured() -> bool`` (sign-in is required even without a
users file), ``sso_sign_in_button() -> None`` (drawn under the sign-in form) and ``sso_sign_out() -> None``. An
SSO session gets the same signed token, so its sign-in, idle timeout and sign-out are recorded like a password
session's; its role comes from the claim.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, cast

import streamlit as st

from dashboard import sso, state
from riskcore.errors import RiskcoreError
from riskcore.identity import (
    ACTIONS,
    PAGES,
    USER_ROLES,
    Action,
    IdentitySettings,
    Role,
    SessionSigner,
    UserStore,
    can_do,
    can_open,
)
from riskcore.workbench import AccessEvent, AccessEventKind, AuditLog

# the only session-state entry about the person: the signed token
TOKEN = "riskcore_session"
# a message for the sign-in form after a session ended (timeout, removed user)
NOTICE = "riskcore_session_notice"
PASSWORD = "sign_in_password"
LOCAL_HINT = "single local user — no sign-in; add users with `python -m riskcore users add`"


@dataclass(frozen=True)
class Person:
    """Who uses this session: a signed-in user, or the single local user (``local``, every role)."""

    name: str
    role: Role
    local: bool = False

    @property
    def caller(self) -> str:
        """The audit trail's caller for what this person does: ``dashboard:<name>``, or ``dashboard`` when local."""
        return "dashboard" if self.local else f"dashboard:{self.name}"


LOCAL = Person("local", "admin", local=True)
REMOTE_WITHOUT_USERS = ("This dashboard has no users yet, so it serves only the machine it runs on (every role, "
                        "no sign-in). Open it there, or add users with `python -m riskcore users add NAME --role "
                        "ROLE` to sign in from elsewhere.")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def from_this_machine() -> bool:
    """Whether the browser of this session is on the machine the dashboard runs on.

    A second line of defence: ``scripts/run`` already binds a dashboard without users to 127.0.0.1.
    Streamlit gives no address (``None``) for a browser on ``localhost``, and an address it can
    name only for a remote one (a test session has none either).
    """
    address = getattr(st.context, "ip_address", None)
    if not isinstance(address, str) or not address:
        return True
    return address in _LOOPBACK or address.startswith("127.")


@st.cache_resource(show_spinner=False)
def identity() -> IdentitySettings:
    """The identity settings of the dashboard's settings, built once per server process."""
    return IdentitySettings.from_settings(state.settings())


@st.cache_resource(show_spinner=False)
def _users(path: str) -> UserStore:
    """The users file at ``path`` (it re-reads itself when it changes)."""
    return UserStore(path)


@st.cache_resource(show_spinner=False)
def _signer(key_path: str) -> SessionSigner:
    """The session signer with the key at ``key_path``."""
    return SessionSigner(key_path)


@st.cache_resource(show_spinner=False)
def _audit(url: str) -> AuditLog:
    """The audit trail the access events go to (one per audit URL)."""
    return AuditLog.from_settings(state.settings())


def users() -> UserStore:
    """The users of the identity settings' users file."""
    return _users(str(identity().users_file))


def signer() -> SessionSigner:
    """The signer of the session tokens, with the identity settings' session key."""
    return _signer(str(identity().session_key_file))


def idle_minutes() -> float:
    """Minutes without a click after which a session ends (setting ``session_idle_minutes``, 30 by default)."""
    return float(identity().idle_minutes)


def record(event: AccessEventKind, user: str, detail: str) -> str:
    """Chain an access event onto the audit trail; the error's message when it cannot be written, else ``""``."""
    try:
        s = state.settings()
        _audit(s.resolved_audit_url).record_access(AccessEvent(event, user[:64] or "unknown", detail))
    except RiskcoreError as err:
        return str(err)
    return ""


def _sso_person() -> Person | None:
    """The user signed in through single sign-on, when their claim maps to a riskcore role."""
    found = sso.current_sso_user()
    if found is None or found[1] not in USER_ROLES:
        return None
    return Person(found[0], cast(Role, found[1]))


def sign_in_required() -> bool:
    """Whether anyone must sign in: there is a user in the users file, or single sign-on is configured."""
    return users().has_users() or sso.sso_configured()


def _from_token(token: object, sso_user: Person | None) -> tuple[Person | None,
                                                               Literal["", "invalid", "removed", "idle"], str]:
    """The person a token proves (role from the users file or the SSO claim), or why not, and the name it claims."""
    session = signer().verify(token)
    if session is None:
        return None, "invalid", ""
    by_sso = sso_user is not None and sso_user.name == session.user
    role = sso_user.role if by_sso and sso_user is not None else users().role_of(session.user)
    if role is None:
        return None, "removed", session.user
    if session.idle_seconds() > idle_minutes() * 60:
        return None, "idle", session.user
    return Person(session.user, role), "", session.user


@contextmanager
def _fail_closed() -> Iterator[None]:
    """A users file or session key that cannot be read shows its message and nothing else (never a page)."""
    try:
        yield
    except RiskcoreError as err:
        st.error(f"Sign-in cannot be checked, so nothing is shown: {err}", icon=":material/lock:")
        st.stop()


def current() -> Person | None:
    """The person of this session, checked now (the single local user when nobody signs in), or ``None``."""
    with _fail_closed():
        if not sign_in_required():
            return LOCAL
        token = st.session_state.get(TOKEN)
        return None if token is None else _from_token(token, _sso_person())[0]


def _ended(why: str, name: str) -> None:
    """A session token no longer holds: record why, forget it, and say so above the sign-in form."""
    st.session_state.pop(TOKEN, None)
    if why == "idle":
        problem = record("timeout", name, f"dashboard session idle for more than {idle_minutes():g} minutes")
        notice = f"Your session ended after {idle_minutes():g} minutes without activity; sign in again."
    elif why == "removed":
        problem = record("denied", name, "dashboard session of a user no longer in the users file")
        notice = f"The user {name!r} no longer exists; sign in as another user."
    else:
        problem = record("denied", "unknown", "dashboard session token that does not verify")
        notice = "Your session could not be verified; sign in again."
    st.session_state[NOTICE] = f"{notice} {problem}".strip()


def gate() -> Person:
    """Before the navigation: the person of this session, or the sign-in form and nothing else.

    A valid token is issued anew, so the idle time counts from this run.
    """
    with _fail_closed():
        if not sign_in_required():
            if not from_this_machine():
                st.error(REMOTE_WITHOUT_USERS)
                st.stop()
            return LOCAL
        token, sso_user = st.session_state.get(TOKEN), _sso_person()
        person, why, name = (None, "", "") if token is None else _from_token(token, sso_user)
        if person is not None:
            st.session_state[TOKEN] = signer().issue(person.name)
            return person
    with _fail_closed():
        if token is not None:
            _ended(why, name)
            if why == "idle" and sso_user is not None:
                sso.sso_sign_out()
        elif sso_user is not None and _start(sso_user, "dashboard single sign-on"):
            return sso_user
        _sign_in_form()
    st.stop()


def _start(person: Person, detail: str) -> bool:
    """Record a sign-in and issue the session's token; a sign-in the audit trail cannot record is refused."""
    problem = record("sign_in", person.name, detail)
    if problem:
        st.error(f"Signing in is recorded in the audit trail, which cannot be written now, so you are not signed "
                 f"in: {problem}")
        return False
    st.session_state[TOKEN] = signer().issue(person.name)
    return True


def _sign_in_form() -> None:
    """The form, and the sign-in when it is sent."""
    st.title("Sign in to riskcore")
    if NOTICE in st.session_state:
        st.info(st.session_state.pop(NOTICE), icon=":material/schedule:")
    with st.form("sign_in_form"):
        name = st.text_input("User name", key="sign_in_name", autocomplete="username")
        password = st.text_input("Password", type="password", key=PASSWORD, autocomplete="current-password")
        sent = st.form_submit_button("Sign in", type="primary", key="sign_in_submit")
    if sent:
        _sign_in(name.strip(), password)
    sso.sso_sign_in_button()


def _sign_in(name: str, password: str) -> None:
    """Check the password; record the sign-in (or the refusal); a sign-in that cannot be recorded is refused."""
    user = users().authenticate(name, password)
    if user is None:
        problem = record("denied", name, "dashboard sign-in refused: wrong user name or password")
        st.error(f"Wrong user name or password. {problem}".strip())
        return
    if _start(Person(user.name, user.role), "dashboard"):
        st.session_state.pop(PASSWORD, None)
        st.rerun()


def sign_out(person: Person) -> None:
    """End the session on record; the sign-in form follows."""
    problem = record("sign_out", person.name, "dashboard")
    st.session_state.pop(TOKEN, None)
    if _sso_person() is not None:
        sso.sso_sign_out()
    if problem:
        st.session_state[NOTICE] = f"You are signed out, but the audit trail could not record it: {problem}"
    st.rerun()


def sidebar(person: Person) -> None:
    """Who is signed in with which role, and the sign-out button; or that the dashboard has a single local user."""
    with st.sidebar:
        if person.local:
            st.caption(LOCAL_HINT.capitalize(), help="With at least one user, every page asks for a sign-in and "
                       "each role opens its own pages.")
            return
        st.caption(f"Signed in as **{person.name}** · {person.role}")
        if st.button("Sign out", key="sign_out", icon=":material/logout:"):
            sign_out(person)


def visibility(person: Person, page: str) -> Literal["visible", "hidden"]:
    """Whether the navigation lists ``pages/<page>.py`` for this person (hidden pages still answer their URL)."""
    return "visible" if can_open(person.role, page) else "hidden"


def require_page(page: str) -> Person:
    """The first line of every page: the person, or a message and nothing else when they may not open it.

    Raises
    ------
    streamlit's stop exception
        Through ``st.stop()``, when nobody is signed in or the role does not open the page.
    """
    person = current()
    if person is None:
        st.info("Sign in first: open the dashboard's home page.", icon=":material/login:")
        st.stop()
    if not can_open(person.role, page):
        needed = PAGES[page]
        problem = record("denied", person.name, f"dashboard page {page} needs role {needed}, user has {person.role}")
        st.error(f"You need role {needed} to open this page; you are signed in as {person.name} with role "
                 f"{person.role}. Ask an administrator for the role. {problem}".strip(), icon=":material/lock:")
        st.stop()
    return person


def allowed(action: Action) -> bool:
    """Whether this session's person may do ``action`` now (to decide whether its button is drawn)."""
    person = current()
    return person is not None and can_do(person.role, action)


def check(action: Action) -> Person | None:
    """Just before an action runs: the person when they may do it, else ``None`` after recording the refusal."""
    person = current()
    if person is not None and can_do(person.role, action):
        return person
    name = "unknown" if person is None else person.name
    problem = record("denied", name, f"dashboard action {action} needs role {ACTIONS[action]}")
    st.error(f"You need role {ACTIONS[action]} to do this. {problem}".strip(), icon=":material/lock:")
    return None
