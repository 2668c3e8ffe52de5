System.print("before") // expect: before
import "./_lib/does_not_exist" // expect runtime error: Could not load module './tests/wren/scripts/modules/_lib/does_not_exist'.
