"""`/api/v1/docs`: the API's OpenAPI document in Swagger UI, served from the package.

The assets come from the `swagger-ui-bundle` distribution installed with cix, never from a
CDN: a node on a closed network shows its documentation all the same, and a page of the node
loads no script from elsewhere. The page has no inline script (the start-up is a file of
its own), under a Content-Security-Policy that allows scripts from the node alone.

Not an API route (it lives outside `cix.api.routes`, whose every route is in the OpenAPI
document and needs a token): a page about the API, public like the document it shows.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

#: The Swagger UI files a page needs, by name (nothing else of the directory is served).
_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _assets() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def _page(openapi_url: str, base: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cix node API</title>
<link rel="stylesheet" href="{base}/swagger-ui.css">
<link rel="icon" type="image/png" href="{base}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{base}/swagger-ui-bundle.js"></script>
<script src="{base}/init.js"></script>
</body>
</html>
"""


_INIT = """\
const node = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({ url: node.dataset.openapiUrl, dom_id: "#swagger-ui" });
"""


def install(prefix: str, openapi_url: str) -> APIRouter:
    """The docs routes under `prefix` (e.g. `/api/v1`), showing `openapi_url`."""
    router = APIRouter(include_in_schema=False)
    base = f"{prefix}/docs/assets"
    headers = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"}

    @router.get(f"{prefix}/docs")
    def docs_page() -> HTMLResponse:
        return HTMLResponse(_page(openapi_url, base), headers=headers)

    @router.get(f"{base}/init.js")
    def docs_init() -> Response:
        return Response(_INIT, media_type="text/javascript", headers=headers)

    @router.get(f"{base}/{{name}}")
    def docs_asset(name: str) -> FileResponse:
        media_type = _ASSETS.get(name)
        if media_type is None:
            raise HTTPException(status_code=404)
        return FileResponse(_assets() / name, media_type=media_type, headers=headers)

    return router
