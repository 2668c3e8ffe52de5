import "./_lib/broken" // expect runtime error: Could not compile module './tests/wren/scripts/modules/_lib/broken'.
