local util = require("util")
print(util.shout("quiet"))
