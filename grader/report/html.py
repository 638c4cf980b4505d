"""The Jinja2 environment every HTML page of ours is rendered with: templates beside this
file, autoescape on with html.escape's entities, text UTF-8 cannot write escaped (lone
surrogates), undefined names an error."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def _environment():
    import html

    import jinja2
    from markupsafe import Markup

    from .text import encodable

    def escape(value):      # html.escape's entities, as every other page of ours writes them
        return value if isinstance(value, Markup) else Markup(html.escape(encodable(value), quote=True))

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE)), autoescape=True, finalize=escape,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined)


def render(template: str, **context) -> str:
    """`template` (a file beside this module) rendered with `context`; every value from the
    context is escaped unless it is markupsafe.Markup."""
    return _environment().get_template(template).render(**context)


def stylesheet(name: str) -> str:
    """A CSS file beside this module, to inline in a self-contained page."""
    return (HERE / name).read_text(encoding="utf-8")
