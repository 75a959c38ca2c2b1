"""The request headers that authenticate a role of the fuzz run, checked before use.

    credentials.py BASE_URL CONTEXT_JSON ROLE  ->  one "Name: value" line per header

API keys go in ``Authorization: Api-Key …``. Users sign in through the admin's login page,
as the README says, and send what a browser sends with session auth and CSRF: the session and
CSRF cookies, ``X-CSRFToken`` and a same-origin ``Referer``. The cookies are Secure (DEBUG is
off), so they are read from the responses and sent by hand over the plain-HTTP loopback.

Before printing, the headers are tried: the role must read exactly what it should of its
department's open-round evaluation (the public: nothing), and a user's unsafe request must get
past CSRF. A role that is not what it claims would make the whole run meaningless, so any
mismatch exits non-zero.
"""

import json
import re
import sys

import requests

KEY_ROLES = {"read_key", "rw_key", "bound_key"}
USER_ROLES = {"viewer", "editor", "secretariat"}
PUBLIC_ROLES = {"anonymous", "read_key"}


def login(base: str, username: str, password: str) -> dict[str, str]:
    url = f"{base}/admin/login/"
    page = requests.get(url, timeout=30, allow_redirects=False)
    page.raise_for_status()
    csrf_cookie = page.cookies["csrftoken"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = requests.post(
        url,
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token,
            "next": "/admin/",
        },
        headers={"Cookie": f"csrftoken={csrf_cookie}", "Referer": url},
        timeout=30,
        allow_redirects=False,
    )
    if response.status_code != 302 or "sessionid" not in response.cookies:
        raise SystemExit(f"login of {username} failed: {response.status_code}")
    csrf_cookie = response.cookies.get("csrftoken", csrf_cookie)  # the login rotates it
    return {
        "Cookie": f"sessionid={response.cookies['sessionid']}; csrftoken={csrf_cookie}",
        "X-CSRFToken": csrf_cookie,
        "Referer": f"{base}/",
    }


def headers_for(base: str, context: dict, role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    if role in KEY_ROLES:
        return {"Authorization": f"Api-Key {context['keys'][role]}"}
    if role in USER_ROLES:
        return login(base, context["users"][role], context["password"])
    raise SystemExit(f"unknown role {role!r}")


def verify(base: str, context: dict, role: str, headers: dict[str, str]) -> None:
    evaluation = context["own_r7_evaluations"][0]
    url = f"{base}/api/v1/evaluations/{evaluation}/"
    read = requests.get(url, headers=headers, timeout=30)
    expected = 404 if role in PUBLIC_ROLES else 200
    if read.status_code != expected:
        raise SystemExit(
            f"{role}: GET {url} answered {read.status_code}, expected {expected}: "
            "the credentials are not those of the role"
        )
    if role in USER_ROLES:
        # Without If-Match a write that passed CSRF and authentication is refused with 428
        # (editor, secretariat) or 403 permission_denied (viewer); CSRF's refusal says "CSRF".
        write = requests.post(f"{url}submit/", headers=headers, timeout=30)
        if "CSRF" in write.text or write.status_code == 401:
            raise SystemExit(f"{role}: unsafe request refused by CSRF/auth: {write.text[:200]}")


def main(base: str, context_path: str, role: str) -> None:
    with open(context_path, encoding="utf-8") as file:
        context = json.load(file)
    headers = headers_for(base, context, role)
    verify(base, context, role, headers)
    for name, value in headers.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
