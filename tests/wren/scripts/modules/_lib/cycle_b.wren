System.print("cycle_b start")
import "./cycle_a"
System.print("cycle_b end")
