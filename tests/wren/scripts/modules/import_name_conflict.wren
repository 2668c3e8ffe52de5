var A = "mine"
import "./_lib/a" for A // expect error