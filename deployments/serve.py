"""Serve every recvault deployment from this process (no work pool needed); the same as
``recvault serve``:

    PREFECT_API_URL=http://127.0.0.1:4200/api uv run python deployments/serve.py

For a fleet, use deployments/prefect.yaml with a work pool and workers instead.
"""

from __future__ import annotations

from recvault.cli.serve import serve_all

if __name__ == "__main__":
    serve_all()
