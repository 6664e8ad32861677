from speechstream.cli import main

raise SystemExit(main())
