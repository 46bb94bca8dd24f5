"""``/docs`` and ``/redoc`` with no internet: Swagger UI and ReDoc from an installed package.

FastAPI's own pages load their scripts from a CDN (and ReDoc a Google font), which a plant
network without internet never reaches. The ``fastapi-offline`` distribution ships the
Swagger UI and ReDoc bundles; they are served from our own origin under
``/static-docs``, and the pages ask for nothing else.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static-docs"
_LOCAL_ONLY = "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:"
_NO_BADGE = '<style>a[href*="redocly.com"], a[href*="redoc.ly"] { display: none; }</style>'


def assets_dir() -> Path:
    """Where the installed package keeps ``swagger-ui-bundle.js``, its CSS and ReDoc."""
    return Path(str(files("fastapi_offline") / "static"))


def install_offline_docs(
    app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc"
) -> None:
    """Add the documentation pages to ``app`` (built with ``docs_url=redoc_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = f"{docs_url}/oauth2-redirect"

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} API",
            oauth2_redirect_url=oauth2_redirect,
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            # the online validator badge would call validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} API reference",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        # ReDoc's "powered by" badge loads its logo from redocly's CDN, whatever the
        # options: the badge is hidden and the policy keeps the browser from asking
        html = bytes(page.body).decode().replace("</head>", f"{_NO_BADGE}</head>", 1)
        return HTMLResponse(html, headers={"Content-Security-Policy": _LOCAL_ONLY})
