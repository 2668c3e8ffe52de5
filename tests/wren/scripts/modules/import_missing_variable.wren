import "./_lib/a" for Missing // expect runtime error: Could not find a variable named 'Missing' in module './tests/wren/scripts/modules/_lib/a'.
// expect: a runs
