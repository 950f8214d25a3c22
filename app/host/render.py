"""Render web/templates/*.html with jinja2."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from app.engines import page_choices


def render_templates(templates_dir: Path, site: dict) -> dict[str, str]:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    # The page reads its configuration from a JSON <script> block; "</" is escaped so no value
    # can close that block early.
    site_json = json.dumps(site, sort_keys=True).replace("</", "<\\/")
    out = {}
    for path in sorted(templates_dir.glob("*.html")):
        if path.name.startswith("_"):
            continue  # partials
        out[path.name] = env.get_template(path.name).render(site=site, site_json=site_json, engines=page_choices())
    return out
