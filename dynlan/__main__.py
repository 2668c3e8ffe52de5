from __future__ import annotations

from dynlan._cli import main

raise SystemExit(main())
