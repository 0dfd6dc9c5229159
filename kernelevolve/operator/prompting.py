"""Renders the operator's prompts from the Jinja2 templates in operator/prompts/ (shipped as package data).

Templates use StrictUndefined: a template naming a field the context lacks fails loudly at render
time instead of sending the model an empty section.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jinja2

from kernelevolve.operator.context import Context
from kernelevolve.operator.protocols import Snippet

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Prompt:
    """A rendered request: system message and user prompt."""

    system: str
    user: str


class PromptRenderer:
    """Renders system.j2 plus expand.j2 (a parent to improve) or draft.j2 (no kernel yet)."""

    def __init__(self, directory: Path = PROMPTS_DIR) -> None:
        self._env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(directory)),
                                       undefined=jinja2.StrictUndefined, trim_blocks=True,
                                       lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)

    def expand(self, ctx: Context, snippets: list[Snippet]) -> Prompt:
        """Returns the prompt asking to improve (or fix) the context's parent."""
        return Prompt(system=self._render("system.j2", platform=ctx.platform),
                      user=self._render("expand.j2", ctx=ctx, snippets=snippets))

    def draft(self, *, task: str, description: str, platform: str, reference: str,
              snippets: list[Snippet]) -> Prompt:
        """Returns the prompt asking for a first kernel from the reference."""
        return Prompt(system=self._render("system.j2", platform=platform),
                      user=self._render("draft.j2", task=task, description=description, reference=reference,
                                        snippets=snippets))

    def _render(self, name: str, **values: Any) -> str:
        return self._env.get_template(name).render(**values)
