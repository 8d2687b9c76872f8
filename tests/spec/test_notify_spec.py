"""`notify:` entries: defaults, profiles, mistakes with file and line, and URL passwords
as secrets (also in URLs whose query holds an ``@``)."""

from __future__ import annotations

import pytest

from orecart.errors import SpecError
from orecart.model import RunOutcome
from orecart.secrets import hide_userinfo, url_secrets
from orecart.spec import load_pipeline
from tests.spec.conftest import Write


def test_notify_entries_with_their_outcomes_and_the_default(write: Write) -> None:
    path = write("""
        notify:
          - url: "mailtos://ops:${SMTP_PW}@smtp.example.org:587?to=team@example.org"
          - {url: "json://hooks.example.org/orecart", on: [succeeded, cancelled]}
          - {url: "form://hooks.example.org/x", on: invalid}
        profiles:
          quiet: {notify: []}
        members:
          - {name: a, run: ["true"]}
    """)
    pipeline = load_pipeline(path, environ={"SMTP_PW": "mail-pw-123"})
    mail, hook, form = pipeline.notify
    assert mail.on == {RunOutcome.FAILED, RunOutcome.INVALID}
    assert mail.url == "mailtos://ops:mail-pw-123@smtp.example.org:587?to=team@example.org"
    assert hook.on == {RunOutcome.SUCCEEDED, RunOutcome.CANCELLED}
    assert form.on == {RunOutcome.INVALID}
    assert "mail-pw-123" in pipeline.secret_values  # redacted wherever it would show
    assert "mail-pw-123" not in repr(mail)
    quiet = load_pipeline(path, profile="quiet", environ={"SMTP_PW": "mail-pw-123"})
    assert quiet.notify == ()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('{url: "not a url"}', ":2:11: notify[0].url: 'not a url' is not an apprise URL"),
        ('{url: "json://h/x", on: [failed, broke]}', ":2:38: notify[0].on[1]: 'broke' is not"),
        ('{uri: "json://h/x"}', ":2:6: notify[0]: unknown key 'uri'; did you mean 'url'?"),
        ('{on: [failed]}', ":2:5: notify[0]: "),  # url missing
    ],
)
def test_notify_mistakes_name_file_line_and_field(write: Write, entry: str, expected: str) -> None:
    path = write(f'notify:\n  - {entry}\nmembers:\n  - {{name: a, run: ["true"]}}\n')
    with pytest.raises(SpecError) as caught:
        load_pipeline(path, environ={})
    assert str(caught.value).startswith(f"{path}{expected}"), str(caught.value)


def test_url_passwords_are_found_in_user_info_and_secret_query_values() -> None:
    url = "mailtos://me:pw-one@smtp.example.org?to=a@example.org&pass=pw-two&user=me"
    assert url_secrets(url) == {"pw-one", "pw-two"}
    assert url_secrets("json://h/x?token=tok-three") == {"tok-three"}


def test_a_query_with_an_at_sign_is_not_read_as_user_info() -> None:
    # the old pattern took "127.0.0.1:2525?to=ops" for user and password
    url = "mailto://127.0.0.1:2525?to=ops@example.org"
    assert hide_userinfo(url) == url
    assert url_secrets(url) == set()
    assert hide_userinfo("x://u:pw@h/?a=b@c") == "x://u:***@h/?a=b@c"
