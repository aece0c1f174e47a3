from emulators.cli import main

raise SystemExit(main())
