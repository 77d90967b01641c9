import sys

from ddsp_textures.app.cli import main

sys.exit(main())
