from mpgrade.cli import main

raise SystemExit(main())
