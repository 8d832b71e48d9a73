"""The web app: FastAPI over the same Python API as the CLI. See docs/web.md."""

from jikimi.web.app import create_app

__all__ = ["create_app"]
