"""The CLI's two consoles, with Rich markup switched off.

Case titles, chat names, file names and error messages come from users and from abusers'
exports: a case titled `[/]` once made every `jikimi case list` crash, and `[link=…]` was
obeyed. With markup off, every string is printed as it is; colour is given explicitly with
`labelled` (or `style=`), never by tags inside text.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)


def labelled(label: str, style: str, text: object = "") -> Text:
    """`label` in `style`, then `text` as it is (e.g. a red "error:" and the message)."""
    return Text.assemble((label, style), " " if text != "" else "", str(text))
