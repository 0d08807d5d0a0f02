from dyndiet.cli import main

raise SystemExit(main())
