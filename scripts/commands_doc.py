"""Rewrite the table of docs/commands.md from the commands' declarations (``make commands``)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "tests check that this table is current. -->\n"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django_imcallback.commands import table

    doc = ROOT / "docs" / "commands.md"
    head = doc.read_text().partition(MARKER)[0]
    doc.write_text(head + MARKER + table())


if __name__ == "__main__":
    main()
