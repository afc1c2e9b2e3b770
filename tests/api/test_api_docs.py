"""Issue 14 #5: `/api/v1/docs` answers with Swagger UI served from the package (no CDN, no
inline script), over the node's own OpenAPI document."""

from __future__ import annotations

import re

from tests.node_support import ApiClient


def test_docs_page_loads_only_the_nodes_own_assets(api: ApiClient) -> None:
    page = api.as_(None).get("/api/v1/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(s.startswith("/api/v1/docs/assets/") for s in sources), sources
    # no inline script: every <script> has a src and no body
    assert re.findall(r"<script[^>]*>([^<]*)</script>", page.text) == ["", ""]
    assert 'data-openapi-url="/api/v1/openapi.json"' in page.text
    for source in sources:
        asset = api.as_(None).get(source)
        assert asset.status_code == 200, source
        assert asset.headers["x-content-type-options"] == "nosniff"
    bundle = api.as_(None).get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text
    assert api.as_(None).get("/api/v1/openapi.json").json()["paths"]


def test_docs_serve_no_other_file_of_the_bundle_or_beyond(api: ApiClient) -> None:
    for name in ("index.html", "swagger-ui.js.map", "..%2F..%2F__init__.py", "%2e%2e"):
        assert api.as_(None).get(f"/api/v1/docs/assets/{name}").status_code in (400, 404)
