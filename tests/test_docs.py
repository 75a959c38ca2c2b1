"""The API's documentation works offline and under the Content-Security-Policy.

- Swagger UI (``/api/docs/``) and ReDoc (``/api/redoc/``) load only this service's own scripts
  and styles (drf-spectacular-sidecar, served by WhiteNoise with DEBUG off): no CDN, which
  closed networks (LGWAN) block.
- Every HTML page (admin, docs, the report's HTML, error pages) carries a
  Content-Security-Policy without inline scripts or framing; the JSON API answers as before.
- The schema is generated once per process, then served from memory.
- In headless Chromium with every other host unreachable, both viewers render the API's
  operations without a single CSP violation (skipped without chromium and chromedriver).
"""

import re
import time
from unittest import mock

import pytest
import yaml
from django.test import RequestFactory
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.views import SpectacularAPIView

from dxapi.schema_view import clear_schema_cache
from tests.browser import chromium

REPORT_HTML = "/api/v1/reports/yearly/?plan=akita-dx&fiscal_year=R6&format=html"
SIDECAR = "/static/drf_spectacular_sidecar/"
STATIC_FILES = {
    "swagger-ui-dist/swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-dist/swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui-dist/swagger-ui.css": "text/css",
    "swagger-ui-dist/favicon-32x32.png": "image/png",
    "redoc/bundles/redoc.standalone.js": "text/javascript",
}


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    header = response.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def inline_scripts(html: str) -> list[str]:
    """<script> tags that run inline code (JSON data blocks are not code)."""
    return [
        tag
        for tag in re.findall(r"<script\b[^>]*>", html)
        if "src=" not in tag and "application/json" not in tag
    ]


# -- Offline: only same-origin resources, served with DEBUG off -------------------------------


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_only_same_origin_resources(client, url) -> None:
    response = client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    resources = re.findall(r"""(?:src|href)=["']([^"']*)["']""", html)
    assert resources
    for resource in resources:
        assert resource.startswith("/") and not resource.startswith("//"), resource
    assert not re.search(r"cdn\.jsdelivr\.net|unpkg\.com|googleapis|https?://", html)
    assert inline_scripts(html) == []
    assert SIDECAR in html


def test_swagger_ui_init_script_is_a_same_origin_url(client) -> None:
    html = client.get("/api/docs/").content.decode()
    (script_url,) = re.findall(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', html)

    script = client.get(script_url.replace("&amp;", "&"))

    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    body = script.content.decode()
    assert "SwaggerUIBundle(" in body and '"/api/schema/"' in body
    assert not re.search(r"cdn\.jsdelivr\.net|unpkg\.com", body)


def test_redoc_keeps_images_from_elsewhere_out_with_a_same_origin_script(client) -> None:
    html = client.get("/api/redoc/").content.decode()
    scripts = re.findall(r'<script src="([^"]*)"', html)
    assert scripts == ["/api/redoc/?script", SIDECAR + "redoc/bundles/redoc.standalone.js"]

    script = client.get(scripts[0])

    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "HTMLImageElement" in script.content.decode()


@pytest.mark.parametrize(("path", "content_type"), STATIC_FILES.items())
def test_sidecar_static_files_are_served_with_debug_off(client, settings, path, content_type):
    assert settings.DEBUG is False  # production: WhiteNoise, not runserver, serves them

    response = client.get(SIDECAR + path)

    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == content_type
    assert int(response["Content-Length"]) > 500
    assert b"".join(response.streaming_content)[:1] not in (b"", b"<")


def test_unknown_static_files_are_404(client) -> None:
    assert client.get(SIDECAR + "swagger-ui-dist/nothing.js").status_code == 404


# -- Content-Security-Policy -----------------------------------------------------------------


def assert_strict_policy(response) -> None:
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["script-src"] == ["'self'"]  # no inline script, no eval, no CDN
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/admin/login/", 200),
        ("/api/docs/", 200),
        ("/api/redoc/", 200),
        (REPORT_HTML, 200),
        ("/no-such-page/", 404),
    ],
)
def test_html_pages_carry_the_policy(client, plan, url, status) -> None:
    response = client.get(url)

    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert_strict_policy(response)
    assert inline_scripts(response.content.decode()) == []


def test_admin_pages_carry_the_policy_and_render(admin_client, plan) -> None:
    for url in ("/admin/", "/admin/evaluations/evaluation/", "/admin/initiatives/initiative/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_strict_policy(response)
        assert inline_scripts(response.content.decode()) == [], url


def test_report_html_still_renders_its_chart_and_styles(client, plan) -> None:
    response = client.get(REPORT_HTML)

    html = response.content.decode()
    assert html.count("<svg") == 1 and "<style>" in html
    # The report's <style> block and the chart need inline styles, nothing else.
    assert "'unsafe-inline'" in policy(response)["style-src"]


def test_only_redoc_may_start_a_blob_worker(client) -> None:
    assert policy(client.get("/api/redoc/"))["worker-src"] == ["'self'", "blob:"]
    assert "worker-src" not in policy(client.get("/api/docs/"))


def test_json_api_is_unaffected(client, plan) -> None:
    response = client.get("/api/v1/plans/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert [item["code"] for item in response.json()["results"]] == ["akita-dx"]
    # The policy on a JSON body is harmless to API clients and keeps it from being framed.
    assert policy(response)["frame-ancestors"] == ["'none'"]
    assert client.get("/api/v1/no-such-thing/").json()["errors"][0]["code"] == "not_found"


# -- The schema from the per-process cache ---------------------------------------------------


@pytest.fixture
def generations():
    """Counts SchemaGenerator.get_schema calls; the schema cache starts empty."""
    clear_schema_cache()
    calls = []
    original = SchemaGenerator.get_schema

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    with mock.patch.object(SchemaGenerator, "get_schema", counting):
        yield calls
    clear_schema_cache()


def test_schema_second_request_is_served_from_the_cache(client, generations) -> None:
    first = client.get("/api/schema/")
    assert len(generations) == 1
    started = time.perf_counter()
    second = client.get("/api/schema/")
    elapsed = time.perf_counter() - started

    assert len(generations) == 1  # not generated again
    assert elapsed < 0.2
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]
    assert second["Content-Type"].startswith("application/vnd.oai.openapi")
    assert second["Content-Disposition"] == first["Content-Disposition"]
    assert "Accept" in second["Vary"]
    schema = yaml.safe_load(second.content)
    assert "/api/v1/plans/" in schema["paths"]

    # Byte for byte what drf-spectacular's own view answers.
    request = RequestFactory().get("/api/schema/")
    uncached = SpectacularAPIView.as_view()(request)
    uncached.render()
    assert uncached.content == first.content
    assert uncached["Content-Type"] == first["Content-Type"]


def test_schema_is_cached_per_format_and_language(client, generations) -> None:
    yaml_body = client.get("/api/schema/").content
    json_response = client.get("/api/schema/?format=json")
    english = client.get("/api/schema/?lang=en")
    assert len(generations) == 3

    assert json_response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json_response.json()["openapi"].startswith("3.")
    assert client.get("/api/schema/?format=json").content == json_response.content
    assert client.get("/api/schema/?lang=en").content == english.content
    assert client.get("/api/schema/").content == yaml_body
    assert len(generations) == 3


def test_unusual_schema_requests_are_answered_but_not_kept(client, generations) -> None:
    client.get("/api/schema/?lang=xx-unknown")
    client.get("/api/schema/?lang=xx-unknown")
    assert len(generations) == 2  # an unbounded set of keys is not cached


# -- In a real browser, offline --------------------------------------------------------------


# Recorded from the first script on: every CSP violation of the page, whatever the console says.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
def browser():
    driver = chromium(
        # Offline: no host but the live server's resolves (as on a closed network).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--no-first-run",
        capabilities={"goog:loggingPrefs": {"browser": "ALL"}},
    )
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    yield driver
    driver.quit()


def assert_no_csp_violation(browser) -> None:
    assert browser.execute_script("return window.__cspViolations") == []
    console = [entry["message"] for entry in browser.get_log("browser")]
    assert not [line for line in console if "Content Security Policy" in line], console


def test_swagger_ui_renders_offline_without_csp_violations(browser, live_server) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{live_server.url}/api/docs/")
    WebDriverWait(browser, 60).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, ".opblock")
    )

    paths = {
        element.get_attribute("data-path")
        for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    }
    assert "/api/v1/plans/" in paths
    assert browser.find_elements(By.CSS_SELECTOR, ".opblock-get")
    assert_no_csp_violation(browser)


def test_redoc_renders_offline_without_csp_violations(browser, live_server) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{live_server.url}/api/redoc/")
    WebDriverWait(browser, 60).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']")
    )

    assert "/api/v1/plans/" in browser.find_element(By.TAG_NAME, "body").text
    assert_no_csp_violation(browser)
