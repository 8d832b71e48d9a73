"""One file given on its own, e.g. an image a victim received and forwarded to her case worker."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Iterator

from jikimi.limits import Limits
from jikimi.sources.base import Locator, SourceEntry
from jikimi.sources.folder import open_file


class SingleFileSource:
    kind = "file"

    def __init__(self, path: Path, limits: Limits = Limits()):
        self.path = path
        self.limits = limits

    def entries(self) -> Iterator[SourceEntry]:
        yield SourceEntry(0, Locator(path=self.path.name), partial(open_file, self.path, self.limits))
